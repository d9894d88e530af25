// The two watches the agent needs: every Node (podCIDRs and addresses, for routes) and the Pods
// scheduled to this node only (field selector), so an agent's watch traffic does not grow with
// the cluster's pod count.
import type { V1Node, V1NodeList, V1Pod } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { resilientInformer, type ResilientInformer, type ResilientOptions } from './informer.js';

/** Nodes listed in pages of this many: the client's deserialised objects of one page are
 * garbage before the next arrives, so a 65k-Node list never holds 65k full objects at once. */
const NODE_PAGE = 5000;

/** A Node reduced to what the agent reads (nodeFacts: podCIDRs, InternalIP; labels for policy),
 * plus the metadata the cache needs: a few hundred bytes instead of a full client object. */
export function slimNode(n: V1Node): V1Node {
  const m = n.metadata ?? {};
  return {
    metadata: {
      name: m.name,
      ...(m.resourceVersion === undefined ? {} : { resourceVersion: m.resourceVersion }),
      ...(m.uid === undefined ? {} : { uid: m.uid }),
      ...(m.labels === undefined ? {} : { labels: m.labels }),
    },
    spec: { ...(n.spec?.podCIDR === undefined ? {} : { podCIDR: n.spec.podCIDR }), ...(n.spec?.podCIDRs === undefined ? {} : { podCIDRs: n.spec.podCIDRs }) },
    status: { addresses: (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => ({ type: a.type, address: a.address })) },
  } as V1Node;
}

export async function listNodesPaged(client: KubeClient, pageSize = NODE_PAGE): Promise<V1NodeList> {
  const items: V1Node[] = [];
  let cont: string | undefined;
  let first: V1NodeList | undefined;
  let last: V1NodeList;
  do {
    last = await client.core.listNode({ limit: pageSize, ...(cont ? { _continue: cont } : {}) });
    first ??= last;
    for (const n of last.items) items.push(slimNode(n));
    cont = last.metadata?._continue || undefined;
  } while (cont);
  // the watch resumes from the list's snapshot: the resourceVersion every page shares
  return { apiVersion: first.apiVersion, kind: first.kind, metadata: { resourceVersion: last.metadata?.resourceVersion ?? first.metadata?.resourceVersion }, items } as V1NodeList;
}

export function watchNodes(client: KubeClient, opts: ResilientOptions, pageSize = NODE_PAGE): ResilientInformer<V1Node> {
  return resilientInformer<V1Node>(client.config, { name: 'nodes', path: '/api/v1/nodes', list: () => listNodesPaged(client, pageSize), slim: slimNode }, opts);
}

export function watchPodsOnNode(client: KubeClient, nodeName: string, opts: ResilientOptions): ResilientInformer<V1Pod> {
  const fieldSelector = `spec.nodeName=${nodeName}`;
  return resilientInformer<V1Pod>(
    client.config,
    { name: 'pods', path: '/api/v1/pods', fieldSelector, list: () => client.core.listPodForAllNamespaces({ fieldSelector }) },
    opts,
  );
}
