// The layout record (PINDIR/layout) and what it is for: every load writes it; a loader that meets
// maps pinned by a NEWER podwire (record generation above its own) whose layout it cannot use
// stops with DATAPATH_NEWER naming the map, both layouts and what to do, and changes nothing; a
// newer podwire's maps it can use are loaded over and reported. The newer podwire is faked: a
// record with a higher generation and an endpoints map of another layout, pinned by hand.
// And the guard that keeps LAYOUT_GENERATION honest: the layouts of this build hash to the value
// recorded for the current generation; a layout change without a bump fails here.
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { isPodwireError, type PodwireError } from '../../src/errors/index.js';
import { run, runJson } from '../../src/exec/run.js';
import { LAYOUT_GENERATION, layoutRecordPin, loadDatapath, pinPaths, readLayoutRecord, unloadDatapath, writeLayoutRecord, type LayoutRecord } from '../../src/loader/index.js';
import { maps as generatedMaps, structs } from '../../src/maps/generated/layouts.js';
import { openEndpoints } from '../../src/maps/index.js';

/** generation → sha256 of this build's map layouts (maps + their key/value structs). */
const KNOWN_LAYOUTS: Record<number, string> = {
  1: 'b4c8249ed34a7fa3a4bcbc70efc2d345cb184014867e19f2850cbc6bfc67a141',
  // NetworkPolicy (pol_*, svc_addrs, ct entry revision), monitor, XDP prefilter and bandwidth (bw) maps
  2: '929e4882a4ebc948590a9ba8a24042547cd62e1843b6a3b478f5964bd9a770d4',
  // ct_cache (per-CPU copies of FLOW entries and the coarse clock: issue 10 policy CT-hit cost) and
  // nh_cache (next hops toward other nodes, filled by the datapath: lib/forward.h)
  3: '58abe95f761e84174ad5e70a87f8fc0bfbab8c9bcc2e7a718beeeb0ffc9703eb',
};

function layoutHash(): string {
  const used = new Set(Object.values(generatedMaps).flatMap((m) => [m.key, m.value]));
  const s = structs as Record<string, unknown>;
  const view = { maps: generatedMaps, structs: Object.fromEntries([...used].sort().filter((t) => s[t]).map((t) => [t, s[t]])) };
  return createHash('sha256').update(JSON.stringify(view)).digest('hex');
}

const base = `/sys/fs/bpf/pwrec-hardening-${randomBytes(3).toString('hex')}`;
const dirs: string[] = [];
const dir = (n: string) => {
  const d = `${base}-${n}`;
  dirs.push(d);
  return d;
};

afterAll(async () => {
  for (const d of dirs) await unloadDatapath({ pinDir: d }).catch(() => rm(d, { recursive: true, force: true }));
});

async function caught(p: Promise<unknown>): Promise<PodwireError> {
  try {
    await p;
  } catch (e) {
    if (isPodwireError(e)) return e;
    throw e;
  }
  throw new Error('expected a PodwireError');
}

const progIds = async (d: string) => {
  const out: Record<string, number> = {};
  for (const [k, p] of Object.entries(pinPaths(d).progs)) out[k] = (await runJson<{ id: number }>('bpftool', ['-j', 'prog', 'show', 'pinned', p])).id;
  return out;
};
const mapId = async (p: string) => (await runJson<{ id: number }>('bpftool', ['-j', 'map', 'show', 'pinned', p])).id;

