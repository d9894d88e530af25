// Kubernetes API access for the agent: credentials, resilient list/watch caches, and the
// facts podwire reads from Nodes and Pods. Import only from the agent role (heavy package).
export { connectKube, type KubeClient, type ApiAccessOptions } from './client.js';
export { resilientInformer, type ResilientInformer, type ResilientOptions, type WatchSpec, type WatchLog, type InformerHooks } from './informer.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export { nodeFacts, nodeRecord, podFacts, type NodeFacts, type PodFacts } from './objects.js';
export { compactInformer, recordsOf, type CompactInformer } from './compact.js';
export { watchNodes, watchPodsOnNode } from './watches.js';
export { NodeStore, nodeFactsOf, nodeStoreVersion } from './node-store.js';
