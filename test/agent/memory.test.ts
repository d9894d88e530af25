// PODWIRE_DEBUG_MEMORY's probe: off unless asked; a mark logs the split of this very process.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/agent/log.js';
import { memoryProbe, memorySplit } from '../../src/agent/memory.js';

describe('memory probe', () => {
  it('splits RSS into V8 heap (used / committed), external and native rest', () => {
    const hold = new Uint8Array(32 * 1024 * 1024).fill(1); // 32 MB outside the V8 heap
    const s = memorySplit() as { rssMB: number; hwmMB: number; heapUsedMB: number; heapCommittedMB: number; externalMB: number; arrayBuffersMB: number; nativeRestMB: number; spacesUsedOfCommittedMB: Record<string, string> };
    expect(hold[hold.length - 1]).toBe(1);
    expect(s.rssMB).toBeGreaterThan(s.heapCommittedMB);
    expect(s.hwmMB).toBeGreaterThanOrEqual(s.rssMB);
    expect(s.heapCommittedMB).toBeGreaterThanOrEqual(s.heapUsedMB);
    expect(s.arrayBuffersMB).toBeGreaterThanOrEqual(32);
    expect(s.nativeRestMB).toBeCloseTo(s.rssMB - s.heapCommittedMB - s.externalMB, 0);
    expect(Object.keys(s.spacesUsedOfCommittedMB)).toEqual(expect.arrayContaining(['old', 'new', 'large_object', 'code']));
  });

  it('logs nothing without PODWIRE_DEBUG_MEMORY, and a line per mark with it', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    memoryProbe(log, {}).mark('ready');
    expect(lines).toEqual([]);
    const p = memoryProbe(log, { PODWIRE_DEBUG_MEMORY: '60000' });
    p.mark('ready');
    p.stop();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'memory', moment: 'ready', rssMB: expect.any(Number) });
  });
});
