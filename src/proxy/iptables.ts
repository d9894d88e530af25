// kube-proxy's iptables layout as iptables-restore input (pure: model in, text out).
//
// filter: KUBE-SERVICES / KUBE-EXTERNAL-SERVICES reject ClusterIPs and NodePorts of services
//   without endpoints; KUBE-FORWARD drops ctstate INVALID and accepts marked and established
//   traffic; KUBE-NODEPORTS and KUBE-PROXY-FIREWALL exist (empty: no health-check ports and no
//   loadBalancerSourceRanges in the lab).
// nat: KUBE-SERVICES matches ClusterIP:port → KUBE-SVC-<hash>; its last rule sends traffic to a
//   local address to KUBE-NODEPORTS (NodePort → KUBE-EXT-<hash>: mark for masquerade, then the
//   SVC chain). KUBE-SVC masquerades off-cluster sources (! -s clusterCIDR), checks ClientIP
//   affinity (-m recent --rcheck), then picks an endpoint with -m statistic (1/n, 1/(n-1), …,
//   last unconditional). KUBE-SEP-<hash> marks hairpin traffic (-s <endpoint>), records
//   affinity (--set) and DNATs. KUBE-POSTROUTING masquerades marked packets and clears the mark.
//   Local traffic policies (see plan.ts) add KUBE-SVL-<hash> with this node's endpoints only.
//
// The whole kube-proxy-owned chain set is declared (":CHAIN - [0:0]" flushes it) and refilled in
// one `iptables-restore --noflush`, so the kernel switches atomically and non-KUBE rules stay.
import { servicePortName, type Endpoint, type ServicePort } from './model.js';
import { iptExtChain, iptSepChain, iptSvcChain, iptSvlChain, isIptServiceChain } from './names.js';
import { planPort } from './plan.js';

export const MASQ_MARK = '0x4000';

export interface IptablesOptions {
  clusterCIDR: string;
  /** nat chains that exist now (iptables-save): service chains not rendered again are deleted. */
  existingNatChains?: readonly string[];
}

export interface IptablesRender {
  text: string;
  /** nat service chains (KUBE-SVC/EXT/SEP) in this render. */
  natServiceChains: string[];
  /** nat service chains that exist but are no longer wanted (flushed and deleted by `text`). */
  staleNatChains: string[];
}

/** The jump rules from the built-in chains (ensured one by one: we must not own those chains). */
export interface JumpRule {
  table: 'filter' | 'nat';
  chain: string;
  target: string;
  args: string[];
}

