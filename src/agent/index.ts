// The node agent role (`podwire agent`): datapath load/adopt, node setup, Kubernetes watches,
// reconcile by diff, endpoint GC, conflist, health endpoints. Small files, one concern each.
export { runAgent, startAgent, datapathDefines, type AgentHandle } from './agent.js';
export { readAgentConfig, parseAgentFlags, type AgentConfig, type AgentFlags, type Mode } from './config.js';
export { Reconciler, type ReconcilerOptions, type ReconcileStats, type Source } from './reconcile.js';
export { desiredRoutes, diffRoutes, sameRoute, type Route, type DesiredRoutes } from './routes.js';
export { diffByKey, isEmptyDiff, type KeyedDiff } from './diff.js';
export { planEndpointGc, type GcInput, type GcPlan, type GcAction } from './gc.js';
export { ensureDatapath, datapathHash, pinnedProgramIds, DATAPATH_STATE_FILE, type DatapathState } from './datapath.js';
export { renderConflist, writeConflist, CONFLIST_NAME } from './conflist.js';
export { kernelDataplane, type Dataplane, type NodeSetup } from './dataplane.js';
export { createLogger, type Logger } from './log.js';
