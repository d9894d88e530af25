// The reconcile loop: whenever a watch reports a change (or a timer fires), compute what the
// cluster wants from the informer caches and apply only the difference to the node. Runs are
// debounced (a relist of N objects is one run, not N) and serialised (never two at once).
// Each run does, in order:
//   1. routes map := every Node's podCIDR → InternalIP (only once the Node cache has synced;
//      a cache that never listed is not "no nodes"), diffed against what this process last wrote;
//      the map itself is read on the first run and every MAP_CHECK_EVERY ticks (drift repair)
//   2. host routes for remote podCIDRs (hostnet's syncKernelRoutes, itself diff-based), when the
//      remote set changed or on the periodic resync — started, not awaited: at 65k nodes the
//      kernel takes seconds for them, and neither the pod datapath (BPF maps) nor readiness depends
//      on them. One sync runs at a time; a newer desired set waits and replaces an older queued one.
//   3. endpoint GC (only while the Pod cache is synced AND healthy)
//   4. the conflist, once the node can serve CNI ADD
import { cidrContains, parseIpv4, parseIpv4Cidr, type Ipv4Cidr } from '../ipam/cidr.js';
import type { NodeFacts, PodFacts } from '../kube/objects.js';
import type { Dataplane } from './dataplane.js';
import { diffByKey, isEmptyDiff } from './diff.js';
import { planEndpointGc } from './gc.js';
import { collectEndpoint } from './gc-collect.js';
import type { Logger } from './log.js';
import { RouteSet } from './route-set.js';
import { desiredRoutes, sameRoute, type Route } from './routes.js';

export interface Source<T> {
  list(): readonly T[];
  readonly synced: boolean;
  readonly healthy: boolean;
  /** Changes whenever the content does (kube/node-store.ts), when the source can tell: a run that
   * sees the version it last applied skips the routes (at 65k Nodes: ~0.3 s of JS and ~30 MB of
   * short-lived objects on every periodic tick). */
  version?(): number | undefined;
}

export interface ReconcilerOptions {
  nodeName: string;
  nodes: Source<NodeFacts>;
  pods: Source<PodFacts>;
  dataplane: Dataplane;
  log: Logger;
  gcGraceMs: number;
  /** Called with our podCIDR when the node is ready to serve ADD (write the conflist). */
  onReady: (podCIDR: string) => Promise<void>;
  debounceMs?: number;
  /** Periodic run: GC grace expiry, kernel-route drift. */
  resyncMs?: number;
  now?: () => number;
  /** Every run's duration in seconds and whether it succeeded (the reconcile histogram). */
  onRun?: (seconds: number, ok: boolean) => void;
}

export interface ReconcileStats {
  runs: number;
  lastDurationMs: number;
  routes: number;
  errors: number;
  firstSyncDone: boolean;
  ownPodCIDR?: string;
}

/** An order-independent digest of the remote routes (count + sum and xor of per-route FNV-1a
 * hashes): whether the kernel's host routes need a sync, without building and sorting a 2 MB
 * string of 65k routes on every run. A collision only delays a sync to the periodic one. */
function keyOfRemote(rs: Iterable<Route>): string {
  let n = 0;
  let sum = 0;
  let xor = 0;
  for (const r of rs) {
    if (r.kind !== 'remote') continue;
    let h = 0x811c9dc5;
    const t = `${r.cidr}>${r.nodeIp}`;
    for (let i = 0; i < t.length; i++) h = Math.imul(h ^ t.charCodeAt(i), 0x01000193);
    h >>>= 0;
    n++;
    sum = (sum + h) % 0x1_0000_0000_0000;
    xor = (xor ^ h) >>> 0;
  }
  return `${n}:${sum}:${xor}`;
}

/** Periodic ticks between two reads of the whole routes map (drift check). */
export const MAP_CHECK_EVERY = 6;

