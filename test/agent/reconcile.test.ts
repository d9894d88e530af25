// The reconcile loop against an in-memory dataplane: no Kubernetes, no kernel. What matters:
// nothing is applied before the Node cache has listed, a relist of an unchanged cluster writes
// nothing, changes are applied as a diff, and the pod cache must be healthy for GC.
import { describe, expect, it } from 'vitest';
import type { Dataplane } from '../../src/agent/dataplane.js';
import type { GcEndpoint, GcRecord } from '../../src/agent/gc.js';
import { createLogger } from '../../src/agent/log.js';
import { Reconciler, type Source } from '../../src/agent/reconcile.js';
import type { Route } from '../../src/agent/routes.js';
import type { NodeFacts, PodFacts } from '../../src/kube/objects.js';

class FakeSource<T> implements Source<T> {
  items: T[] = [];
  synced = false;
  healthy = false;
  lists = 0;
  list() {
    this.lists++;
    return this.items;
  }
}

/** A source that tells its content version (as the agent's NodeStore does). */
class VersionedSource<T> extends FakeSource<T> {
  v = 1;
  version() {
    return this.v;
  }
}

class FakeDataplane implements Dataplane {
  routes = new Map<string, Route>();
  writes: { upserts: number; removes: number }[] = [];
  reads = 0;
  kernel: { cidr: string; nodeIp: string }[][] = [];
  endpoints = new Map<string, GcEndpoint>();
  linkMap = new Map<number, string>();
  records = new Map<string, GcRecord>();
  deletedVeths: string[] = [];
  released: string[] = [];
  async setupNode() {
    return { nodeIp: '172.30.0.11', uplinkIfindex: 2, podMtu: 1500 };
  }
  async egressPolicy() {
    return { change: 'unchanged' as const, device: 'eth0' };
  }
  listRoutes() {
    this.reads++;
    return [...this.routes.values()];
  }
  applyRoutes(upserts: readonly Route[], removes: readonly string[]) {
    this.writes.push({ upserts: upserts.length, removes: removes.length });
    for (const r of upserts) this.routes.set(r.cidr, r);
    for (const c of removes) this.routes.delete(c);
  }
  async syncKernelRoutes(remote: readonly { cidr: string; nodeIp: string }[]) {
    this.kernel.push([...remote]);
    return remote.length;
  }
  listEndpoints() {
    return [...this.endpoints.values()];
  }
  deleteEndpointIf(ip: string, ifindex: number) {
    if (this.endpoints.get(ip)?.ifindex !== ifindex) return false;
    return this.endpoints.delete(ip);
  }
  async links() {
    return new Map(this.linkMap);
  }
  ipamRecords() {
    return new Map(this.records);
  }
  async deleteVeth(name: string) {
    this.deletedVeths.push(name);
  }
  release(ip: string) {
    this.released.push(ip);
    this.records.delete(ip);
  }
  close() {}
}

function setup(now = { t: 1_000_000 }, extra: { resyncMs?: number } = {}) {
  const nodes = new FakeSource<NodeFacts>();
  const pods = new FakeSource<PodFacts>();
  const dp = new FakeDataplane();
  const ready: string[] = [];
  const lines: string[] = [];
  const r = new Reconciler({
    nodeName: 'a',
    nodes,
    pods,
    dataplane: dp,
    log: createLogger({ write: (l) => lines.push(l) }),
    gcGraceMs: 1000,
    onReady: async (c) => {
      ready.push(c);
    },
    now: () => now.t,
    ...extra,
  });
  return { nodes, pods, dp, ready, r, lines, now };
}

const A: NodeFacts = { name: 'a', podCIDRs: ['10.244.0.0/24'], internalIp: '172.30.0.11' };
const B: NodeFacts = { name: 'b', podCIDRs: ['10.244.1.0/24'], internalIp: '172.30.0.12' };
const C: NodeFacts = { name: 'c', podCIDRs: ['10.244.2.0/24'], internalIp: '172.30.0.13' };

