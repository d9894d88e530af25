// kube-proxy's nftables layout as one `nft -f` transaction (pure: model in, text out).
//
// Table `ip kube-proxy`. Base chains filter-{prerouting,input,forward,output} (priority
// dstnat-10, i.e. -110: filtering sees pre-DNAT addresses) and nat-{prerouting,output} (dstnat,
// -100) and nat-postrouting (srcnat, 100); numeric priorities because nft 1.0.6 accepts the
// "dstnat" keyword only on prerouting. Dispatch is by verdict maps: `services` looks up
// daddr . l4proto . dport in @service-ips and, for local destinations, l4proto . dport in
// @service-nodeports. service-<hash>-ns/name/proto/port chains masquerade off-cluster sources,
// check the per-endpoint affinity sets and pick an endpoint with `numgen random mod N vmap`;
// endpoint-<hash>-…__ip/port chains mark hairpin traffic, update the affinity set and DNAT.
// external-… chains (NodePorts) mark for masquerade and go to the service chain. Services
// without endpoints are in @no-endpoint-services / @no-endpoint-nodeports → reject-chain,
// checked for new connections from the filter base chains (reject is not valid in prerouting).
//
// Every chain and map is added and flushed in the same transaction and then refilled, so the
// kernel switches atomically. Affinity sets are added but NOT flushed (their elements are the
// live client→endpoint bindings); sets and chains of vanished endpoints are deleted.
import { servicePortName, type Endpoint, type ServicePort } from './model.js';
import { isNftAffinitySet, isNftServiceChain, nftAffinitySet, nftEpChain, nftExtChain, nftLocalChain, nftSvcChain } from './names.js';
import { planPort } from './plan.js';
import { MASQ_MARK } from './iptables.js';

export const NFT_TABLE = 'kube-proxy';
const T = `ip ${NFT_TABLE}`;

export interface NftablesOptions {
  clusterCIDR: string;
  /** Chains and sets that exist now (nft -j list table): stale service chains/sets are deleted. */
  existingChains?: readonly string[];
  existingSets?: readonly string[];
}

export interface NftablesRender {
  text: string;
  serviceChains: string[];
  staleChains: string[];
  staleSets: string[];
}

const BASE_CHAINS: ReadonlyArray<[name: string, type: 'filter' | 'nat', hook: string, priority: number]> = [
  ['filter-prerouting', 'filter', 'prerouting', -110],
  ['filter-input', 'filter', 'input', -110],
  ['filter-forward', 'filter', 'forward', -110],
  ['filter-output', 'filter', 'output', -110],
  ['nat-prerouting', 'nat', 'prerouting', -100],
  ['nat-output', 'nat', 'output', -100],
  ['nat-postrouting', 'nat', 'postrouting', 100],
];

const q = (s: string) => `"${s.replace(/"/g, '')}"`;