describe('layout record', () => {
  it(`LAYOUT_GENERATION (${LAYOUT_GENERATION}) names this build's map layouts: change a layout → bump it and record the new hash`, () => {
    expect({ generation: LAYOUT_GENERATION, hash: layoutHash() }).toEqual({ generation: LAYOUT_GENERATION, hash: KNOWN_LAYOUTS[LAYOUT_GENERATION] });
  });

  it('every load pins a record of the generation, the writer and every map with its BTF fields', async () => {
    const d = dir('w');
    await loadDatapath({ pinDir: d });
    const r = readLayoutRecord(d)!;
    expect(r.generation).toBe(LAYOUT_GENERATION);
    expect(r.writer).toMatch(/^podwire \d+\.\d+\.\d+/);
    expect(Object.keys(r.maps).sort()).toEqual(Object.keys(generatedMaps).sort());
    expect(r.maps['endpoints']!.valueFields!.map((f) => f.name)).toEqual(Object.keys(structs.pw_endpoint.fields));
    expect(r.maps['endpoints']!.valueSize).toBe(generatedMaps.endpoints.valueSize);
  });

  it('a newer podwire\'s endpoints map of another layout: DATAPATH_NEWER naming the map, both layouts and what to do; nothing changed', async () => {
    const d = dir('n');
    await loadDatapath({ pinDir: d });
    // the "newer release": endpoints grew a field (value 28 bytes), and its record says so
    const mine = readLayoutRecord(d)!;
    const newer: LayoutRecord = structuredClone(mine);
    newer.generation = LAYOUT_GENERATION + 1;
    newer.writer = 'podwire 9.9.9';
    newer.maps['endpoints'] = { ...newer.maps['endpoints']!, valueSize: 28, valueFields: [...newer.maps['endpoints']!.valueFields!, { name: 'policy_id', offset: 24, size: 4 }] };
    const ep = pinPaths(d).maps.endpoints;
    await rm(ep);
    await run('bpftool', ['map', 'create', ep, 'type', 'hash', 'key', '20', 'value', '28', 'entries', '65536', 'name', 'endpoints']);
    await writeLayoutRecord(d, newer);
    const before = { progs: await progIds(d), endpoints: await mapId(ep), ct: await mapId(pinPaths(d).maps.endpoints.replace('endpoints', 'ct')) };

    const e = await caught(loadDatapath({ pinDir: d }));
    expect(e.code).toBe('DATAPATH_NEWER');
    expect(e.message).toContain(`pinned at ${d} was loaded by a newer podwire (podwire 9.9.9, layout generation ${LAYOUT_GENERATION + 1}; this is generation ${LAYOUT_GENERATION})`);
    expect(e.message).toContain("map 'endpoints' (value size 28 != 24)");
    expect(e.message).toContain('policy_id@24'); // the newer layout, from its record
    expect(e.message).toContain('endpoint_id@20'); // this build's
    expect(e.message).toContain(`podwire datapath unload --pin-dir ${d}`);
    expect(e.message).toContain('Nothing was changed');
    expect({ progs: await progIds(d), endpoints: await mapId(ep), ct: await mapId(pinPaths(d).maps.endpoints.replace('endpoints', 'ct')) }).toEqual(before);
    expect(readLayoutRecord(d)!.generation).toBe(LAYOUT_GENERATION + 1);
  });

  it('a newer podwire whose maps this build can use (it only added one): loads, keeps the entries, reports the downgrade', async () => {
    const d = dir('c');
    await loadDatapath({ pinDir: d });
    const eps = openEndpoints(d);
    const ep = { ip: '10.244.0.9', ifindex: 7, podMac: '02:00:00:00:00:09', hostMac: '02:00:00:00:00:0a', flags: 0, endpointId: 9 };
    eps.set(ep);
    eps.close();
    const newer: LayoutRecord = structuredClone(readLayoutRecord(d)!);
    newer.generation = LAYOUT_GENERATION + 1;
    newer.writer = 'podwire 9.9.9';
    newer.maps['policy'] = { type: 'hash', keySize: 8, valueSize: 4, maxEntries: 1024, key: 'pw_policy_key', value: 'u32' };
    await run('bpftool', ['map', 'create', `${pinPaths(d).mapsDir}/policy`, 'type', 'hash', 'key', '8', 'value', '4', 'entries', '1024', 'name', 'policy']);
    await writeLayoutRecord(d, newer);
    const r = await loadDatapath({ pinDir: d });
    expect(r.overNewer).toEqual({ generation: LAYOUT_GENERATION + 1, writer: 'podwire 9.9.9' });
    expect(r.migrated).toEqual([]);
    const again = openEndpoints(d);
    expect(again.get(ep.ip)).toMatchObject({ ifindex: 7, endpointId: 9 });
    again.close();
    expect(readLayoutRecord(d)!.generation).toBe(LAYOUT_GENERATION); // the programs are this build's now
  });

  it('an unreadable record stops the load with a message naming it', async () => {
    const d = dir('u');
    await loadDatapath({ pinDir: d });
    await rm(layoutRecordPin(d));
    await run('bpftool', ['map', 'create', layoutRecordPin(d), 'type', 'array', 'key', '4', 'value', '64', 'entries', '1', 'name', 'pw_layout']);
    const e = await caught(loadDatapath({ pinDir: d }));
    expect(e.code).toBe('MAP_LAYOUT_MISMATCH');
    expect(e.message).toContain(`the layout record ${layoutRecordPin(d)} is unreadable`);
  });
});
