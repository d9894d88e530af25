// Typed map access through the bpf package on real pinned maps: codecs, batch, counters,
// and the errors a caller sees when the datapath is missing or its layout changed.
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPodwireError, type PodwireError } from '../../src/errors/index.js';
import { run, runJson } from '../../src/exec/run.js';
import { loadDatapath, pinPaths, unloadDatapath } from '../../src/loader/index.js';
import { layouts, openCounters, openEndpoints, possibleCpus, reasonNames, type Endpoint } from '../../src/maps/index.js';

const tag = randomBytes(4).toString('hex');
const pinDir = `/sys/fs/bpf/pwtest-${tag}`;
const fakeDir = `/sys/fs/bpf/pwtest-${tag}-fake`;

function caught(fn: () => unknown): PodwireError {
  try {
    fn();
  } catch (e) {
    if (isPodwireError(e)) return e;
    throw e;
  }
  throw new Error('expected a PodwireError');
}

const ep = (i: number): Endpoint => ({
  ip: `10.244.${i >> 8}.${i & 0xff}`,
  ifindex: 1000 + i,
  podMac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
  hostMac: 'ee:ff:ff:ff:ff:ff',
  flags: i % 3,
  endpointId: 0xfffffff0 + (i % 16),
});

beforeAll(async () => {
  await loadDatapath({ pinDir });
});

afterAll(async () => {
  await unloadDatapath({ pinDir });
  await rm(fakeDir, { recursive: true, force: true });
});

describe('endpoints map', () => {
  it('set/get/delete round-trip every field', () => {
    const m = openEndpoints(pinDir);
    try {
      const e = ep(7);
      expect(m.get(e.ip)).toBeUndefined();
      m.set(e);
      expect(m.get(e.ip)).toEqual(e);
      expect(m.delete(e.ip)).toBe(true);
      expect(m.delete(e.ip)).toBe(false);
      expect(m.get(e.ip)).toBeUndefined();
    } finally {
      m.close();
    }
  });

  it('setBatch writes many entries in one call and list() returns them all', () => {
    const m = openEndpoints(pinDir);
    try {
      const eps = Array.from({ length: 300 }, (_, i) => ep(i + 1));
      m.setBatch(eps);
      const listed = m.list();
      expect(listed).toHaveLength(300);
      expect(new Map(listed.map((e) => [e.ip, e]))).toEqual(new Map(eps.map((e) => [e.ip, e])));
      for (const e of eps) m.delete(e.ip);
      expect(m.list()).toEqual([]);
    } finally {
      m.close();
    }
  });

  it('is readable by the kernel side with the C layout (bpftool sees the same bytes)', async () => {
    const m = openEndpoints(pinDir);
    try {
      m.set({ ip: '10.1.2.3', ifindex: 0x01020304, podMac: '02:11:22:33:44:55', hostMac: 'ee:66:77:88:99:aa', flags: 0, endpointId: 9 });
    } finally {
      m.close();
    }
    const dump = await runJson<Array<{ key: string[]; value: string[] }>>('bpftool', ['-j', 'map', 'dump', 'pinned', pinPaths(pinDir).maps.endpoints]);
    const hex = (a: string[]) => a.map((b) => b.replace(/^0x/, '')).join('');
    expect(dump).toHaveLength(1);
    expect(hex(dump[0]!.key)).toBe('0a010203' + '00'.repeat(12) + '02' + '000000');
    expect(hex(dump[0]!.value)).toBe('04030201' + '021122334455' + 'ee66778899aa' + '00000000' + '09000000');
  });

  it('rejects malformed addresses', () => {
    const m = openEndpoints(pinDir);
    try {
      expect(caught(() => m.get('10.0.0.256')).code).toBe('CONFIG_INVALID');
      expect(caught(() => m.set({ ...ep(1), podMac: '02:00:00:00:00' })).code).toBe('CONFIG_INVALID');
    } finally {
      m.close();
    }
  });
});

describe('counters map', () => {
  it('exposes reason names from the C enum and reads nothing on a fresh datapath', () => {
    const c = openCounters(pinDir);
    try {
      expect(c.reasonNames).toBe(reasonNames);
      expect(reasonNames[layouts.enums.pw_reason.values.FWD_LOCAL_PEER]).toBe('FWD_LOCAL_PEER');
      expect(reasonNames).toContain('DROP_SPOOFED_SRC_MAC');
      expect(c.read()).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('sums per-CPU values', async () => {
    // write a per-CPU value with bpftool: reason DROP_MALFORMED, direction EGRESS, 1 pkt/100 B per CPU
    const idx = layouts.enums.pw_reason.values.DROP_MALFORMED * layouts.enums.pw_direction.values.MAX;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(idx);
    const value = Buffer.alloc(16);
    value.writeBigUInt64LE(1n, 0);
    value.writeBigUInt64LE(100n, 8);
    const bytes = (b: Buffer) => [...b].map(String);
    await run('bpftool', ['map', 'update', 'pinned', pinPaths(pinDir).maps.counters, 'key', ...bytes(key), 'value', ...bytes(value)]);
    const c = openCounters(pinDir);
    try {
      const n = BigInt(possibleCpus());
      expect(c.read()).toEqual([{ reason: 'DROP_MALFORMED', direction: 'EGRESS', packets: n, bytes: 100n * n }]);
    } finally {
      c.close();
    }
  });
});

describe('errors', () => {
  it('a missing pin says the datapath is not loaded and how to load it', () => {
    const e = caught(() => openEndpoints('/sys/fs/bpf/pwtest-nonexistent'));
    expect(e.code).toBe('DATAPATH_NOT_LOADED');
    expect(e.message).toBe('no podwire datapath at /sys/fs/bpf/pwtest-nonexistent: run `podwire datapath load --pin-dir /sys/fs/bpf/pwtest-nonexistent`');
  });

  it('a pinned map with another layout is a MAP_LAYOUT_MISMATCH telling to reload', async () => {
    const { mapsDir, maps } = pinPaths(fakeDir);
    await mkdir(mapsDir, { recursive: true });
    // an "old build" endpoints map: same name, value 4 bytes larger
    const want = layouts.maps.endpoints;
    await run('bpftool', ['map', 'create', maps.endpoints, 'type', 'hash', 'key', String(want.keySize), 'value', String(want.valueSize + 4), 'entries', '16', 'name', 'endpoints']);
    await run('bpftool', ['map', 'create', maps.counters, 'type', 'array', 'key', '4', 'value', '16', 'entries', '4', 'name', 'counters']);
    const e = caught(() => openEndpoints(fakeDir));
    expect(e.code).toBe('MAP_LAYOUT_MISMATCH');
    expect(e.message).toMatch(/value 28 B/);
    expect(e.message).toMatch(/reload the datapath/);
    // a wrong map type is a mismatch too (array instead of percpu_array)
    expect(caught(() => openCounters(fakeDir)).code).toBe('MAP_LAYOUT_MISMATCH');
  });
});
