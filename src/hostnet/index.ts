// Node host networking for the agent: forwarding sysctls, the VXLAN device, the uplink/VXLAN
// programs, node_cfg, and the kernel routes that let the node itself (and hostNetwork pods)
// reach other nodes' pods. Everything is idempotent and takes an optional `netns` (lab nodes).
export { setupNode, teardownNode, type SetupNodeOptions, type SetupNodeResult, type TeardownNodeOptions } from './node.js';
export {
  syncKernelRoutes,
  listKernelRoutes,
  listNexthops,
  nexthopIdOf,
  parseNexthopLines,
  parseRouteLines,
  type NexthopSpec,
  type RemoteCidr,
  type SyncKernelRoutesOptions,
  type SyncKernelRoutesResult,
} from './kernel-routes.js';
export { DEFAULT_VNI, ROUTE_PROTO, VXLAN_DEVICE, VXLAN_OVERHEAD, VXLAN_PORT } from './constants.js';
export { nodeSysctls } from './sysctl.js';
export { egressPolicyDevice, syncEgressPolicy, type EgressPolicyChange } from './egress-policy.js';
