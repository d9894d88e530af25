// runAgent: the node agent's life. Start order matters:
//   1. health endpoints (liveness answers while the datapath loads)
//   2. datapath: adopt what is pinned if nothing changed, else load (maps kept), then node setup
//      (sysctls, VXLAN device, uplink programs, node_cfg) — idempotent;
//      BESIDE it: watches on Nodes and on this node's Pods, filling their caches
//   3. the reconciler, once both are done; every watch change kicks it
//   4. the conflist, once the first reconcile with both caches synced is done
//   NetworkPolicy (policy.ts) runs beside 4-5: cluster-wide compact caches, debounced recompute
//   into the pol_* maps, and the CNI server's ADD hook applies a new pod's policy before it answers.
// SIGTERM/SIGINT: stop the watches, close the maps, keep every pin and the conflist, so pods
// keep forwarding and being wired while the agent is away. SIGKILL leaves the same state.
import type { AgentConfig } from './config.js';
import { startCniServer } from './cni-server.js';
import { startCtGc } from './ct-gc.js';
import { collectNow, fixYoungGeneration, tuneHeap } from './heap-tuning.js';
import { memoryProbe } from './memory.js';
import { negotiateChain, writeConflist, type ChainChoice } from './conflist.js';
import { ensureDatapath, podwireVersion } from './datapath.js';
import { kernelDataplane, type Dataplane, type NodeSetup } from './dataplane.js';
import { startHealthServer } from './health.js';
import { createLogger, type Logger } from './log.js';
import { Reconciler } from './reconcile.js';
import type { Defines } from '../loader/index.js';
import * as metrics from '../metrics/index.js';

/**
 * Compile-time constants for this node. Everything node-specific that may change at run time
 * (mode, node IP, uplink/VXLAN ifindexes, VNI) goes through the node_cfg map instead, so the
 * programs are identical on every node, a mode change needs no recompile, and a restart adopts
 * them. Map sizes are not node-specific either (pinned maps are reused; a size change would
 * need a migration).
 */
export function datapathDefines(_config: AgentConfig): Defines {
  return {};
}

export interface AgentHandle {
  /** Resolves when the agent has shut down. */
  done: Promise<void>;
  shutdown(reason: string): Promise<void>;
}

