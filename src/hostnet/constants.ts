// Fixed names and numbers of podwire's host networking, in one place so setup, teardown, the
// route sync and the tests agree.

/** The collect-metadata VXLAN device podwire owns in vxlan mode (one per node). */
export const VXLAN_DEVICE = 'pwvxlan0';
/** Linux's historical VXLAN port (flannel and Cilium use it too); IANA's 4789 is often taken. */
export const VXLAN_PORT = 8472;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;
/** VXLAN network id when the caller gives none. */
export const DEFAULT_VNI = 1;
/**
 * Routing protocol number that marks the kernel routes podwire owns (`ip route … proto 210`), so
 * syncKernelRoutes can list, diff and delete exactly its own routes and nobody else's. Not in
 * /etc/iproute2/rt_protos (which reserves 0-18, 42, 99, 186-192).
 */
export const ROUTE_PROTO = 210;