/** The periodic kernel route check (a full list and diff of podwire's host routes) takes at most
 * this share of the time: after a sync that took d, the next periodic one waits d / share (at
 * least a tick). At 65k Nodes a sync takes ~2 s (two `ip` lists of 65k lines and the diff), so
 * the check runs every ~40 s instead of every tick; small clusters still check every tick. A
 * change of the remote set or a failed sync still syncs at once. */
export const KERNEL_CHECK_SHARE = 0.05;

export class Reconciler {
  readonly stats: ReconcileStats = { runs: 0, lastDurationMs: 0, routes: 0, errors: 0, firstSyncDone: false };
  private timer: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastRemoteKey: string | undefined;
  /** What the routes map holds since the last write (undefined: read it). Compact (route-set.ts):
   * it lives between runs, at 65k Nodes beside the Node cache. */
  private applied: RouteSet | undefined;
  private mapCheckDue = true;
  private ticks = 0;
  private kernelRoutesDue = true;
  private kernelSync: Promise<void> | undefined;
  private kernelPending: { cidr: string; nodeIp: string }[] | undefined;
  /** now() from which until which no periodic kernel check is due (KERNEL_CHECK_SHARE); a clock
   * that went back before the start makes it due at once. */
  private kernelQuietFrom = 0;
  private kernelQuietUntil = 0;
  /** The node source's version the routes were last computed from, and what that run found. */
  private nodesVersion: number | undefined;
  private lastOwnPodCIDR: string | undefined;
  /** Builds this.applied once the run is over (off the converge and ready path). */
  private settleApplied: (() => void) | undefined;
  private readonly staleSince = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly o: ReconcilerOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    const every = this.o.resyncMs ?? Math.max(1000, Math.min(10_000, Math.floor(this.o.gcGraceMs / 2)));
    this.ticker = setInterval(() => {
      // not while a sync runs (at 65k the first one takes seconds: a tick meanwhile queued a second full sync)
      const t = this.now();
      if (this.kernelSync === undefined && (t >= this.kernelQuietUntil || t < this.kernelQuietFrom)) this.kernelRoutesDue = true;
      if (++this.ticks % MAP_CHECK_EVERY === 0) this.mapCheckDue = true;
      this.kick();
    }, every);
    this.ticker.unref();
  }

  /** Ask for a run soon; many kicks within the debounce window make one run. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runNow();
    }, this.o.debounceMs ?? 25);
  }

  /** Run now (or wait for the current run and run once more). */
  async runNow(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop();
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      if (this.stopped) return;
      const t0 = performance.now();
      try {
        try {
          await this.once();
        } finally {
          const settle = this.settleApplied;
          this.settleApplied = undefined;
          settle?.();
        }
        this.o.onRun?.((performance.now() - t0) / 1000, true);
      } catch (e) {
        this.o.onRun?.((performance.now() - t0) / 1000, false);
        this.stats.errors++;
        this.o.log.error('reconcile failed; retrying', { error: e, details: (e as { details?: string }).details });
        // retry on our own: nothing else may kick us while the cluster is quiet
        setTimeout(() => this.kick(), 1000).unref();
      }
    } while (this.again && !this.stopped);
  }

  private async once(): Promise<void> {
    const t0 = performance.now();
    const { nodes, pods, dataplane, log } = this.o;
    const fields: Record<string, unknown> = {};

    // 1. routes map
    let ownPodCIDR: string | undefined;
    let want: ReturnType<typeof desiredRoutes> | undefined;
    const version = nodes.synced ? nodes.version?.() : undefined;
    if (version !== undefined && version === this.nodesVersion && this.applied !== undefined && !this.mapCheckDue && !this.kernelRoutesDue) {
      // no Node changed since the last run, no check due: the routes map holds what it should
      ownPodCIDR = this.lastOwnPodCIDR;
      Object.assign(fields, { routes: this.stats.routes, nodesUnchanged: true });
    } else if (nodes.synced) {
      this.nodesVersion = undefined;
      want = desiredRoutes(nodes.list(), this.o.nodeName);
      ownPodCIDR = want.ownPodCIDR;
      // The map is read only when a check is due (first run, every MAP_CHECK_EVERY ticks, after a
      // failed write): reading 65k LPM entries costs seconds of syscalls, and between checks the
      // map holds what this process wrote. A check repairs drift (an entry changed by hand).
      const base = this.applied;
      let actual: ReadonlyMap<string, Route> | undefined = base;
      let read = false;
      if (actual === undefined || this.mapCheckDue) {
        actual = new Map(dataplane.listRoutes().map((r) => [r.cidr, r]));
        this.mapCheckDue = false;
        read = true;
        fields['routesMapRead'] = actual.size;
      }
      const d = diffByKey(want.routes, actual, sameRoute);
      this.applied = undefined; // unknown until the writes succeeded
      if (!isEmptyDiff(d)) dataplane.applyRoutes([...d.add, ...d.update], d.remove);
      // the map now holds want.routes: the last base plus this diff, or (diffed against a read
      // of the map) want.routes itself
      if (base !== undefined && !read) {
        for (const r of d.add) base.set(r);
        for (const r of d.update) base.set(r);
        for (const k of d.remove) base.delete(k);
        this.applied = base;
      } else {
        // 65k routes into the compact set: after this run (its ready and GC steps) is over
        const routes = want.routes;
        this.settleApplied = () => {
          this.applied = RouteSet.of(routes.values());
        };
      }
      this.stats.routes = want.routes.size;
      Object.assign(fields, { routesAdded: d.add.length, routesUpdated: d.update.length, routesRemoved: d.remove.length, routes: want.routes.size });
      if (want.skipped.length > 0) fields['skippedNodes'] = want.skipped;

      fields['routesMs'] = Math.round(performance.now() - t0);
      this.nodesVersion = version;
      this.lastOwnPodCIDR = ownPodCIDR;
    }

    try {
      await this.endpointsAndReady(ownPodCIDR, fields);
    } finally {
      // 4. kernel routes to remote podCIDRs: a sync in the background (seconds at 65k nodes), never
      // part of readiness; started after the steps above so its `ip` processes and batch text do
      // not delay them on a 2-core node, and also when they failed (they are retried on their own).
      if (want) {
        const desired = [...want.routes.values()];
        const remoteKey = keyOfRemote(desired);
        if (remoteKey !== this.lastRemoteKey || this.kernelRoutesDue) {
          const remote = desired.filter((r) => r.kind === 'remote').map((r) => ({ cidr: r.cidr, nodeIp: r.nodeIp }));
          this.lastRemoteKey = remoteKey;
          this.kernelRoutesDue = false;
          this.scheduleKernelRoutes(remote);
          fields['kernelRoutesScheduled'] = remote.length;
        }
      }
    }
    if (ownPodCIDR !== undefined) this.stats.ownPodCIDR = ownPodCIDR;

    this.stats.runs++;
    this.stats.lastDurationMs = Math.round((performance.now() - t0) * 100) / 100;
    // every run that looked at the cluster is logged with its diff sizes; idle ticks before the
    // first list are not
    (nodes.synced || pods.synced ? log.info : log.debug)('reconciled', { ...fields, durationMs: this.stats.lastDurationMs, run: this.stats.runs });
  }

  /** Steps 2 and 3 of a run: endpoint GC (with this node's Pods listed), then readiness. */
  private async endpointsAndReady(ownPodCIDR: string | undefined, fields: Record<string, unknown>): Promise<void> {
    const { nodes, pods, dataplane, log } = this.o;
    // 2. endpoint GC
    if (pods.synced) {
      let own: Ipv4Cidr | undefined;
      if (ownPodCIDR) {
        const c = parseIpv4Cidr(ownPodCIDR);
        if (!('error' in c)) own = c;
      }
      const trusted = pods.healthy && own !== undefined;
      const podList = pods.list();
      const endpoints = dataplane.listEndpoints(); // before links: see gc.ts
      const links = await dataplane.links();
      const records = dataplane.ipamRecords();
      const plan = planEndpointGc({
        endpoints,
        links,
        ...(trusted
          ? {
              api: {
                ips: new Set(podList.filter((p) => !p.hostNetwork).flatMap((p) => p.ips)),
                pods: new Set(podList.map((p) => `${p.namespace}/${p.name}`)),
              },
            }
          : {}),
        records,
        owned: (ip) => {
          const n = parseIpv4(ip);
          return own !== undefined && n !== undefined && cidrContains(own, n);
        },
        staleSince: this.staleSince,
        now: this.now(),
        graceMs: this.o.gcGraceMs,
      });
      let removed = 0;
      for (const a of plan.actions) {
        const out = await collectEndpoint(dataplane, a);
        if (!out.collected) {
          if (out.why === 'chain-del-failed') log.warn('endpoint kept: the chained plugins\' DEL failed; retried on a later pass', { ip: a.ip, error: out.error });
          continue;
        }
        removed++;
        log.info('endpoint collected', { ip: a.ip, ifindex: a.ifindex, reason: a.reason, veth: a.deleteVeth, released: a.release !== undefined, chain: out.chain, ...(out.plugins ? { chainedDel: out.plugins } : {}) });
      }
      Object.assign(fields, { endpoints: endpoints.length, endpointsRemoved: removed, endpointsWaiting: plan.waiting, podsTrusted: trusted });
    }

    // 3. ready?
    if (nodes.synced && pods.synced && ownPodCIDR !== undefined) {
      await this.o.onReady(ownPodCIDR);
      if (!this.stats.firstSyncDone) log.info('first sync done', { podCIDR: ownPodCIDR });
      this.stats.firstSyncDone = true;
    }
  }

  /** Start a kernel route sync for `remote`, or queue it behind the one in flight (the newest
   * queued set wins: each sync is a full diff, so skipping an intermediate set loses nothing). */
  private scheduleKernelRoutes(remote: { cidr: string; nodeIp: string }[]): void {
    this.kernelPending = remote;
    this.kernelSync ??= this.drainKernelRoutes().finally(() => {
      this.kernelSync = undefined;
    });
  }

  private async drainKernelRoutes(): Promise<void> {
    while (this.kernelPending !== undefined && !this.stopped) {
      const remote = this.kernelPending;
      this.kernelPending = undefined;
      const t0 = performance.now();
      const started = this.now();
      try {
        const k = (await this.o.dataplane.syncKernelRoutes(remote)) as { added?: number; replaced?: number; deleted?: number; unchanged?: number; failed?: string[] } | undefined;
        // Refused routes (e.g. native mode toward an off-link node) are retried on the next pass.
        if (k?.failed?.length) {
          this.kernelRoutesDue = true;
          this.o.log.warn('kernel refused host routes to remote podCIDRs (nodes not on the uplink\'s link need --mode vxlan)', { failed: k.failed.slice(0, 5), count: k.failed.length });
        }
        const counts = typeof k === 'object' && k !== null ? { added: k.added, replaced: k.replaced, deleted: k.deleted, unchanged: k.unchanged, failed: k.failed?.length ?? 0 } : {};
        this.kernelQuietFrom = started;
        this.kernelQuietUntil = started + (this.now() - started) / KERNEL_CHECK_SHARE;
        this.o.log.info('kernel routes synced', { routes: remote.length, ...counts, durationMs: Math.round(performance.now() - t0) });
      } catch (e) {
        this.stats.errors++;
        this.kernelRoutesDue = true; // the next pass (kick or periodic tick) tries again
        this.o.log.error('kernel route sync failed; retrying', { error: e, details: (e as { details?: string }).details });
        setTimeout(() => this.kick(), 1000).unref();
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.ticker !== undefined) clearInterval(this.ticker);
    await this.running?.catch(() => undefined);
    await this.kernelSync?.catch(() => undefined);
  }
}
