// Endpoint GC planning: what goes at once (veth gone), what waits (grace, API not trusted),
// and what never goes (the pod is in the API by IP or by the name the runtime recorded).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot, podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { addNetworkList, type NetworkList } from '../../src/lab/runtime.js';
import { containerId, createHarness, type Harness } from '../cni/harness.js';
import { planEndpointGc, type GcInput, type GcRecord } from '../../src/agent/gc.js';

const GRACE = 1000;
const owned = (ip: string) => ip.startsWith('10.244.1.');

function input(over: Partial<GcInput> = {}): GcInput {
  return {
    endpoints: [],
    links: new Map(),
    api: { ips: new Set(), pods: new Set() },
    records: new Map(),
    owned,
    staleSince: new Map(),
    now: 100_000,
    graceMs: GRACE,
    ...over,
  };
}

const rec = (createdAtMs: number, extra: Partial<GcRecord> = {}): GcRecord => ({
  createdAtMs,
  containerID: 'c1',
  ifname: 'eth0',
  hostVeth: 'pw0123456789a',
  ...extra,
});

describe('planEndpointGc', () => {
  it('keeps an endpoint whose pod the API lists by IP', () => {
    const p = planEndpointGc(input({
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[5, 'pw0123456789a']]),
      api: { ips: new Set(['10.244.1.2']), pods: new Set() },
      records: new Map([['10.244.1.2', rec(0)]]),
    }));
    expect(p).toEqual({ actions: [], waiting: 0 });
  });

  it('keeps an endpoint whose pod is in the API by the recorded name, even before its IP is published', () => {
    const st = new Map<string, number>([['10.244.1.2', 0]]);
    const p = planEndpointGc(input({
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[5, 'pw0123456789a']]),
      api: { ips: new Set(), pods: new Set(['default/web']) },
      records: new Map([['10.244.1.2', rec(0, { pod: 'default/web' })]]),
      staleSince: st,
    }));
    expect(p.actions).toEqual([]);
    expect(st.size).toBe(0);
  });

  it('removes an entry whose veth is gone at once, without releasing the address while the pod exists', () => {
    const p = planEndpointGc(input({
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[6, 'pwother']]),
      api: { ips: new Set(['10.244.1.2']), pods: new Set() },
      records: new Map([['10.244.1.2', rec(0)]]),
    }));
    expect(p.actions).toEqual([{ ip: '10.244.1.2', ifindex: 5, reason: 'veth-gone' }]);
  });

  it('a pod missing from the API waits for the grace period (fresh record, or first seen stale just now)', () => {
    const st = new Map<string, number>();
    const base = {
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[5, 'pw0123456789a']]),
      records: new Map([['10.244.1.2', rec(99_500)]]),
      staleSince: st,
    };
    let p = planEndpointGc(input({ ...base, now: 100_000 }));
    expect(p).toEqual({ actions: [], waiting: 1 });
    expect(st.get('10.244.1.2')).toBe(100_000);
    // record old enough, but stale only for 500 ms
    p = planEndpointGc(input({ ...base, now: 100_500 }));
    expect(p.actions).toEqual([]);
    // stale for the whole grace period and the record is old: collect entry, veth, address
    p = planEndpointGc(input({ ...base, now: 101_000 }));
    expect(p.actions).toEqual([
      { ip: '10.244.1.2', ifindex: 5, reason: 'pod-gone', deleteVeth: 'pw0123456789a', release: { containerID: 'c1', ifname: 'eth0' } },
    ]);
    expect(st.size).toBe(0);
  });

  it('a pod that reappears in the API resets the stale clock', () => {
    const st = new Map<string, number>([['10.244.1.2', 0]]);
    planEndpointGc(input({
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[5, 'x']]),
      api: { ips: new Set(['10.244.1.2']), pods: new Set() },
      staleSince: st,
    }));
    expect(st.has('10.244.1.2')).toBe(false);
  });

  it('does nothing from the API side while the pod cache is not trusted', () => {
    const st = new Map<string, number>([['10.244.1.2', 0]]);
    const p = planEndpointGc(input({
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[5, 'pw0123456789a']]),
      records: new Map([['10.244.1.2', rec(0)]]),
      staleSince: st,
      api: undefined,
    }));
    expect(p).toEqual({ actions: [], waiting: 0 });
  });

  it('leaves IPs outside our podCIDR to their owner (unless the veth is gone)', () => {
    const p = planEndpointGc(input({
      endpoints: [{ ip: '10.99.0.2', ifindex: 5 }, { ip: '10.99.0.3', ifindex: 7 }],
      links: new Map([[5, 'a']]),
      staleSince: new Map([['10.99.0.2', 0]]),
    }));
    expect(p.actions).toEqual([{ ip: '10.99.0.3', ifindex: 7, reason: 'veth-gone' }]);
  });

  it('an endpoint without an IPAM record is collected after being stale for the grace period; a veth that is not its own is left', () => {
    const st = new Map<string, number>([['10.244.1.9', 98_000]]);
    const p = planEndpointGc(input({ endpoints: [{ ip: '10.244.1.9', ifindex: 5 }], links: new Map([[5, 'eth7']]), staleSince: st }));
    expect(p.actions).toEqual([{ ip: '10.244.1.9', ifindex: 5, reason: 'pod-gone' }]);
  });

  it('forgets stale clocks of IPs that left the map', () => {
    const st = new Map<string, number>([['10.244.1.50', 0]]);
    planEndpointGc(input({ staleSince: st }));
    expect(st.size).toBe(0);
  });
});

