// The young-generation setting the agent applies at start (src/agent/heap-tuning.ts) relies on V8
// reading the semi-space growth factor at every scavenge, so setting it at run time (no command
// line flag) keeps the young generation at (one step above) its initial size. Checked in child processes that churn
// through short-lived objects surviving a few scavenges, as the agent's list parsing does.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { youngGenerationFlag } from '../../src/agent/heap-tuning.js';

const exec = promisify(execFile);

/** new space capacity (bytes) at start and after the churn, in a fresh node process. */
async function newSpace(flag: string | undefined): Promise<{ start: number; end: number }> {
  const script = `
    const v8 = require('node:v8');
    ${flag ? `v8.setFlagsFromString(${JSON.stringify(flag)});` : ''}
    const size = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    const start = size();
    let keep = [];
    for (let i = 0; i < 2000000; i++) {
      keep.push({ name: 'node-' + i, cidr: '10.' + (i >> 8 & 255) + '.' + (i & 255) + '.0/24', ip: [i, i + 1] });
      if (keep.length > 20000) keep = [];
    }
    console.log(JSON.stringify({ start, end: size() }));
  `;
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  const r = await exec(process.execPath, ['-e', script], { env });
  return JSON.parse(r.stdout) as { start: number; end: number };
}

describe('heap tuning: the young generation', () => {
  it('grows under allocation by default, and stays within one step of its initial size with the agent\'s run-time flag', async () => {
    const grown = await newSpace(undefined);
    // measured on Node 20: 1 → 32 MB by default, 1 → 2 MB with the flag (one minimal step)
    expect(grown.end, 'control: V8 grows the young generation under this churn').toBeGreaterThanOrEqual(8 * grown.start);
    const fixed = await newSpace(youngGenerationFlag());
    expect(fixed.end).toBeLessThanOrEqual(2 * fixed.start);
  });
});
