// NetworkPolicy records -> exactly what the pol_* maps must hold for this node's endpoints
// (bpf/lib/policy.h defines the evaluation). Pure and deterministic: the same input gives the
// same ids and entries, so a restarted agent writes nothing.
//
// Per local pod and direction, the rules of every policy selecting it become rule SLOTS (a peer
// set + port ranges); identical slot lists share one ruleset. A set is identified by its
// DEFINITION (selectors, ipBlocks, named-port filter), not its members, so pod churn rewrites set
// members in place and never renames rulesets.
import { contains, formatPrefix, isIpv6, parseCidr, partition, type Prefix, type SetItems } from './cidr.js';
import { assignIds } from './ids.js';
import { isDeadRule } from './parse.js';
import { PodIndex, resolveNamedPort, type MemberPod } from './pod-index.js';
import { localPodsOf } from './pod-store.js';
import { ANY_PORTS, compilePorts, normalizeRanges, PROTO_NUMBER, portRangeText, type PortRange } from './ports.js';
import { isEmptySelector, selectorKey, selectorMatches, selectorText } from './selector.js';
import type {
  PodRecord,
  CompiledEndpoint,
  CompiledPolicy,
  CompiledRuleset,
  CompiledSet,
  CompiledSlot,
  PolicyInput,
  PolicyPeer,
  PolicyRecord,
  PolicyWarning,
  Protocol,
} from './types.js';

export const POL_SLOTS = 64;
export const SET_HOST = 1;
export const EP_F_INGRESS_ISOLATED = 1;
export const EP_F_EGRESS_ISOLATED = 2;

type Dir = 'ingress' | 'egress';
interface RuleRef {
  policyId: number;
  policy: string;
  rule: number;
}
/** A set by definition: its members are computed once per compile. */
interface SetDef {
  key: string;
  text: string;
  items: () => SetItems;
}
interface Cand {
  set?: SetDef; // undefined = any peer
  ranges: PortRange[];
  rules: RuleRef[];
}

const rangesKey = (r: readonly PortRange[]): string => r.map((x) => `${x.proto}/${x.lo}/${x.hi}`).join(',');

export function compilePolicy(input: PolicyInput): CompiledPolicy {
  return new Compiler(input).run();
}

class Compiler {
  private readonly warnings: PolicyWarning[] = [];
  private readonly warned = new Set<string>();
  private index: PodIndex | undefined;
  private readonly policyIds: Map<string, number>;
  private readonly defs = new Map<string, SetDef>();
  private readonly itemsCache = new Map<string, SetItems>();
  private readonly peerPods = new Map<string, MemberPod[]>();
  private readonly candCache = new Map<string, Cand[]>();

  constructor(private readonly input: PolicyInput) {
    this.policyIds = assignIds([...input.policies.values()].map((p) => `${p.namespace}/${p.name}`));
  }

  /** Every pod indexed by namespace (and by label on demand): built on the first selector that
   * needs it, so a node whose pods no policy selects never indexes the cluster's million pods. */
  private get idx(): PodIndex {
    const pods = this.input.pods;
    // a columnar store hands out members from its columns, without a record per cluster Pod
    return (this.index ??= new PodIndex(pods.forEachMember ? { forEachMember: (cb) => pods.forEachMember!(cb) } : pods.values(), this.input.namespaces));
  }

  private warn(w: PolicyWarning): void {
    const k = `${w.code}\0${w.policy ?? ''}\0${w.pod ?? ''}\0${w.message}`;
    if (this.warned.has(k)) return;
    this.warned.add(k);
    this.warnings.push(w);
  }