export async function startAgent(config: AgentConfig, log: Logger = createLogger({ fields: { node: config.nodeName } })): Promise<AgentHandle> {
  log.info('agent starting', {
    pid: process.pid,
    mode: config.mode,
    uplink: config.uplink,
    mtu: config.mtu,
    podMtu: config.podMtu,
    pinDir: config.pinDir,
    stateDir: config.stateDir,
    cniConfDir: config.cniConfDir,
    api: config.api.kind === 'kubeconfig' ? config.api.path : 'in-cluster',
  });
  metrics.setBuildInfo({ version: podwireVersion(), node: config.nodeName });
  const state = { datapath: false, setup: undefined as NodeSetup | undefined, conflist: false, prefilter: 'off' as 'off' | { uplink: string; mode: string; progId?: number } };
  let reconciler: Reconciler | undefined;
  const health = await startHealthServer(config.health.host, config.health.port, () => {
    const checks = {
      datapathLoaded: state.datapath,
      nodeSetup: state.setup !== undefined,
      firstSyncDone: reconciler?.stats.firstSyncDone ?? false,
      conflistWritten: state.conflist,
    };
    return { ready: Object.values(checks).every(Boolean), checks, info: { prefilter: state.prefilter } };
  }, config.metrics ? {} : { metrics: metrics.handleMetrics });
  log.info('health endpoints listening', { host: config.health.host, port: health.port, metrics: config.metrics === undefined });

  const cleanups: Array<() => Promise<void> | void> = [() => health.close()];
  if (config.metrics) {
    try {
      const m = await metrics.startMetricsServer(config.metrics.host, config.metrics.port);
      cleanups.push(() => m.close());
      log.info('metrics endpoint listening', { host: config.metrics.host, port: m.port, path: metrics.METRICS_PATH });
    } catch (e) {
      await health.close();
      throw e;
    }
  }
  const cleanup = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        log.warn('shutdown step failed', { error: e });
      }
    }
    cleanups.length = 0;
  };

  let dataplane!: Dataplane;
  let policy: import('./policy.js').PolicyController | undefined;
  fixYoungGeneration();
  const memory = memoryProbe(log);
  memory.mark('agent starting');
  let chain: ChainChoice | undefined;
  let kick = () => {};
  const watchOpts = (name: string) => ({ onChange: () => kick(), log: log.with({ informer: name }), hooks: metrics.informerHooks(name) });

  // The datapath (bpftool and the verifier: other processes) and the Node list (the API server,
  // JSON parsed here) do not wait for each other: on a fresh node of a 65k-node cluster each is
  // about a second of the time to converge. The caches fill meanwhile; the reconciler, which
  // writes the maps, starts once the datapath is loaded and the node set up.
  const datapathReady = (async () => {
    const dp = await ensureDatapath({ pinDir: config.pinDir, stateDir: config.stateDir, defines: datapathDefines(config), log });
    metrics.observeDatapathLoad(dp.durationMs / 1000, dp.adopted);
    metrics.watchDatapath(config.pinDir);
    state.datapath = true;
    dataplane = kernelDataplane({
      pinDir: config.pinDir,
      stateDir: config.stateDir,
      log,
      mode: config.mode,
      uplink: config.uplink,
      ...(config.vni === undefined ? {} : { vni: config.vni }),
      ...(config.vxlanDatapath === undefined ? {} : { vxlanDatapath: config.vxlanDatapath }),
      // GC runs the chained plugins' DEL (portmap) from libcni's cache: see gc-chain.ts
      cniBinDirs: config.cniBinDirs,
      cniCacheDir: config.cniCacheDir,
    });
    cleanups.push(() => dataplane.close());
    const t0 = performance.now();
    state.setup = await dataplane.setupNode();
    metrics.observeDatapathAttach('node', (performance.now() - t0) / 1000);
    log.info('node set up', { ...state.setup, durationMs: Math.round(performance.now() - t0) });
    // The CNI shim's fast path: served once the datapath can take ADDs (before that the shim
    // finds no socket and execs the full plugin, which reports the same state).
    const cniServer = await startCniServer({
      path: config.cniSocket,
      log,
      vethPool: { size: config.vethPoolSize, pinDir: config.pinDir, mtu: config.podMtu },
      // NetworkPolicy at birth: the new pod's policy is in the maps before the runtime starts it
      onAdded: async (pod) => policy?.admit(pod.namespace, pod.name, pod.ip),
    });
    cleanups.push(() => cniServer.close());
    log.info('CNI requests served', { socket: cniServer.path });
    const ctGc = startCtGc({ pinDir: config.pinDir, log: log.with({ component: 'ct-gc' }), onRun: (r) => metrics.recordConntrackGc(r.expired) });
    cleanups.push(() => ctGc.stop());
  })();
  const apiReady = (async () => {
    // The Kubernetes client is heavy and ESM-only: loaded here, never on the CNI path.
    const kube = await import('../kube/index.js');
    const client = kube.connectKube(config.api.kind === 'kubeconfig' ? { kubeconfig: config.api.path } : {});
    log.info('API server', { server: client.server });
    const nodes = kube.watchNodes(client, watchOpts('nodes'));
    const pods = kube.watchPodsOnNode(client, config.nodeName, watchOpts('pods'));
    cleanups.push(() => nodes.stop(), () => pods.stop());
    nodes.start();
    pods.start();
    return { kube, client, nodes, pods };
  })();
  let api: Awaited<typeof apiReady>;
  try {
    [, api] = await Promise.all([datapathReady, apiReady]);
  } catch (e) {
    // let the other half finish starting, so the cleanup stops everything it started
    await Promise.allSettled([datapathReady, apiReady]);
    await cleanup();
    throw e;
  }
  const { kube, client, nodes, pods } = api;
  try {
    const { applyPrefilter } = await import('./prefilter.js');
    const pf = await applyPrefilter({
      pinDir: config.pinDir,
      uplink: config.uplink,
      mode: config.prefilter,
      extraFailsafe: config.prefilterFailsafe,
      apiServer: client.server,
      healthPort: health.port,
      log,
    });
    if (pf) state.prefilter = { uplink: config.uplink, mode: pf.mode ?? 'unknown', ...(pf.progId === undefined ? {} : { progId: pf.progId }) };
  } catch (e) {
    await cleanup();
    throw e;
  }

  const r = new Reconciler({
    nodeName: config.nodeName,
    nodes: { list: () => kube.nodeFactsOf(nodes.records()), version: () => kube.nodeStoreVersion(nodes.records()), get synced() { return nodes.synced; }, get healthy() { return nodes.healthy; } },
    pods: { list: () => pods.list().map(kube.podFacts), get synced() { return pods.synced; }, get healthy() { return pods.healthy; } },
    dataplane,
    log,
    gcGraceMs: config.gcGraceMs,
    onRun: metrics.observeReconcile,
    onReady: async (podCIDR) => {
      chain ??= await negotiateChain(config.cniBinDirs);
      const changed = await writeConflist(config.cniConfDir, {
        podCIDR,
        pinDir: config.pinDir,
        stateDir: config.stateDir,
        mtu: config.podMtu,
        agentSocket: config.cniSocket,
        ...chain,
      });
      if (changed) log.info('conflist written', { dir: config.cniConfDir, podCIDR, mtu: config.podMtu, cniVersion: chain.cniVersion, chain: chain.note });
      if (!state.conflist) {
        memory.mark('ready');
        // from ready on (the cluster-wide Pod list runs then): before, it slowed the ready path
        tuneHeap();
        // once this run's locals are gone: the limit from here on is the live set × the factor
        setImmediate(() => {
          collectNow();
          memory.mark('after the ready GC');
        });
      }
      state.conflist = true;
    },
  });
  reconciler = r;
  // The NetworkPolicy caches (every Pod of the cluster: a million-item list) start once the Node
  // cache has listed: the routes and readiness come first, and the two lists do not share the
  // event loop (at 65k Nodes / 1M Pods the Node list took 2-3× longer beside the Pod list).
  let startPolicy: (() => void) | undefined;
  kick = () => {
    r.kick();
    if (startPolicy && nodes.synced) {
      const go = startPolicy;
      startPolicy = undefined;
      go();
    }
  };
  cleanups.push(() => r.stop());
  r.start();

  const { PolicyController } = await import('./policy.js');
  const pc = new PolicyController({
    client,
    nodeName: config.nodeName,
    pinDir: config.pinDir,
    stateDir: config.stateDir,
    log: log.with({ component: 'policy' }),
    memory,
    watchOpts: (name) => ({ log: log.with({ informer: name }), hooks: metrics.informerHooks(name) }),
    // warnings about policies selecting none of our pods: posted by one node only, the first by name
    reportsClusterWide: () => firstName(nodes.records().keys()) === config.nodeName,
    egressPolicy: async (want) => {
      const { change, device } = await dataplane.egressPolicy(want);
      if (change !== 'unchanged') log.info(`to_uplink ${change}`, { device, reason: want ? 'a local pod is isolated for egress' : 'no local pod is isolated for egress' });
    },
  });
  policy = pc;
  metrics.watchPolicyStats(config.pinDir);
  cleanups.push(() => pc.stop());
  startPolicy = () => {
    log.info('Node cache listed: starting the NetworkPolicy caches', { nodes: nodes.size });
    pc.start();
  };
  kick();

  let resolveDone!: () => void;
  const done = new Promise<void>((res) => (resolveDone = res));
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (reason: string) =>
    (shuttingDown ??= (async () => {
      log.info('agent stopping; pins and conflist stay', { reason });
      // stop in reverse start order: reconciler first (no half-applied run), then watches, maps, health
      await cleanup();
      log.info('agent stopped', { reconciles: r.stats.runs, nodeRestarts: nodes.restarts, podRestarts: pods.restarts });
      resolveDone();
    })());
  return { done, shutdown };
}

function firstName(names: Iterable<string>): string | undefined {
  let first: string | undefined;
  for (const n of names) if (n && (first === undefined || n < first)) first = n;
  return first;
}

/** The CLI entry: run until SIGTERM/SIGINT. */
export async function runAgent(config: AgentConfig): Promise<void> {
  const log = createLogger({ fields: { node: config.nodeName } });
  const agent = await startAgent(config, log);
  const onSignal = (sig: NodeJS.Signals) => void agent.shutdown(sig);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await agent.done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  // Every component has stopped. A signal that lands while a watch is still in its first LIST
  // leaves that request running (the client library starts the watch when the LIST returns, after
  // stop()), and it must not keep a stopped agent alive: exit once the rest has drained, at most 1 s
  // later (unref'd: a loop that drains first exits on its own). Seen once in ~200 CI agent stops.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}
