// The agent's one Prometheus registry and the metrics other subsystems push into (informer
// events, reconcile runs, CNI operations, datapath load/attach, conntrack GC). prom-client
// writes the exposition format; nothing here formats text by hand. A private Registry, not
// prom-client's global one, so a library that registers on the global registry cannot leak
// families into /metrics and tests can build a fresh one.
import { release } from 'node:os';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const PREFIX = 'podwire_';

export const registry = new Registry();

// Process metrics (CPU, RSS, heap, event-loop lag, GC) under our prefix: every family an
// operator scrapes from the agent then starts with podwire_.
collectDefaultMetrics({ register: registry, prefix: PREFIX });

/** Constant 1, labelled with what was built and where it runs (join on it in PromQL). */
export const buildInfo = new Gauge({
  name: `${PREFIX}build_info`,
  help: 'podwire build and host information; the value is always 1',
  labelNames: ['version', 'kernel', 'node'] as const,
  registers: [registry],
});

export function setBuildInfo(o: { version: string; node: string; kernel?: string }): void {
  buildInfo.reset();
  buildInfo.set({ version: o.version, kernel: o.kernel ?? release(), node: o.node }, 1);
}

// ---- Kubernetes API watches (fed by src/kube/informer.ts hooks) ----

export type InformerEventKind = 'add' | 'update' | 'delete';

const watchEvents = new Counter({
  name: `${PREFIX}k8s_watch_events_total`,
  help: 'Changes applied to an informer cache (watch events, and the differences a relist finds), by informer and type',
  labelNames: ['informer', 'type'] as const,
  registers: [registry],
});
const lists = new Counter({
  name: `${PREFIX}k8s_lists_total`,
  help: 'Successful LIST calls of an informer (the first sync and every relist)',
  labelNames: ['informer'] as const,
  registers: [registry],
});
const relists = new Counter({
  name: `${PREFIX}k8s_relists_total`,
  help: 'Relists after the first sync (after 410 Gone or an informer restart)',
  labelNames: ['informer'] as const,
  registers: [registry],
});
const watchErrors = new Counter({
  name: `${PREFIX}k8s_watch_errors_total`,
  help: 'Errors of an informer list or watch (each one leads to a restart with backoff)',
  labelNames: ['informer'] as const,
  registers: [registry],
});
const informerRestarts = new Counter({
  name: `${PREFIX}k8s_informer_restarts_total`,
  help: 'Informer restarts after an error',
  labelNames: ['informer'] as const,
  registers: [registry],
});

/** The hooks src/kube/informer.ts calls (ResilientOptions.hooks), bound to one informer name. */
export interface InformerHooks {
  event(kind: InformerEventKind): void;
  listed(first: boolean): void;
  error(): void;
  restarted(): void;
}

export function informerHooks(informer: string): InformerHooks {
  // series exist from the start (0), so rate() and increase() see the first error
  for (const type of ['add', 'update', 'delete']) watchEvents.inc({ informer, type }, 0);
  lists.inc({ informer }, 0);
  relists.inc({ informer }, 0);
  watchErrors.inc({ informer }, 0);
  informerRestarts.inc({ informer }, 0);
  return {
    event: (type, n = 1) => watchEvents.inc({ informer, type }, n),
    listed: (first) => {
      lists.inc({ informer });
      if (!first) relists.inc({ informer });
    },
    error: () => watchErrors.inc({ informer }),
    restarted: () => informerRestarts.inc({ informer }),
  };
}

// ---- reconcile ----

const reconcileDuration = new Histogram({
  name: `${PREFIX}reconcile_duration_seconds`,
  help: 'Duration of one reconcile run (routes, kernel routes, endpoint GC, conflist), by result',
  labelNames: ['result'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export function observeReconcile(seconds: number, ok: boolean): void {
  reconcileDuration.observe({ result: ok ? 'success' : 'error' }, seconds);
}

// ---- CNI operations served on the agent socket ----

const CNI_COMMANDS = new Set(['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC']);

const cniDuration = new Histogram({
  name: `${PREFIX}cni_operation_duration_seconds`,
  help: 'CNI requests served on the agent socket (from the native shim), by command and result',
  labelNames: ['command', 'result'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

/** Called by src/agent/cni-server.ts for every answered request. Unknown commands share one label value. */
export function observeCniOperation(command: string | undefined, ok: boolean, seconds: number): void {
  const c = command !== undefined && CNI_COMMANDS.has(command) ? command : 'unknown';
  cniDuration.observe({ command: c, result: ok ? 'success' : 'error' }, seconds);
}

// ---- the warm veth pool (src/cni/pool.ts, fed through src/agent/cni-server.ts) ----

export type VethPoolEvent = 'hit' | 'miss' | 'recycled' | 'made' | 'deleted';

const vethPoolEvents = new Counter({
  name: `${PREFIX}veth_pool_events_total`,
  help: 'Warm veth pool: ADDs served from the pool (hit) or not (miss), pairs DEL put back (recycled), pairs made and deleted in the background',
  labelNames: ['event'] as const,
  registers: [registry],
});

const vethPoolReady = new Gauge({
  name: `${PREFIX}veth_pool_ready`,
  help: 'Warm veth pool: pairs ready for the next ADD (tcx programs attached)',
  registers: [registry],
});

export function recordVethPool(event: VethPoolEvent, ready: number): void {
  vethPoolEvents.inc({ event });
  vethPoolReady.set(ready);
}

// ---- datapath load / attach ----

const loadDuration = new Histogram({
  name: `${PREFIX}datapath_load_duration_seconds`,
  help: 'Time to get the datapath in place at agent start: compile + link + load (result="loaded") or adopt the pinned one (result="adopted")',
  labelNames: ['result'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});
const attachDuration = new Histogram({
  name: `${PREFIX}datapath_attach_duration_seconds`,
  help: 'Time to attach the node programs (uplink or VXLAN device) and write node_cfg, by target',
  labelNames: ['target'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export function observeDatapathLoad(seconds: number, adopted: boolean): void {
  loadDuration.observe({ result: adopted ? 'adopted' : 'loaded' }, seconds);
}

export function observeDatapathAttach(target: 'node', seconds: number): void {
  attachDuration.observe({ target }, seconds);
}

// ---- conntrack GC (the datapath's `ct` map; the GC lives with the lead's conntrack work) ----

const ctGcRuns = new Counter({
  name: `${PREFIX}conntrack_gc_runs_total`,
  help: 'Runs of the agent\'s conntrack garbage collector over the ct map',
  registers: [registry],
});
const ctGcDeleted = new Counter({
  name: `${PREFIX}conntrack_gc_deleted_total`,
  help: 'Conntrack entries removed by the agent\'s garbage collector',
  registers: [registry],
});

/** The conntrack GC calls this once per run with the number of entries it removed. */
export function recordConntrackGc(deleted: number): void {
  ctGcRuns.inc();
  if (deleted > 0) ctGcDeleted.inc(deleted);
}