  run(): CompiledPolicy {
    const byNs = new Map<string, PolicyRecord[]>();
    for (const key of [...this.input.policies.keys()].sort()) {
      const p = this.input.policies.get(key)!;
      let l = byNs.get(p.namespace);
      if (!l) byNs.set(p.namespace, (l = []));
      l.push(p);
    }
    // 1. slot lists per local endpoint and direction
    const eps: { ip: string; pod: string; slots: Record<Dir, Cand[] | undefined>; policies: Record<Dir, string[]> }[] = [];
    // a columnar store answers from its IP column, without a record per cluster Pod
    const local: PodRecord[] = localPodsOf(this.input.pods, this.input.localIps);
    const pods = local
      .sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
    const seenIp = new Set<string>();
    for (const pod of pods) {
      if (seenIp.has(pod.ip!)) continue; // a stale record of a recycled IP: the first wins
      seenIp.add(pod.ip!);
      const selecting = (byNs.get(pod.namespace) ?? []).filter((p) => selectorMatches(p.podSelector, pod.labels));
      const slots: Record<Dir, Cand[] | undefined> = { ingress: undefined, egress: undefined };
      const policies: Record<Dir, string[]> = { ingress: [], egress: [] };
      for (const dir of ['ingress', 'egress'] as const) {
        const type = dir === 'ingress' ? 'Ingress' : 'Egress';
        const ps = selecting.filter((p) => p.policyTypes.includes(type));
        if (!ps.length) continue;
        policies[dir] = ps.map((p) => `${p.namespace}/${p.name}`);
        const cands: Cand[] = [];
        for (const p of ps) cands.push(...this.policyCands(p, dir, pod));
        slots[dir] = this.fitSlots(cands, `${pod.namespace}/${pod.name}`, dir);
      }
      if (slots.ingress || slots.egress) eps.push({ ip: pod.ip!, pod: `${pod.namespace}/${pod.name}`, slots, policies });
    }
    // 2. set ids, by definition
    const used = new Map<string, SetDef>();
    for (const ep of eps) for (const d of ['ingress', 'egress'] as const) for (const c of ep.slots[d] ?? []) if (c.set) used.set(c.set.key, c.set);
    const setIds = assignIds(used.keys(), [SET_HOST]);
    // 3. rulesets, by content
    const rsContent = new Map<string, { dir: Dir; cands: Cand[] }>();
    const contentOf = (dir: Dir, cands: Cand[]): string =>
      `${dir}|` + cands.map((c) => `${c.set ? setIds.get(c.set.key) : 'any'};${rangesKey(c.ranges)};${c.rules.map((r) => `${r.policyId}:${r.rule}`).join('+')}`).join('|');
    const epContent: { ingress?: string; egress?: string }[] = eps.map((ep) => {
      const out: { ingress?: string; egress?: string } = {};
      for (const d of ['ingress', 'egress'] as const) {
        const cands = ep.slots[d];
        if (!cands) continue;
        const key = contentOf(d, cands);
        if (!rsContent.has(key)) rsContent.set(key, { dir: d, cands });
        out[d] = key;
      }
      return out;
    });
    const rsIds = assignIds(rsContent.keys());
    const rulesets: CompiledRuleset[] = [...rsContent.entries()]
      .map(([key, { dir, cands }]) => this.ruleset(rsIds.get(key)!, dir, cands, setIds))
      .sort((a, b) => a.id - b.id);
    const endpoints: CompiledEndpoint[] = eps.map((ep, i) => {
      const c = epContent[i]!;
      const ingress = c.ingress ? rsIds.get(c.ingress)! : 0;
      const egress = c.egress ? rsIds.get(c.egress)! : 0;
      return {
        ip: ep.ip,
        pod: ep.pod,
        ingress,
        egress,
        flags: (ep.slots.ingress ? EP_F_INGRESS_ISOLATED : 0) | (ep.slots.egress ? EP_F_EGRESS_ISOLATED : 0),
        policies: ep.policies,
      };
    });
    // 4. set members
    const sets: CompiledSet[] = [
      {
        id: SET_HOST,
        entries: [...new Set(this.input.hostIps)].filter((ip) => parseCidr(`${ip}/32`)).sort().map((ip) => ({ cidr: `${ip}/32`, include: true })),
        description: "this node's addresses (ingress from them is always admitted)",
      },
    ];
    for (const [key, def] of used) {
      const entries = partition(this.items(def)).map((e) => ({ cidr: formatPrefix(e.prefix), include: e.include }));
      sets.push({ id: setIds.get(key)!, entries, description: def.text });
    }
    sets.sort((a, b) => a.id - b.id);
    const policyIds = new Map<number, string>();
    for (const [name, id] of this.policyIds) policyIds.set(id, name);
    return { endpoints, rulesets, sets, policyIds, warnings: this.warnings };
  }

  private items(def: SetDef): SetItems {
    let it = this.itemsCache.get(def.key);
    if (!it) this.itemsCache.set(def.key, (it = def.items()));
    return it;
  }

  private def(key: string, text: string, items: () => SetItems): SetDef {
    let d = this.defs.get(key);
    if (!d) this.defs.set(key, (d = { key, text, items }));
    return d;
  }