export const JUMP_RULES: readonly JumpRule[] = [
  { table: 'filter', chain: 'INPUT', target: 'KUBE-EXTERNAL-SERVICES', args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes externally-visible service portals'] },
  { table: 'filter', chain: 'FORWARD', target: 'KUBE-EXTERNAL-SERVICES', args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes externally-visible service portals'] },
  { table: 'filter', chain: 'INPUT', target: 'KUBE-NODEPORTS', args: ['-m', 'comment', '--comment', 'kubernetes health check service ports'] },
  { table: 'filter', chain: 'FORWARD', target: 'KUBE-SERVICES', args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals'] },
  { table: 'filter', chain: 'OUTPUT', target: 'KUBE-SERVICES', args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals'] },
  { table: 'filter', chain: 'FORWARD', target: 'KUBE-FORWARD', args: ['-m', 'comment', '--comment', 'kubernetes forwarding rules'] },
  { table: 'filter', chain: 'INPUT', target: 'KUBE-PROXY-FIREWALL', args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes load balancer firewall'] },
  { table: 'filter', chain: 'OUTPUT', target: 'KUBE-PROXY-FIREWALL', args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes load balancer firewall'] },
  { table: 'filter', chain: 'FORWARD', target: 'KUBE-PROXY-FIREWALL', args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes load balancer firewall'] },
  { table: 'nat', chain: 'OUTPUT', target: 'KUBE-SERVICES', args: ['-m', 'comment', '--comment', 'kubernetes service portals'] },
  { table: 'nat', chain: 'PREROUTING', target: 'KUBE-SERVICES', args: ['-m', 'comment', '--comment', 'kubernetes service portals'] },
  { table: 'nat', chain: 'POSTROUTING', target: 'KUBE-POSTROUTING', args: ['-m', 'comment', '--comment', 'kubernetes postrouting rules'] },
];

const FILTER_CHAINS = ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL'];
const NAT_CHAINS = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'];

/** A comment argument as iptables-restore reads it: quoted when it has spaces. */
function comment(text: string): string {
  return /[\s"]/.test(text) ? `"${text.replace(/"/g, '')}"` : text;
}

/** kube-proxy's probability text: 1/n with ten decimals. */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

export function renderIptables(sps: readonly ServicePort[], opts: IptablesOptions): IptablesRender {
  const filterRules: string[] = [];
  const natChains: string[] = [];
  const natRules: string[] = [];
  const active = new Set<string>();
  const natChain = (c: string) => {
    if (active.has(c)) return;
    active.add(c);
    natChains.push(`:${c} - [0:0]`);
  };

  natRules.push(`-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`);
  // clear the mark so a packet that re-enters the stack is not masqueraded twice
  natRules.push(`-A KUBE-POSTROUTING -j MARK --xor-mark ${MASQ_MARK}`);
  natRules.push(`-A KUBE-POSTROUTING -m comment --comment ${comment('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully`);
  natRules.push(`-A KUBE-MARK-MASQ -j MARK --or-mark ${MASQ_MARK}`);

  for (const sp of sps) {
    const name = servicePortName(sp);
    const p = sp.protocol.toLowerCase();
    const match = `-m ${p} -p ${p}`;
    const svc = iptSvcChain(sp);
    const svl = iptSvlChain(sp);
    const ext = iptExtChain(sp);
    const plan = planPort(sp);
    const internalChain = plan.internalChain === 'local' ? svl : svc;
    const externalChain = plan.externalChain === 'local' ? svl : svc;

    // filter verdicts: no endpoints at all → REJECT; none on this node for a Local policy → DROP
    if (!plan.hasInternal) {
      const [why, verdict] = plan.hasEndpoints ? ['has no local endpoints', 'DROP'] : ['has no endpoints', 'REJECT'];
      filterRules.push(`-A KUBE-SERVICES -m comment --comment ${comment(`${name} ${why}`)} ${match} -d ${sp.clusterIP} --dport ${sp.port} -j ${verdict}`);
    }
    if (sp.nodePort > 0 && !plan.hasExternal) {
      const [why, verdict] = plan.hasEndpoints ? ['has no local endpoints', 'DROP'] : ['has no endpoints', 'REJECT'];
      filterRules.push(`-A KUBE-EXTERNAL-SERVICES -m comment --comment ${comment(`${name} ${why}`)} -m addrtype --dst-type LOCAL ${match} --dport ${sp.nodePort} -j ${verdict}`);
    }
    for (const eip of sp.externalIPs ?? []) {
      if (plan.hasExternal) continue;
      const [why, verdict] = plan.hasEndpoints ? ['has no local endpoints', 'DROP'] : ['has no endpoints', 'REJECT'];
      filterRules.push(`-A KUBE-EXTERNAL-SERVICES -m comment --comment ${comment(`${name} ${why}`)} ${match} -d ${eip} --dport ${sp.port} -j ${verdict}`);
    }
    if (!plan.hasEndpoints) continue;

    if (plan.hasInternal) {
      natRules.push(`-A KUBE-SERVICES -m comment --comment ${comment(`${name} cluster IP`)} ${match} -d ${sp.clusterIP} --dport ${sp.port} -j ${internalChain}`);
    }
    for (const eip of sp.externalIPs ?? []) {
      natRules.push(`-A KUBE-SERVICES -m comment --comment ${comment(`${name} external IP`)} ${match} -d ${eip} --dport ${sp.port} -j ${ext}`);
    }
    if (plan.usesExternalChain) {
      if (sp.nodePort > 0) natRules.push(`-A KUBE-NODEPORTS -m comment --comment ${comment(name)} ${match} --dport ${sp.nodePort} -j ${ext}`);
      natChain(ext);
      if (!sp.externalLocal) {
        // externalTrafficPolicy Cluster: the endpoint may be on another node, so always SNAT
        natRules.push(`-A ${ext} -m comment --comment ${comment(`masquerade traffic for ${name} external destinations`)} -j KUBE-MARK-MASQ`);
      } else {
        // Local: the client's address is kept; pods and the node itself are treated as if they
        // had gone out to a load balancer and back (cluster endpoints; the node masqueraded)
        natRules.push(`-A ${ext} -m comment --comment ${comment(`pod traffic for ${name} external destinations`)} -s ${opts.clusterCIDR} -j ${svc}`);
        natRules.push(`-A ${ext} -m comment --comment ${comment(`masquerade LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`);
        natRules.push(`-A ${ext} -m comment --comment ${comment(`route LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j ${svc}`);
      }
      if (plan.hasExternal) natRules.push(`-A ${ext} -j ${externalChain}`);
    }
    if (plan.usesClusterChain) natChain(svc);
    if (plan.usesLocalChain) natChain(svl);
    if (plan.hasInternal) {
      // off-cluster clients (the node itself, the outside) reaching a ClusterIP are masqueraded
      // so replies come back through this node; pod clients keep their source IP
      natRules.push(`-A ${internalChain} -m comment --comment ${comment(`${name} cluster IP`)} ${match} -d ${sp.clusterIP} --dport ${sp.port} ! -s ${opts.clusterCIDR} -j KUBE-MARK-MASQ`);
    }
    if (plan.usesClusterChain) endpointRules(natRules, sp, name, svc, plan.clusterEps);
    if (plan.usesLocalChain) endpointRules(natRules, sp, name, svl, plan.localEps);

    for (const ep of plan.reachable) {
      const sep = iptSepChain(sp, ep);
      natChain(sep);
      // hairpin: an endpoint reaching itself through the service must see a source that is
      // not its own address, or it would answer itself directly
      natRules.push(`-A ${sep} -m comment --comment ${comment(name)} -s ${ep.ip} -j KUBE-MARK-MASQ`);
      const recent = sp.affinitySeconds !== undefined ? ` -m recent --name ${sep} --set` : '';
      natRules.push(`-A ${sep} -m comment --comment ${comment(name)}${recent} ${match} -j DNAT --to-destination ${ep.ip}:${ep.port}`);
    }
  }

  // NodePorts answer on every local address except loopback (kube-proxy with
  // --iptables-localhost-nodeports=false: no route_localnet sysctl needed)
  natRules.push(
    `-A KUBE-SERVICES -m comment --comment ${comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS`,
  );

  const stale = (opts.existingNatChains ?? []).filter((c) => isIptServiceChain(c) && !active.has(c)).sort();
  for (const c of stale) natChains.push(`:${c} - [0:0]`);
  for (const c of stale) natRules.push(`-X ${c}`);

  // without nf_conntrack_tcp_be_liberal, out-of-window packets would reset connections
  filterRules.push('-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP');
  filterRules.push(`-A KUBE-FORWARD -m comment --comment ${comment('kubernetes forwarding rules')} -m mark --mark ${MASQ_MARK}/${MASQ_MARK} -j ACCEPT`);
  filterRules.push(`-A KUBE-FORWARD -m comment --comment ${comment('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);

  const text = [
    '*filter',
    ...FILTER_CHAINS.map((c) => `:${c} - [0:0]`),
    ...filterRules,
    'COMMIT',
    '*nat',
    ...NAT_CHAINS.map((c) => `:${c} - [0:0]`),
    ...natChains,
    ...natRules,
    'COMMIT',
    '',
  ].join('\n');
  return { text, natServiceChains: [...active], staleNatChains: stale };
}

/** Affinity checks, then the statistic-balanced jumps from a service chain to its endpoints. */
function endpointRules(out: string[], sp: ServicePort, name: string, chain: string, eps: readonly Endpoint[]): void {
  if (sp.affinitySeconds !== undefined) {
    for (const ep of eps) {
      const sep = iptSepChain(sp, ep);
      out.push(`-A ${chain} -m comment --comment ${comment(`${name} -> ${ep.ip}:${ep.port}`)} -m recent --name ${sep} --rcheck --seconds ${sp.affinitySeconds} --reap -j ${sep}`);
    }
  }
  eps.forEach((ep, i) => {
    // each rule takes 1/(remaining) of what reaches it: a uniform choice overall
    const stat = i < eps.length - 1 ? ` -m statistic --mode random --probability ${probability(eps.length - i)}` : '';
    out.push(`-A ${chain} -m comment --comment ${comment(`${name} -> ${ep.ip}:${ep.port}`)}${stat} -j ${iptSepChain(sp, ep)}`);
  });
}

/** Chain names declared in iptables-save output of one table (":NAME POLICY [p:b]"). */
export function chainsInSave(save: string): string[] {
  const out: string[] = [];
  for (const line of save.split('\n')) {
    const m = /^:(\S+)\s/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}
