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

/** A Node as the JSON the API server sent (list page or watch event): its facts, or undefined
 * without a name. Reads the same fields as nodeFacts, without client-node's model classes. */
export function nodeRecord(raw: unknown): NodeFacts | undefined {
  const n = raw as V1Node | null;
  if (typeof n !== 'object' || n === null || typeof n.metadata?.name !== 'string' || !n.metadata.name) return undefined;
  const spec = typeof n.spec === 'object' && n.spec !== null ? n.spec : undefined;
  const status = typeof n.status === 'object' && n.status !== null ? n.status : undefined;
  return nodeFacts({
    metadata: { name: n.metadata.name },
    spec: {
      ...(Array.isArray(spec?.podCIDRs) ? { podCIDRs: spec.podCIDRs.filter((c): c is string => typeof c === 'string') } : {}),
      ...(typeof spec?.podCIDR === 'string' ? { podCIDR: spec.podCIDR } : {}),
    },
    status: { addresses: Array.isArray(status?.addresses) ? status.addresses.filter((a) => typeof a === 'object' && a !== null && typeof a.address === 'string') : [] },
  });
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
