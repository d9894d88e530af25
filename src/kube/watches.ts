// The two watches the agent needs: every Node (podCIDRs and addresses, for routes) and the Pods
// scheduled to this node only (field selector), so an agent's watch traffic does not grow with
// the cluster's pod count. Nodes are compact records (name, podCIDRs, InternalIP), listed in raw
// pages: at 65,000 Nodes a V1Node cache (and client-node's deserialisation of one 65k-item list)
// was most of the agent's memory. They are kept by column (node-store.ts).
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { compactInformer, type CompactInformer } from './compact.js';
import { resilientInformer, type ResilientInformer, type ResilientOptions } from './informer.js';
import { NodeStore } from './node-store.js';
import { nodeRecord, type NodeFacts } from './objects.js';

/** Nodes per list page: a Node's JSON is a few hundred bytes to a few kB. */
export const NODE_LIST_PAGE = 1000;

export function watchNodes(client: KubeClient, opts: ResilientOptions & { pageSize?: number }): CompactInformer<NodeFacts> {
  return compactInformer(client.config, { name: 'nodes', path: '/api/v1/nodes', convert: nodeRecord, store: () => new NodeStore(), pageSize: opts.pageSize ?? NODE_LIST_PAGE }, opts);
}

export function watchPodsOnNode(client: KubeClient, nodeName: string, opts: ResilientOptions): ResilientInformer<V1Pod> {
  const fieldSelector = `spec.nodeName=${nodeName}`;
  return resilientInformer<V1Pod>(
    client.config,
    { name: 'pods', path: '/api/v1/pods', fieldSelector, list: () => client.core.listPodForAllNamespaces({ fieldSelector }) },
    opts,
  );
}
