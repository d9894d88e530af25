// The proxy's watches, on the project's resilient informers: every Service and EndpointSlice
// (a node's proxy needs them all: any pod may call any service), and this node's own Node
// object when the node IP has to be learned from its InternalIP.
import { DiscoveryV1Api, type V1EndpointSlice, type V1Node, type V1Service } from '@kubernetes/client-node';
import { resilientInformer, type KubeClient, type ResilientInformer, type ResilientOptions } from '../kube/index.js';

export function watchServices(client: KubeClient, opts: ResilientOptions): ResilientInformer<V1Service> {
  return resilientInformer<V1Service>(client.config, { name: 'services', path: '/api/v1/services', list: () => client.core.listServiceForAllNamespaces() }, opts);
}

export function watchEndpointSlices(client: KubeClient, opts: ResilientOptions): ResilientInformer<V1EndpointSlice> {
  const discovery = client.config.makeApiClient(DiscoveryV1Api);
  return resilientInformer<V1EndpointSlice>(
    client.config,
    { name: 'endpointslices', path: '/apis/discovery.k8s.io/v1/endpointslices', list: () => discovery.listEndpointSliceForAllNamespaces() },
    opts,
  );
}

export function watchOwnNode(client: KubeClient, nodeName: string, opts: ResilientOptions): ResilientInformer<V1Node> {
  const fieldSelector = `metadata.name=${nodeName}`;
  return resilientInformer<V1Node>(client.config, { name: 'node', path: '/api/v1/nodes', fieldSelector, list: () => client.core.listNode({ fieldSelector }) }, opts);
}
