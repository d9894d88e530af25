// IPAM: the node's pod-address pool (podCIDR) and its crash-safe file store.
export { parseIpv4, formatIpv4, parseIpv4Cidr, hostRange, cidrContains, type Ipv4Cidr } from './cidr.js';
export { IpamStore, attachmentId, type AttachmentKey, type AllocationMeta, type AllocationRecord, type StoredAddress } from './store.js';
