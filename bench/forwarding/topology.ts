// A forwarding topology: something that, once set up, gives a client namespace, a server
// namespace and the address the client sends to. Every topology makes its own uniquely named
// namespaces/devices/pins and removes all of them in teardown().
import type { Endpoints } from './tools.js';

export type TopologyName =
  | 'direct'
  | 'bridge'
  | 'routed'
  | 'podwire-same-node'
  | 'podwire-same-node-clusterip'
  | 'underlay'
  | 'host-gw'
  | 'kernel-vxlan'
  | 'podwire-native'
  | 'podwire-vxlan'
  | 'podwire-vxlan-bpf'
  | 'podwire-vxlan-device'
  | 'podwire-native-prefilter'
  | 'floor-same-node'
  | 'floor-native'
  | 'podwire-native-to-uplink';

export interface Running extends Endpoints {
  /** Facts worth printing (addresses, MTU, what was wired). */
  describe: string;
  teardown(): Promise<void>;
}

export interface Topology {
  name: TopologyName;
  scope: 'same-node' | 'cross-node';
  /** The limit row this topology's ratios are computed against. */
  limit: 'direct' | 'underlay';
  setup(log: (line: string) => void): Promise<Running>;
}

export const SAME_NODE: readonly TopologyName[] = ['direct', 'bridge', 'routed', 'podwire-same-node', 'podwire-same-node-clusterip', 'floor-same-node'];
export const CROSS_NODE: readonly TopologyName[] = ['underlay', 'host-gw', 'kernel-vxlan', 'podwire-native', 'podwire-vxlan', 'podwire-vxlan-bpf', 'podwire-vxlan-device', 'podwire-native-prefilter', 'floor-native'];
export const ALL_TOPOLOGIES: readonly TopologyName[] = [...SAME_NODE, ...CROSS_NODE];
/** Experiment rows: only when named in --only, never in a group (the full bench does not run them). */
export const EXPERIMENTS: readonly TopologyName[] = ['podwire-native-to-uplink'];
