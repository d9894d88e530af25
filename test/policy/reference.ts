// A direct reading of the NetworkPolicy spec (with podwire's documented choices), for comparing
// with the compiled maps: no indexes, no slots, no LPM — just the definitions.
import { containsAddr, parseCidr, parseIpv4 } from '../../src/policy/cidr.js';
import { isDeadRule } from '../../src/policy/parse.js';
import { selectorMatches } from '../../src/policy/selector.js';
import type { NamespaceRecord, PodRecord, PolicyRecord, PolicyRule } from '../../src/policy/types.js';

const PROTO: Record<string, number> = { TCP: 6, UDP: 17, SCTP: 132 };

export interface RefCluster {
  pods: PodRecord[];
  namespaces: NamespaceRecord[];
  policies: PolicyRecord[];
  hostIps: string[];
}

const nsLabels = (c: RefCluster, ns: string): Record<string, string> => ({ ...(c.namespaces.find((n) => n.name === ns)?.labels ?? { 'kubernetes.io/metadata.name': ns }) });

/** Pods a selector peer can match: with an IP, not hostNetwork (podRecord drops terminal pods' IPs). */
const memberAt = (c: RefCluster, addr: string): PodRecord | undefined => c.pods.find((p) => p.ip === addr && !p.hostNetwork);

function inBlock(b: { cidr: string; except?: readonly string[] }, addr: string): boolean {
  const c = parseCidr(b.cidr);
  const a = parseIpv4(addr)!;
  if (!c || !containsAddr(c, a)) return false;
  return !(b.except ?? []).some((e) => {
    const x = parseCidr(e);
    return x !== undefined && containsAddr(x, a);
  });
}

function selectedBySelectorPeer(c: RefCluster, pol: PolicyRecord, rule: PolicyRule, peerPod: PodRecord | undefined): boolean {
  if (!peerPod) return false;
  return (rule.peers ?? []).some(
    (p) =>
      !p.ipBlock &&
      (p.namespaceSelector ? selectorMatches(p.namespaceSelector, nsLabels(c, peerPod.namespace)) : peerPod.namespace === pol.namespace) &&
      selectorMatches(p.podSelector ?? {}, peerPod.labels),
  );
}

/** admitted / denied / undefined (local not isolated in dir). */
export function refJudge(c: RefCluster, local: PodRecord, dir: 'ingress' | 'egress', peer: string, proto: number, port: number): boolean | undefined {
  const type = dir === 'ingress' ? 'Ingress' : 'Egress';
  const pols = c.policies.filter((p) => p.namespace === local.namespace && p.policyTypes.includes(type) && selectorMatches(p.podSelector, local.labels));
  if (!pols.length) return undefined;
  if (dir === 'ingress' && c.hostIps.includes(peer)) return true;
  const peerPod = memberAt(c, peer);
  for (const pol of pols) {
    for (const rule of (dir === 'ingress' ? pol.ingress : pol.egress) ?? []) {
      if (isDeadRule(rule)) continue;
      const anyPeer = !rule.peers?.length;
      const peerOk = anyPeer || rule.peers!.some((p) => (p.ipBlock ? inBlock(p.ipBlock, peer) : false)) || selectedBySelectorPeer(c, pol, rule, peerPod);
      if (!peerOk) continue;
      if (!rule.ports?.length) return true;
      for (const pp of rule.ports) {
        if (PROTO[pp.protocol] !== proto) continue;
        if (pp.port === undefined) return true;
        if (typeof pp.port === 'number') {
          if (port >= pp.port && port <= (pp.endPort ?? pp.port)) return true;
          continue;
        }
        // named: ingress resolves on the local pod; egress on the peer pod, which must be
        // selected by a selector peer (or the rule has no peers): ipBlocks never match a name
        const on = dir === 'ingress' ? local : anyPeer || selectedBySelectorPeer(c, pol, rule, peerPod) ? peerPod : undefined;
        const n = on?.ports.find((x) => x.name === pp.port && x.protocol === pp.protocol)?.port;
        if (n !== undefined && n === port) return true;
      }
    }
  }
  return false;
}
