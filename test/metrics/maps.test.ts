// Map-read families on a real pinned datapath, in this process: the endpoints map's fill level
// follows its entries exactly (a datapath loaded with a small endpoints capacity so the map can
// be filled to the brim), every family has HELP and TYPE, and the counters do not fall.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { openEndpoints, openRoutes, type Endpoint } from '../../src/maps/index.js';
import { scrape, watchDatapath } from '../../src/metrics/index.js';
import { parseExposition, sample } from './parse.js';

const pinDir = `/sys/fs/bpf/pwmet-${randomBytes(4).toString('hex')}`;
const CAPACITY = 1024;

function ep(i: number): Endpoint {
  return { ip: `10.77.${i >> 8}.${i & 255}`, ifindex: 100 + i, podMac: '02:00:00:00:00:01', hostMac: '02:00:00:00:00:02', flags: 0, endpointId: i + 1 };
}

async function families() {
  return parseExposition((await scrape()).body);
}

beforeAll(async () => {
  await loadDatapath({ pinDir, defines: { PW_ENDPOINTS_MAX: CAPACITY } });
  watchDatapath(pinDir);
}, 120_000);

afterAll(async () => {
  await unloadDatapath({ pinDir });
});

describe('map families read at scrape time', () => {
  it('every pinned map has a capacity; hash and LPM maps an entry count and a pressure', async () => {
    const f = await families();
    expect(sample(f, 'podwire_bpf_map_capacity', { map: 'endpoints' })).toBe(CAPACITY);
    expect(sample(f, 'podwire_bpf_map_capacity', { map: 'counters' })).toBeGreaterThan(0);
    const withPressure = f.find((x) => x.name === 'podwire_bpf_map_pressure')!.samples.map((s) => s.labels['map']).sort();
    expect(withPressure).toEqual(expect.arrayContaining(['endpoints', 'routes']));
    // arrays are full by construction: no pressure for them
    expect(withPressure).not.toContain('counters');
    expect(withPressure).not.toContain('node_cfg');
    expect(sample(f, 'podwire_endpoints')).toBe(0);
    expect(sample(f, 'podwire_bpf_map_pressure', { map: 'endpoints' })).toBe(0);
  });

  it('pressure follows the endpoints map filling up: 0 → ½ → full → ¼ after deletes', async () => {
    const eps = openEndpoints(pinDir);
    try {
      const all = Array.from({ length: CAPACITY }, (_, i) => ep(i));
      eps.setBatch(all.slice(0, CAPACITY / 2));
      let f = await families();
      expect(sample(f, 'podwire_bpf_map_entries', { map: 'endpoints' })).toBe(CAPACITY / 2);
      expect(sample(f, 'podwire_bpf_map_pressure', { map: 'endpoints' })).toBe(0.5);
      expect(sample(f, 'podwire_endpoints')).toBe(CAPACITY / 2);

      eps.setBatch(all.slice(CAPACITY / 2));
      f = await families();
      expect(sample(f, 'podwire_bpf_map_pressure', { map: 'endpoints' })).toBe(1);
      // the map really is full: the kernel refuses one more
      expect(() => eps.set(ep(CAPACITY))).toThrow();

      for (const e of all.slice(CAPACITY / 4)) eps.delete(e.ip);
      f = await families();
      expect(sample(f, 'podwire_bpf_map_pressure', { map: 'endpoints' })).toBe(0.25);
      expect(sample(f, 'podwire_endpoints')).toBe(CAPACITY / 4);
    } finally {
      eps.close();
    }
  });

  it('the LPM routes map (no batch ops in the kernel) is counted key by key', async () => {
    const routes = openRoutes(pinDir);
    try {
      routes.setBatch([
        { cidr: '10.1.0.0/24', nodeIp: '172.30.0.2', kind: 'local' },
        { cidr: '10.1.1.0/24', nodeIp: '172.30.0.3', kind: 'remote' },
        { cidr: '10.1.2.0/24', nodeIp: '172.30.0.4', kind: 'remote' },
      ]);
      const f = await families();
      expect(sample(f, 'podwire_bpf_map_entries', { map: 'routes' })).toBe(3);
      expect(sample(f, 'podwire_bpf_map_pressure', { map: 'routes' })).toBe(3 / sample(f, 'podwire_bpf_map_capacity', { map: 'routes' }));
      routes.deleteBatch(['10.1.1.0/24']);
      expect(sample(await families(), 'podwire_bpf_map_entries', { map: 'routes' })).toBe(2);
    } finally {
      routes.close();
    }
  });

  it('every family carries HELP and TYPE; the datapath counters exist for every named reason from the start', async () => {
    const { body } = await scrape();
    const f = parseExposition(body);
    for (const fam of f) {
      expect(fam.type, fam.name).not.toBe('unknown');
      expect(fam.help, fam.name).not.toBe('');
    }
    // and literally in the text: one HELP and one TYPE line per family
    const helps = body.split('\n').filter((l) => l.startsWith('# HELP ')).length;
    const types = body.split('\n').filter((l) => l.startsWith('# TYPE ')).length;
    expect(helps).toBe(f.length);
    expect(types).toBe(f.length);
    const spoof = sample(f, 'podwire_datapath_packets_total', { reason: 'DROP_SPOOFED_SRC_IP', direction: 'EGRESS' });
    expect(spoof).toBe(0);
    expect(f.find((x) => x.name === 'podwire_datapath_packets')!.samples.find((s) => s.labels['reason'] === 'FWD_LOCAL_PEER')!.labels['verdict']).toBe('forward');
  });
});