// On the kernel: a pod wired through podwire + portmap by a runtime that keeps libcni's cache,
// then removed behind the runtime's back. The agent's GC pass must run portmap's DEL from the
// cache before it releases the address, so no DNAT rule is left pointing at a free address.
describe('GC of a pod removed behind the runtime: the chained plugins\' DEL', () => {
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    h = await createHarness({ podCIDR: '10.203.0.0/24' });
    dir = await mkdtemp(join(tmpdir(), 'pwgc-'));
    await mkdir(join(dir, 'bin'));
    await symlink(podwireBin(), join(dir, 'bin', 'podwire'));
    if (!existsSync('/usr/lib/cni/portmap')) throw new Error('/usr/lib/cni/portmap is missing: run `npm run prereqs`');
    await symlink('/usr/lib/cni/portmap', join(dir, 'bin', 'portmap'));
  });
  afterAll(async () => {
    await h?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function gcPass(): Promise<Array<Record<string, unknown>>> {
    const root = packageRoot();
    const r = await run('nsenter', [`--net=${h.node.path}`, '--', join(root, 'node_modules/.bin/vite-node'), join(root, 'test/agent/gc-collect-main.ts'), h.pinDir, h.stateDir, h.podCIDR, join(dir, 'cache'), join(dir, 'bin')], { timeoutMs: 120_000 });
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Array<Record<string, unknown>>;
  }

  const nat = async (): Promise<string> => (await h.node.exec('iptables-save', ['-t', 'nat'])).stdout;

  it('portmap\'s DNAT rule is gone after GC, and only then the address is free', async () => {
    const pod = await h.pod();
    const id = containerId();
    const list: NetworkList = {
      cniVersion: '1.0.0',
      name: 'podwire-gc',
      plugins: [
        { type: 'podwire', podCIDR: h.podCIDR, pinDir: h.pinDir, stateDir: h.stateDir },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    };
    const result = await addNetworkList(list, {
      containerId: id,
      netns: pod.path,
      ifname: 'eth0',
      args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=gone',
      pluginDirs: [join(dir, 'bin')],
      nodeNetns: h.node.path,
      capabilityArgs: { portMappings: [{ hostPort: 18081, containerPort: 80, protocol: 'tcp' }] },
      cacheDir: join(dir, 'cache'),
    });
    const ip = (result['ips'] as Array<{ address: string }>)[0]!.address.replace('/32', '');
    const cacheFile = join(dir, 'cache', 'results', `podwire-gc-${id}-eth0`);
    expect(existsSync(cacheFile)).toBe(true);
    expect(await nat()).toContain(`${ip}:80`);
    expect(h.records()).toEqual([ip]);

    // the runtime never sends DEL: the agent's GC pass collects the pod
    const outcomes = await gcPass();
    expect(h.records()).toEqual([]);
    expect(await nat()).not.toContain(`${ip}:80`);
    expect(await nat()).not.toContain('18081');
    expect(outcomes).toEqual([{ ip, collected: true, chain: 'deleted', plugins: ['portmap'] }]);
    expect(h.endpoints()).toEqual([]);
    expect(await h.hostVeths()).toEqual([]);
    expect(h.linkPins()).toEqual([]);
    expect(existsSync(cacheFile)).toBe(false);
  });

  it('a chained DEL that fails keeps the endpoint and the address (retried later), nothing half-done', async () => {
    const pod = await h.pod();
    const id = containerId();
    const add = await h.cni('ADD', { containerId: id, netns: pod.path, cniVersion: '1.0.0' });
    expect(add.exitCode, add.stdout).toBe(0);
    const ip = ((add.json!['ips'] as Array<{ address: string }>)[0]!.address).replace('/32', '');
    // a cache naming a chained plugin that is not installed
    const list = { cniVersion: '1.0.0', name: 'podwire-gc', plugins: [{ type: 'podwire' }, { type: 'not-installed' }] };
    await mkdir(join(dir, 'cache', 'results'), { recursive: true });
    const entry = { kind: 'cniCacheV1', containerId: id, config: Buffer.from(JSON.stringify(list)).toString('base64'), ifName: 'eth0', networkName: 'podwire-gc', netns: pod.path, cniArgs: [], result: add.json };
    const cacheFile = join(dir, 'cache', 'results', `podwire-gc-${id}-eth0`);
    await writeFile(cacheFile, JSON.stringify(entry));

    const outcomes = await gcPass();
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ ip, collected: false, why: 'chain-del-failed', error: expect.stringMatching(/not-installed/) });
    expect(h.records()).toEqual([ip]);
    expect(h.endpoints().map((e) => e.ip)).toEqual([ip]);
    expect(existsSync(cacheFile)).toBe(true);

    await rm(cacheFile);
    expect((await h.cni('DEL', { containerId: id, netns: pod.path, cniVersion: '1.0.0' })).exitCode).toBe(0);
    expect(h.records()).toEqual([]);
  });
});