describe('Reconciler', () => {
  it('does nothing to the maps before the Node cache has listed (an unsynced cache is not "no nodes")', async () => {
    const { dp, r, ready } = setup();
    dp.routes.set('10.244.9.0/24', { cidr: '10.244.9.0/24', nodeIp: '1.2.3.4', kind: 'remote' });
    await r.runNow();
    expect(dp.writes).toEqual([]);
    expect(dp.routes.size).toBe(1);
    expect(ready).toEqual([]);
    expect(r.stats.firstSyncDone).toBe(false);
  });

  it('applies the diff, calls ready once both caches listed, and a relist of the same cluster writes nothing', async () => {
    const { nodes, pods, dp, r, ready, lines } = setup();
    nodes.items = [A, B];
    nodes.synced = nodes.healthy = true;
    await r.runNow();
    expect([...dp.routes.values()]).toEqual([
      { cidr: '10.244.0.0/24', nodeIp: '172.30.0.11', kind: 'local' },
      { cidr: '10.244.1.0/24', nodeIp: '172.30.0.12', kind: 'remote' },
    ]);
    expect(dp.kernel).toEqual([[{ cidr: '10.244.1.0/24', nodeIp: '172.30.0.12' }]]);
    expect(ready).toEqual([]); // pods not listed yet
    pods.synced = pods.healthy = true;
    await r.runNow();
    expect(ready).toEqual(['10.244.0.0/24']);
    expect(r.stats.firstSyncDone).toBe(true);

    const writes = dp.writes.length;
    nodes.items = [{ ...B }, { ...A }]; // a relist: new objects, same content
    await r.runNow();
    expect(dp.writes.length).toBe(writes);
    expect(dp.kernel).toHaveLength(1); // remote set unchanged: no kernel route sync
    const last = JSON.parse(lines.at(-1)!);
    expect(last).toMatchObject({ msg: 'reconciled', routesAdded: 0, routesUpdated: 0, routesRemoved: 0, routes: 2 });
    expect(typeof last.durationMs).toBe('number');
  });

  it('readiness does not wait for the kernel route sync; syncs run one at a time and a queued set is replaced by a newer one', async () => {
    const { nodes, pods, dp, r, ready, lines } = setup();
    // a kernel that takes its time (65k routes): every sync waits until the test releases it
    const releases: Array<() => void> = [];
    dp.syncKernelRoutes = async (remote) => {
      dp.kernel.push([...remote]);
      await new Promise<void>((res) => releases.push(res));
      return remote.length;
    };
    nodes.items = [A, B];
    nodes.synced = nodes.healthy = pods.synced = pods.healthy = true;
    await r.runNow();
    expect(ready).toEqual(['10.244.0.0/24']); // ready while the first sync is still in the kernel
    expect(r.stats.firstSyncDone).toBe(true);
    expect(dp.kernel).toHaveLength(1);
    // two changes while the first sync runs: neither starts a second sync, the newest is queued
    nodes.items = [A, B, C];
    await r.runNow();
    nodes.items = [A, C];
    await r.runNow();
    expect(dp.kernel).toHaveLength(1);
    expect([...dp.routes.keys()].sort()).toEqual(['10.244.0.0/24', '10.244.2.0/24']); // the maps never wait
    releases.shift()!();
    await new Promise((res) => setTimeout(res, 10));
    expect(dp.kernel).toEqual([[{ cidr: '10.244.1.0/24', nodeIp: '172.30.0.12' }], [{ cidr: '10.244.2.0/24', nodeIp: '172.30.0.13' }]]);
    releases.shift()!();
    await r.stop();
    expect(lines.filter((l) => JSON.parse(l).msg === 'kernel routes synced')).toHaveLength(2);
  });

  it('node changes become adds, updates and removes in one batch each', async () => {
    const { nodes, pods, dp, r } = setup();
    nodes.items = [A, B];
    nodes.synced = nodes.healthy = pods.synced = pods.healthy = true;
    await r.runNow();
    dp.writes = [];
    nodes.items = [A, { ...B, internalIp: '172.30.0.22' }, C];
    await r.runNow();
    expect(dp.writes).toEqual([{ upserts: 2, removes: 0 }]);
    expect(dp.routes.get('10.244.1.0/24')?.nodeIp).toBe('172.30.0.22');
    nodes.items = [A];
    await r.runNow();
    expect([...dp.routes.keys()]).toEqual(['10.244.0.0/24']);
    expect(dp.kernel.at(-1)).toEqual([]);
  });

  it('reads the routes map only on the first run and on the periodic drift check, which repairs a changed entry', async () => {
    const { nodes, pods, dp, r } = setup(undefined, { resyncMs: 10 });
    nodes.items = [A, B];
    nodes.synced = nodes.healthy = pods.synced = pods.healthy = true;
    await r.runNow();
    expect(dp.reads).toBe(1);
    nodes.items = [A, B, C];
    await r.runNow();
    await r.runNow();
    // between checks the reconciler diffs against what it wrote: no read, only the new route
    expect(dp.reads).toBe(1);
    expect(dp.writes).toEqual([{ upserts: 2, removes: 0 }, { upserts: 1, removes: 0 }]);
    // someone rewrites an entry behind the agent's back: the periodic check (every
    // MAP_CHECK_EVERY ticks) reads the map and puts it right
    dp.routes.set('10.244.1.0/24', { cidr: '10.244.1.0/24', nodeIp: '192.0.2.99', kind: 'remote' });
    r.start();
    try {
      const deadline = Date.now() + 10_000;
      while (dp.routes.get('10.244.1.0/24')?.nodeIp !== '172.30.0.12' && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    } finally {
      await r.stop();
    }
    expect(dp.reads).toBeGreaterThanOrEqual(2);
    expect(dp.routes.get('10.244.1.0/24')?.nodeIp).toBe('172.30.0.12');
  });

  it('a run that sees the Node version it last applied skips the routes; a change, a failed write or a check recomputes them', async () => {
    const { pods, dp, r, lines } = setup();
    const nodes = new VersionedSource<NodeFacts>();
    (r as unknown as { o: { nodes: Source<NodeFacts> } }).o.nodes = nodes;
    nodes.items = [A, B];
    nodes.synced = nodes.healthy = pods.synced = pods.healthy = true;
    await r.runNow();
    expect(nodes.lists).toBe(1);
    // the first run scheduled the kernel sync; nothing is due now
    await new Promise((res) => setTimeout(res, 5));
    await r.runNow();
    expect(nodes.lists).toBe(1);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ msg: 'reconciled', nodesUnchanged: true, routes: 2 });
    expect(r.stats.ownPodCIDR).toBe('10.244.0.0/24');
    // a change bumps the version
    nodes.items = [A, B, C];
    nodes.v++;
    await r.runNow();
    expect(nodes.lists).toBe(2);
    expect(dp.routes.has('10.244.2.0/24')).toBe(true);
    // a failed write leaves nothing applied: the next run recomputes even at the same version
    const apply = dp.applyRoutes.bind(dp);
    dp.applyRoutes = () => {
      throw new Error('map full');
    };
    nodes.items = [A];
    nodes.v++;
    await r.runNow();
    dp.applyRoutes = apply;
    await r.runNow();
    expect(nodes.lists).toBe(4);
    expect([...dp.routes.keys()]).toEqual(['10.244.0.0/24']);
    await r.stop();
  });

  it('a slow kernel route sync spaces out the periodic checks (KERNEL_CHECK_SHARE); a fast one is checked every tick', async () => {
    const until = async (what: () => boolean) => {
      const deadline = Date.now() + 10_000;
      while (!what() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
    };
    // a sync that takes no time on the reconciler's clock: checked again on the next ticks
    {
      const { nodes, pods, dp, r } = setup(undefined, { resyncMs: 10 });
      nodes.items = [A, B];
      nodes.synced = nodes.healthy = pods.synced = pods.healthy = true;
      await r.runNow();
      r.start();
      await until(() => dp.kernel.length >= 3);
      await r.stop();
      expect(dp.kernel.length).toBeGreaterThanOrEqual(3);
    }
    // a sync that takes 60 ms: no periodic check before 60 / KERNEL_CHECK_SHARE = 1.2 s from its start
    const now = { t: 1_000_000 };
    const { nodes, pods, dp, r } = setup(now, { resyncMs: 10 });
    dp.syncKernelRoutes = async (remote) => {
      dp.kernel.push([...remote]);
      now.t += 60;
      return remote.length;
    };
    nodes.items = [A, B];
    nodes.synced = nodes.healthy = pods.synced = pods.healthy = true;
    await r.runNow();
    r.start();
    const runs = r.stats.runs;
    await until(() => r.stats.runs >= runs + 5); // five ticks
    expect(dp.kernel).toHaveLength(1);
    now.t += 1200 - 60 - 1;
    const more = r.stats.runs;
    await until(() => r.stats.runs >= more + 3);
    expect(dp.kernel).toHaveLength(1);
    now.t += 1;
    await until(() => dp.kernel.length >= 2);
    expect(dp.kernel).toHaveLength(2);
    // a clock that steps back before the last sync's start does not hold the check off
    const runs2 = r.stats.runs;
    await until(() => r.stats.runs >= runs2 + 3);
    expect(dp.kernel).toHaveLength(2);
    now.t -= 10_000;
    await until(() => dp.kernel.length >= 3);
    await r.stop();
    expect(dp.kernel).toHaveLength(3);
  });

  it('collects a stale endpoint only while the pod cache is healthy, after the grace period', async () => {
    const now = { t: 1_000_000 };
    const { nodes, pods, dp, r } = setup(now);
    nodes.items = [A];
    nodes.synced = nodes.healthy = pods.synced = true;
    pods.healthy = false; // e.g. the watch just failed
    dp.endpoints.set('10.244.0.5', { ip: '10.244.0.5', ifindex: 9 });
    dp.linkMap.set(9, 'pwaaaaaaaaaaa');
    dp.records.set('10.244.0.5', { createdAtMs: 0, containerID: 'c', ifname: 'eth0', hostVeth: 'pwaaaaaaaaaaa' });
    await r.runNow();
    now.t += 5000;
    await r.runNow();
    expect(dp.endpoints.size).toBe(1);

    pods.healthy = true;
    await r.runNow(); // first seen stale now
    expect(dp.endpoints.size).toBe(1);
    now.t += 1000;
    await r.runNow();
    expect(dp.endpoints.size).toBe(0);
    expect(dp.deletedVeths).toEqual(['pwaaaaaaaaaaa']);
    expect(dp.released).toEqual(['10.244.0.5']);
  });

  it('kicks within the debounce window coalesce into one run', async () => {
    const { nodes, pods, r } = setup();
    nodes.synced = pods.synced = true;
    for (let i = 0; i < 50; i++) r.kick();
    await new Promise((res) => setTimeout(res, 200));
    expect(r.stats.runs).toBe(1);
    await r.stop();
  });
});
