// The two watches the agent needs: every Node (podCIDRs and addresses, for routes) and the Pods
// scheduled to this node only (field selector), so an agent's watch traffic does not grow with
// the cluster's pod count.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { resilientInformer, type ResilientInformer, type ResilientOptions } from './informer.js';

export function watchNodes(client: KubeClient, opts: ResilientOptions): ResilientInformer<V1Node> {
  return resilientInformer<V1Node>(client.config, { name: 'nodes', path: '/api/v1/nodes', list: () => client.core.listNode() }, opts);
}

export function watchPodsOnNode(client: KubeClient, nodeName: string, opts: ResilientOptions): ResilientInformer<V1Pod> {
  const fieldSelector = `spec.nodeName=${nodeName}`;
  return resilientInformer<V1Pod>(
    client.config,
    { name: 'pods', path: '/api/v1/pods', fieldSelector, list: () => client.core.listPodForAllNamespaces({ fieldSelector }) },
    opts,
  );
}
