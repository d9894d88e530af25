// Which endpoints and chains one service port uses, given its traffic policies — the decisions
// kube-proxy makes before writing rules, shared by both renderers so the two modes agree.
// "Cluster" endpoints are all ready endpoints, "Local" ones those on this node. ClusterIP traffic
// goes to the local chain when internalTrafficPolicy is Local; NodePort traffic to the local
// chain when externalTrafficPolicy is Local (keeping the client's address), except that pods and
// the node itself are short-circuited to the cluster chain as if they had gone out and back.
import type { Endpoint, ServicePort } from './model.js';

export interface PortPlan {
  clusterEps: Endpoint[];
  localEps: Endpoint[];
  /** Endpoints that get a chain: those of every chain in use. */
  reachable: Endpoint[];
  hasEndpoints: boolean;
  /** ClusterIP traffic has somewhere to go (else: REJECT without endpoints, DROP without local ones). */
  hasInternal: boolean;
  /** NodePort traffic has somewhere to go (same verdicts). */
  hasExternal: boolean;
  usesClusterChain: boolean;
  usesLocalChain: boolean;
  usesExternalChain: boolean;
  internalChain: 'cluster' | 'local';
  externalChain: 'cluster' | 'local';
}

export function planPort(sp: ServicePort): PortPlan {
  const externallyAccessible = sp.nodePort > 0 || (sp.externalIPs?.length ?? 0) > 0;
  const clusterEps = sp.endpoints;
  const localEps = sp.endpoints.filter((e) => e.local);
  const hasEndpoints = clusterEps.length > 0;
  // cluster endpoints are needed for Cluster ClusterIP traffic and, for any externally reachable
  // service, for the short-circuit of pod and node traffic
  const usesClusterChain = hasEndpoints && (!sp.internalLocal || externallyAccessible);
  const usesLocalChain = localEps.length > 0 && (sp.internalLocal === true || (sp.externalLocal === true && externallyAccessible));
  const reachable = usesClusterChain ? clusterEps : usesLocalChain ? localEps : [];
  return {
    clusterEps,
    localEps,
    reachable,
    hasEndpoints,
    hasInternal: hasEndpoints && (!sp.internalLocal || localEps.length > 0),
    hasExternal: hasEndpoints && (!sp.externalLocal || localEps.length > 0),
    usesClusterChain,
    usesLocalChain,
    usesExternalChain: hasEndpoints && externallyAccessible,
    internalChain: sp.internalLocal ? 'local' : 'cluster',
    externalChain: sp.externalLocal ? 'local' : 'cluster',
  };
}