  /** The slot candidates one policy contributes for a direction (named ports of ingress resolve on pod). */
  private policyCands(p: PolicyRecord, dir: Dir, pod: { ports: readonly { name: string; protocol: Protocol; port: number }[]; namespace: string; name: string }): Cand[] {
    const rules = (dir === 'ingress' ? p.ingress : p.egress) ?? [];
    const podDependent = dir === 'ingress' && rules.some((r) => r.ports?.some((x) => typeof x.port === 'string'));
    const cacheKey = `${p.namespace}/${p.name}\0${dir}`;
    if (!podDependent) {
      const hit = this.candCache.get(cacheKey);
      if (hit) return hit;
    }
    const policy = `${p.namespace}/${p.name}`;
    const policyId = this.policyIds.get(policy)!;
    const out: Cand[] = [];
    rules.forEach((rule, ruleIndex) => {
      if (isDeadRule(rule)) return;
      const ref: RuleRef = { policyId, policy, rule: ruleIndex };
      const anyPeer = !rule.peers || rule.peers.length === 0;
      const ranges: PortRange[] = [];
      const named: { name: string; protocol: Protocol }[] = [];
      if (!rule.ports || rule.ports.length === 0) ranges.push(...ANY_PORTS);
      for (const port of rule.ports ?? []) {
        const proto = PROTO_NUMBER[port.protocol];
        if (port.port === undefined) ranges.push({ proto, lo: 0, hi: 65535 });
        else if (typeof port.port === 'number') ranges.push({ proto, lo: port.port, hi: port.endPort ?? port.port });
        else if (dir === 'ingress') {
          const n = resolveNamedPort(pod as never, port.port, port.protocol);
          if (n === undefined) {
            this.warn({
              code: 'NAMED_PORT_UNRESOLVED',
              policy,
              pod: `${pod.namespace}/${pod.name}`,
              message: `ingress rule ${ruleIndex}: the pod has no ${port.protocol} container port named "${port.port}": that port admits nothing`,
            });
          } else ranges.push({ proto, lo: n, hi: n });
        } else named.push({ name: port.port, protocol: port.protocol });
      }
      const peerSet = anyPeer ? undefined : this.peersDef(p, rule.peers!);
      if (ranges.length) out.push({ ...(peerSet ? { set: peerSet } : {}), ranges: normalizeRanges(ranges), rules: [ref] });
      // egress named ports: resolved on each peer POD; one slot per resolved (proto, number)
      for (const np of named) {
        const proto = PROTO_NUMBER[np.protocol];
        const byNumber = new Map<number, MemberPod[]>();
        if (anyPeer) {
          for (const { m, port } of this.idx.withNamedPort(np.name, np.protocol)) {
            const l = byNumber.get(port) ?? [];
            l.push(m);
            byNumber.set(port, l);
          }
        } else {
          for (const m of this.podsOfPeers(p, rule.peers!)) {
            const n = resolveNamedPort(m, np.name, np.protocol);
            if (n === undefined) continue;
            const l = byNumber.get(n) ?? [];
            l.push(m);
            byNumber.set(n, l);
          }
        }
        if (!byNumber.size) {
          this.warn({ code: 'NAMED_PORT_UNRESOLVED', policy, message: `egress rule ${ruleIndex}: no peer pod has a ${np.protocol} container port named "${np.name}": that port admits nothing (yet)` });
        }
        for (const n of [...byNumber.keys()].sort((a, b) => a - b)) {
          const members = byNumber.get(n)!;
          const base = anyPeer ? 'any pod' : this.peersText(p, rule.peers!);
          const key = JSON.stringify(['named', anyPeer ? null : this.peersKey(p, rule.peers!), np.name, np.protocol, n]);
          const set = this.def(key, `${base} with ${np.protocol} port "${np.name}" = ${n}`, () => ({ blocks: [], pods: members.map((m) => m.addr) }));
          out.push({ set, ranges: [{ proto, lo: n, hi: n }], rules: [ref] });
        }
      }
    });
    if (!podDependent) this.candCache.set(cacheKey, out);
    return out;
  }

  private normPeer(p: PolicyRecord, peer: PolicyPeer): string {
    if (peer.ipBlock) return JSON.stringify(['ip', peer.ipBlock.cidr, [...(peer.ipBlock.except ?? [])].sort()]);
    return JSON.stringify(['sel', peer.namespaceSelector ? null : p.namespace, peer.namespaceSelector ? selectorKey(peer.namespaceSelector) : null, selectorKey(peer.podSelector ?? {})]);
  }

  private peersKey(p: PolicyRecord, peers: readonly PolicyPeer[]): string {
    return JSON.stringify([...new Set(peers.map((x) => this.normPeer(p, x)))].sort());
  }

  private peersText(p: PolicyRecord, peers: readonly PolicyPeer[]): string {
    return peers
      .map((peer) => {
        if (peer.ipBlock) return peer.ipBlock.cidr + (peer.ipBlock.except?.length ? ` except ${peer.ipBlock.except.join(',')}` : '');
        const ns = peer.namespaceSelector ? (isEmptySelector(peer.namespaceSelector) ? 'all namespaces' : `namespaces ${selectorText(peer.namespaceSelector)}`) : `ns ${p.namespace}`;
        const pods = !peer.podSelector || isEmptySelector(peer.podSelector) ? 'all pods' : `pods ${selectorText(peer.podSelector)}`;
        return `${ns} ${pods}`;
      })
      .join('; ');
  }

