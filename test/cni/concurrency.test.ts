// 50 ADDs at once (as a runtime starting a node's pods) get 50 distinct addresses from the
// lock-free store; 50 DELs at once leave the store, the node and the endpoints map empty.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerId, createHarness, type Harness } from './harness.js';
import type { Netns } from '../../src/netns/index.js';

const N = 50;
let h: Harness;
let pods: Netns[] = [];

beforeAll(async () => {
  h = await createHarness({ podCIDR: '10.203.0.0/24' });
  pods = [];
  for (let i = 0; i < N; i += 10) pods.push(...(await Promise.all(Array.from({ length: Math.min(10, N - i) }, () => h.pod()))));
}, 120_000);

afterAll(async () => {
  await h?.destroy();
});

describe(`${N} concurrent ADDs and DELs`, () => {
  it('distinct addresses, then an empty store', async () => {
    const ids = pods.map(() => containerId());
    const t0 = Date.now();
    const adds = await Promise.all(pods.map((p, i) => h.cni('ADD', { containerId: ids[i], netns: p.path })));
    const addMs = Date.now() - t0;
    for (const a of adds) expect(a.exitCode, a.stdout + a.stderr).toBe(0);
    const ips = adds.map((a) => (a.json!['ips'] as Array<{ address: string }>)[0]!.address);
    expect(new Set(ips).size).toBe(N);
    expect(h.records()).toHaveLength(N);
    expect(h.endpoints()).toHaveLength(N);
    expect(await h.hostVeths()).toHaveLength(N);
    // endpoint ids are unique too (they are the address's offset in podCIDR)
    expect(new Set(h.endpoints().map((e) => e.endpointId)).size).toBe(N);

    const t1 = Date.now();
    const dels = await Promise.all(pods.map((p, i) => h.cni('DEL', { containerId: ids[i], netns: p.path })));
    const delMs = Date.now() - t1;
    for (const d of dels) expect(d.exitCode, d.stdout + d.stderr).toBe(0);
    expect(h.records()).toEqual([]);
    expect(readdirSync(join(h.stateDir, 'ipam', 'attachments'))).toEqual([]);
    expect(readdirSync(join(h.stateDir, 'ipam', 'tmp'))).toEqual([]);
    expect(h.endpoints()).toEqual([]);
    expect(await h.hostVeths()).toEqual([]);
    expect(await h.nodeRoutes()).toEqual([]);
    // bounded: a wave takes ~3 s on two idle cores; the margin covers a loaded CI machine
    expect(addMs).toBeLessThan(60_000);
    expect(delMs).toBeLessThan(60_000);
  }, 150_000);
});