export function renderNftables(sps: readonly ServicePort[], opts: NftablesOptions): NftablesRender {
  const L: string[] = [];
  const chains = new Set<string>();
  const chain = (c: string) => {
    if (chains.has(c)) return;
    chains.add(c);
    L.push(`add chain ${T} ${c}`, `flush chain ${T} ${c}`);
  };
  const rule = (c: string, r: string) => L.push(`add rule ${T} ${c} ${r}`);
  // one element per key: two services claiming the same external IP:port (the API allows it)
  // must not fail the whole transaction; the first one wins, as the first iptables rule would
  const keys = new Set<string>();
  const element = (map: string, key: string, rest: string) => {
    if (keys.has(`${map} ${key}`)) return;
    keys.add(`${map} ${key}`);
    L.push(`add element ${T} ${map} { ${key}${rest} }`);
  };

  L.push(`add table ${T} { comment ${q('rules for kube-proxy')} ; }`);
  for (const [name, type, hook, prio] of BASE_CHAINS) {
    L.push(`add chain ${T} ${name} { type ${type} hook ${hook} priority ${prio} ; }`, `flush chain ${T} ${name}`);
  }
  for (const c of ['endpoints-check', 'firewall-check', 'services', 'masquerading', 'mark-for-masquerade']) chain(c);
  rule('filter-input', 'ct state new jump endpoints-check');
  rule('filter-forward', 'ct state new jump endpoints-check');
  rule('filter-output', 'ct state new jump endpoints-check');
  rule('filter-prerouting', 'ct state new jump firewall-check');
  rule('filter-output', 'ct state new jump firewall-check');
  rule('nat-output', 'jump services');
  rule('nat-prerouting', 'jump services');
  rule('nat-postrouting', 'jump masquerading');

  rule('mark-for-masquerade', `mark set mark or ${MASQ_MARK}`);
  rule('masquerading', `mark and ${MASQ_MARK} == 0 return`);
  // clear the mark so a packet that re-enters the stack is not masqueraded twice
  rule('masquerading', `mark set mark xor ${MASQ_MARK}`);
  rule('masquerading', 'masquerade fully-random');

  const maps: Array<[string, string, string]> = [
    ['no-endpoint-services', 'ipv4_addr . inet_proto . inet_service : verdict', 'vmap to drop or reject packets to services with no endpoints'],
    ['no-endpoint-nodeports', 'inet_proto . inet_service : verdict', 'vmap to drop or reject packets to service nodeports with no endpoints'],
    ['firewall-ips', 'ipv4_addr . inet_proto . inet_service : verdict', 'destinations that are subject to LoadBalancerSourceRanges'],
    ['service-ips', 'ipv4_addr . inet_proto . inet_service : verdict', 'ClusterIP, ExternalIP and LoadBalancer IP traffic'],
    ['service-nodeports', 'inet_proto . inet_service : verdict', 'NodePort traffic'],
  ];
  for (const [name, type, c] of maps) L.push(`add map ${T} ${name} { type ${type} ; comment ${q(c)} ; }`, `flush map ${T} ${name}`);

  L.push(`add chain ${T} reject-chain { comment ${q('helper for @no-endpoint-services / @no-endpoint-nodeports')} ; }`, `flush chain ${T} reject-chain`);
  chains.add('reject-chain');
  rule('reject-chain', 'reject');
  rule('endpoints-check', 'ip daddr . meta l4proto . th dport vmap @no-endpoint-services');
  // NodePorts answer on every local address but loopback
  rule('endpoints-check', 'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports');
  rule('firewall-check', 'ip daddr . meta l4proto . th dport vmap @firewall-ips');
  rule('services', 'ip daddr . meta l4proto . th dport vmap @service-ips');
  rule('services', 'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports');

  const serviceChains: string[] = [];
  const sets = new Set<string>();
  for (const sp of sps) {
    const name = servicePortName(sp);
    const p = sp.protocol.toLowerCase();
    const plan = planPort(sp);
    // no endpoints at all → reject; none on this node for a Local policy → drop
    const noEp = plan.hasEndpoints ? 'drop' : 'goto reject-chain';
    if (!plan.hasInternal) element('no-endpoint-services', `${sp.clusterIP} . ${p} . ${sp.port}`, ` comment ${q(name)} : ${noEp}`);
    if (sp.nodePort > 0 && !plan.hasExternal) element('no-endpoint-nodeports', `${p} . ${sp.nodePort}`, ` comment ${q(name)} : ${noEp}`);
    for (const eip of plan.hasExternal ? [] : (sp.externalIPs ?? [])) element('no-endpoint-services', `${eip} . ${p} . ${sp.port}`, ` comment ${q(name)} : ${noEp}`);
    if (!plan.hasEndpoints) continue;

    const svc = nftSvcChain(sp);
    const loc = nftLocalChain(sp);
    const ext = nftExtChain(sp);
    const internalChain = plan.internalChain === 'local' ? loc : svc;
    const externalChain = plan.externalChain === 'local' ? loc : svc;
    // chains first: map elements and rules may only name chains that exist
    for (const ep of plan.reachable) chain(nftEpChain(sp, ep));
    if (plan.usesClusterChain) chain(svc);
    if (plan.usesLocalChain) chain(loc);
    if (plan.usesExternalChain) chain(ext);
    serviceChains.push(
      ...(plan.usesClusterChain ? [svc] : []),
      ...(plan.usesLocalChain ? [loc] : []),
      ...(plan.usesExternalChain ? [ext] : []),
      ...plan.reachable.map((ep) => nftEpChain(sp, ep)),
    );

    if (plan.hasInternal) {
      element('service-ips', `${sp.clusterIP} . ${p} . ${sp.port}`, ` : goto ${internalChain}`);
      // off-cluster clients reaching a ClusterIP are masqueraded; pod clients keep their source
      rule(internalChain, `ip daddr ${sp.clusterIP} ${p} dport ${sp.port} ip saddr != ${opts.clusterCIDR} jump mark-for-masquerade`);
    }
    if (plan.usesExternalChain) {
      if (sp.nodePort > 0) element('service-nodeports', `${p} . ${sp.nodePort}`, ` : goto ${ext}`);
      for (const eip of sp.externalIPs ?? []) element('service-ips', `${eip} . ${p} . ${sp.port}`, ` : goto ${ext}`);
      if (!sp.externalLocal) {
        // externalTrafficPolicy Cluster: the endpoint may be on another node, so always SNAT
        rule(ext, 'jump mark-for-masquerade');
      } else {
        // Local keeps the client's address; pods and the node itself are short-circuited to the
        // cluster endpoints (the node masqueraded), as if they had gone out and back in
        rule(ext, `ip saddr ${opts.clusterCIDR} goto ${svc} comment ${q('short-circuit pod traffic')}`);
        rule(ext, `fib saddr type local jump mark-for-masquerade comment ${q('masquerade local traffic')}`);
        rule(ext, `fib saddr type local goto ${svc} comment ${q('short-circuit local traffic')}`);
      }
      if (plan.hasExternal) rule(ext, `goto ${externalChain}`);
    }
    if (sp.affinitySeconds !== undefined) {
      for (const ep of plan.reachable) {
        const set = nftAffinitySet(sp, ep);
        sets.add(set);
        L.push(`add set ${T} ${set} { type ipv4_addr ; flags dynamic,timeout ; timeout ${sp.affinitySeconds}s ; }`);
      }
    }
    if (plan.usesClusterChain) endpointRules(rule, sp, svc, plan.clusterEps);
    if (plan.usesLocalChain) endpointRules(rule, sp, loc, plan.localEps);
    for (const ep of plan.reachable) {
      const c = nftEpChain(sp, ep);
      // hairpin: an endpoint reaching itself through the service must not see its own address
      rule(c, `ip saddr ${ep.ip} jump mark-for-masquerade`);
      if (sp.affinitySeconds !== undefined) rule(c, `update @${nftAffinitySet(sp, ep)} { ip saddr }`);
      rule(c, `meta l4proto ${p} dnat to ${ep.ip}:${ep.port}`);
    }
  }

  // Stale chains are no longer referenced once the maps and service chains above are refilled
  // (kernels ≥ 6.2 notice that within the transaction, so they can go in the same one); a stale
  // affinity set is only referenced from stale chains, which are flushed first.
  const staleChains = (opts.existingChains ?? []).filter((c) => isNftServiceChain(c) && !chains.has(c)).sort();
  const staleSets = (opts.existingSets ?? []).filter((s) => isNftAffinitySet(s) && !sets.has(s)).sort();
  for (const c of staleChains) L.push(`flush chain ${T} ${c}`);
  for (const s of staleSets) L.push(`delete set ${T} ${s}`);
  for (const c of staleChains) L.push(`delete chain ${T} ${c}`);

  return { text: `${L.join('\n')}\n`, serviceChains, staleChains, staleSets };
}

/** Affinity checks, then a uniform random choice among the endpoints. */
function endpointRules(rule: (c: string, r: string) => void, sp: ServicePort, chain: string, eps: readonly Endpoint[]): void {
  if (sp.affinitySeconds !== undefined) for (const ep of eps) rule(chain, `ip saddr @${nftAffinitySet(sp, ep)} goto ${nftEpChain(sp, ep)}`);
  rule(chain, `numgen random mod ${eps.length} vmap { ${eps.map((ep, i) => `${i} : goto ${nftEpChain(sp, ep)}`).join(', ')} }`);
}

interface NftJson {
  nftables?: Array<{ chain?: { name?: string }; set?: { name?: string } }>;
}

/** Chain and set names from `nft -j list table ip kube-proxy`. */
export function namesInNftJson(json: unknown): { chains: string[]; sets: string[] } {
  const chains: string[] = [];
  const sets: string[] = [];
  for (const o of (json as NftJson)?.nftables ?? []) {
    if (typeof o.chain?.name === 'string') chains.push(o.chain.name);
    if (typeof o.set?.name === 'string') sets.push(o.set.name);
  }
  return { chains, sets };
}