  /** The member pods a rule's selector peers select (ipBlocks excluded). */
  private podsOfPeers(p: PolicyRecord, peers: readonly PolicyPeer[]): MemberPod[] {
    const key = this.peersKey(p, peers);
    let out = this.peerPods.get(key);
    if (out) return out;
    const seen = new Set<MemberPod>();
    for (const peer of peers) {
      if (peer.ipBlock) continue;
      const nss = peer.namespaceSelector ? this.idx.selectNamespaces(peer.namespaceSelector) : [p.namespace];
      for (const ns of nss) for (const m of this.idx.selectPods(ns, peer.podSelector ?? {})) seen.add(m);
    }
    out = [...seen];
    this.peerPods.set(key, out);
    return out;
  }

  private peersDef(p: PolicyRecord, peers: readonly PolicyPeer[]): SetDef {
    const key = this.peersKey(p, peers);
    const policy = `${p.namespace}/${p.name}`;
    return this.def(key, this.peersText(p, peers), () => {
      const blocks: { cidr: Prefix; except: Prefix[] }[] = [];
      for (const peer of peers) {
        if (!peer.ipBlock) continue;
        const { cidr, except = [] } = peer.ipBlock;
        if (isIpv6(cidr)) {
          this.warn({ code: 'IPV6_CIDR', policy, message: `ipBlock ${cidr} is IPv6: the IPv4-only datapath never matches it` });
          continue;
        }
        const c = parseCidr(cidr);
        if (!c) {
          this.warn({ code: 'INVALID_POLICY', policy, message: `ipBlock cidr ${JSON.stringify(cidr)} is not an IPv4 CIDR (a.b.c.d/n): that peer matches nothing` });
          continue;
        }
        const ex: Prefix[] = [];
        for (const e of except) {
          const x = isIpv6(e) ? undefined : parseCidr(e);
          if (!x) {
            if (!isIpv6(e)) this.warn({ code: 'INVALID_POLICY', policy, message: `ipBlock except ${JSON.stringify(e)} is not an IPv4 CIDR: ignored` });
            continue;
          }
          ex.push(x);
        }
        // the API rejects an except outside its cidr; one covering the whole cidr empties it
        if (ex.some((x) => contains(x, c))) continue;
        blocks.push({ cidr: c, except: ex });
      }
      return { blocks, pods: this.podsOfPeers(p, peers).map((m) => m.addr) };
    });
  }

  /** Dedupe identical slots; over 64: merge slots with equal ports; still over: fail closed. */
  private fitSlots(cands: Cand[], pod: string, dir: Dir): Cand[] {
    const byKey = new Map<string, Cand>();
    for (const c of cands) {
      const k = `${c.set?.key ?? 'any'}\0${rangesKey(c.ranges)}`;
      const have = byKey.get(k);
      if (have) have.rules = [...have.rules, ...c.rules];
      else byKey.set(k, { ...c, rules: [...c.rules] });
    }
    let slots = [...byKey.values()];
    if (slots.length <= POL_SLOTS) return slots;
    const byPorts = new Map<string, Cand[]>();
    for (const c of slots) {
      const k = rangesKey(c.ranges);
      byPorts.set(k, [...(byPorts.get(k) ?? []), c]);
    }
    slots = [...byPorts.values()].map((group) => {
      if (group.length === 1) return group[0]!;
      const rules = group.flatMap((c) => c.rules);
      if (group.some((c) => !c.set)) return { ranges: group[0]!.ranges, rules };
      const members = group.map((c) => c.set!);
      const key = JSON.stringify(['union', members.map((m) => m.key).sort()]);
      const set = this.def(key, members.map((m) => m.text).join(' | '), () => ({
        blocks: members.flatMap((m) => this.items(m).blocks),
        pods: members.flatMap((m) => this.items(m).pods),
      }));
      return { set, ranges: group[0]!.ranges, rules };
    });
    if (slots.length > POL_SLOTS) {
      this.warn({
        code: 'SLOTS_EXCEEDED',
        pod,
        message: `${dir}: the policies selecting this pod need ${slots.length} rule slots after merging rules with equal ports; the datapath has ${POL_SLOTS}: the last ${slots.length - POL_SLOTS} admit nothing (fail closed)`,
      });
      slots = slots.slice(0, POL_SLOTS);
    }
    return slots;
  }

  private ruleset(id: number, direction: Dir, cands: Cand[], setIds: Map<string, number>): CompiledRuleset {
    const slots: CompiledSlot[] = cands.map((c, i) => ({
      slot: i,
      set: c.set ? setIds.get(c.set.key)! : 0,
      anyPeer: !c.set,
      rules: c.rules,
      ports: c.ranges.map(portRangeText).join(', '),
      peers: c.set ? c.set.text : 'any',
    }));
    return { id, direction, slots, ports: compilePorts(cands.map((c) => c.ranges)) };
  }
}
