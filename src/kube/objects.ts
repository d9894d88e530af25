// What podwire needs from Node and Pod objects, extracted once so the reconcile core works on
// plain data (and unit tests need no API server). IPv4 only, like the datapath.
import type { V1Node, V1Pod } from '@kubernetes/client-node';

export interface NodeFacts {
  name: string;
  /** IPv4 podCIDRs: spec.podCIDRs, else spec.podCIDR. */
  podCIDRs: string[];
  /** The first IPv4 InternalIP address, if any. */
  internalIp?: string;
}

export interface PodFacts {
  namespace: string;
  name: string;
  uid?: string;
  nodeName?: string;
  hostNetwork: boolean;
  /** IPv4 pod IPs: status.podIPs, else status.podIP. */
  ips: string[];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV4_CIDR = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;

export function nodeFacts(n: V1Node): NodeFacts {
  const cidrs = n.spec?.podCIDRs?.length ? n.spec.podCIDRs : n.spec?.podCIDR ? [n.spec.podCIDR] : [];
  const internal = (n.status?.addresses ?? []).find((a) => a.type === 'InternalIP' && IPV4.test(a.address))?.address;
  return {
    name: n.metadata?.name ?? '',
    podCIDRs: cidrs.filter((c) => IPV4_CIDR.test(c)),
    ...(internal === undefined ? {} : { internalIp: internal }),
  };
}

export function podFacts(p: V1Pod): PodFacts {
  const ips = p.status?.podIPs?.length ? p.status.podIPs.map((i) => i.ip) : p.status?.podIP ? [p.status.podIP] : [];
  return {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    ...(p.metadata?.uid === undefined ? {} : { uid: p.metadata.uid }),
    ...(p.spec?.nodeName === undefined ? {} : { nodeName: p.spec.nodeName }),
    hostNetwork: p.spec?.hostNetwork === true,
    ips: ips.filter((ip) => IPV4.test(ip)),
  };
}
