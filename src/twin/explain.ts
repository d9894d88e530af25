// A twin run in words: the parsed packet, every map lookup with its decoded key and value, the
// FIB step, and the verdict ("hit endpoint 10.244.1.7 → redirect_peer to ifindex 14 (pod
// default/web-1)", "spoofed source: drop, reason DROP_SPOOFED_SRC_IP"). The verdict itself is
// the twin's; this file only describes it, so an unknown new reason or map still prints.
import { decodeEndpoint, decodeEndpointKey, enumNames, readU32 } from '../maps/codec.js';
import { decodeCtEntry, decodeCtKey, protoName } from '../maps/conntrack.js';
import { enums, maps as mapLayouts, structs } from '../maps/generated/layouts.js';
import type { NodeNames } from '../maps/names.js';
import { decodeStruct, formatIpv4Bytes, type FieldValue, type StructLayout } from './struct.js';
import type { TwinLookup, TwinRun } from './wasm.js';

export interface TraceStep {
  kind: 'packet' | 'parse' | 'lookup' | 'check' | 'policy' | 'fib' | 'verdict';
  text: string;
  data?: Record<string, unknown>;
}

const l3Names = enumNames(enums.pw_l3);
const modeNames = enumNames(enums.pw_mode);
const routeKindNames = enumNames(enums.pw_route_kind);
const fibNames = enumNames(enums.pw_fib_rc);
const l4Names = enumNames(enums.pw_l4);
const protoNames: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };

/** Short words for a reason; the enum name is always printed next to them. */
const REASON_WORDS: Record<string, string> = {
  FWD_LOCAL_PEER: 'destination is a pod on this node',
  PASS_STACK_ARP: 'ARP',
  PASS_STACK_NON_IP: 'not IPv4',
  PASS_STACK_MISS: 'destination is not a pod podwire routes',
  DROP_MALFORMED: 'malformed Ethernet/IPv4 header',
  DROP_SPOOFED_SRC_IP: 'spoofed source',
  DROP_SPOOFED_SRC_IFINDEX: 'spoofed source (the IP of another pod veth)',
  DROP_SPOOFED_SRC_MAC: 'spoofed source MAC',
  DROP_TTL_EXCEEDED: 'TTL exceeded',
  DROP_REWRITE_FAILED: 'packet rewrite failed',
  FWD_REMOTE_NATIVE: 'pod on another node, native routing',
  FWD_REMOTE_VXLAN: 'pod on another node, VXLAN',
  FWD_REMOTE_VXLAN_BPF: 'pod on another node, VXLAN encapsulated by the program (no device on the path)',
  PASS_STACK_TUNNEL_GSO: 'a UDP GSO aggregate of our tunnel: left to the VXLAN device, which clears its tunnel GSO state on decapsulation (tc cannot on this kernel)',
  PASS_STACK_FRAG_NEEDED: 'via stack: with the 50 bytes of VXLAN headers the packet exceeds the egress MTU; the stack answers a DF sender with ICMP frag-needed',
  DROP_NO_ENDPOINT: 'no pod at this address of our pod CIDR',
  DROP_FIB_FAILED: 'no usable route to the remote node',
  DROP_FIB_FWD_DISABLED: 'forwarding is disabled on the ingress device',
  DROP_TUNNEL_FAILED: 'tunnel key or VXLAN encapsulation/decapsulation refused',
  PASS_STACK_NO_NODE_CFG: 'pod on another node, but this node has no datapath mode configured yet',
  PASS_STACK_UNPARSED: 'not well-formed IPv4',
  PASS_STACK_NAT_REPLY: "via stack: the destination initiated a flow through the node's stack (Service, NodePort, hostPort or masquerade NAT), so this reply must meet the conntrack that un-NATs it",
  PASS_STACK_ICMP_ERROR: 'via stack: an ICMP error, which the stack relates to its flow (and un-NATs) before delivering',
  PASS_STACK_FRAGMENT: 'via stack: an IPv4 fragment, which the stack reassembles before judging',
  PASS_STACK_IP_OPTIONS: 'via stack: IPv4 options, which the stack processes',
  DROP_IPV6: 'IPv6 from a pod (the pod network is IPv4-only)',
  DROP_BW_EGRESS: "over the sending pod's egress bandwidth limit (its token bucket in the bw map is more than its burst behind)",
  DROP_BW_INGRESS: "over the receiving pod's ingress bandwidth limit (its token bucket in the bw map is more than its burst behind)",
  FWD_REPLY_TO_NODE: "reply to an address that reached the pod straight from another node: routed back past this node's stack, which never saw the request",
  POLICY_DENIED_INGRESS: 'NetworkPolicy: the destination pod is isolated for ingress and no rule admits this peer and port',
  POLICY_DENIED_EGRESS: 'NetworkPolicy: the source pod is isolated for egress and no rule admits this peer and port',
  UNSPEC: 'admitted',
};

/** What the agent's policy model (src/policy, `${stateDir}/policy.json`) knows about ids; trace
 * works without it and then prints the ids the maps hold. */
export interface PolicyNames {
  policyName(id: number): string | undefined;
  /** The rules a ruleset's slot carries, in words. */
  slot(ruleset: number, slot: number): { rules: readonly { policy: string; rule: number }[]; ports: string; peers: string } | undefined;
  /** The policies isolating a pod, per direction. */
  isolatedBy?(podIp: string, direction: 'ingress' | 'egress'): readonly string[] | undefined;
}

const polStepNames = enumNames(enums.pw_pol_step);
const SLOT_NONE = 0xff;
const SLOT_DENY = 0xfe;
const SLOT_HOST = 0xfd;

function describePolicyDirection(run: TwinRun, dir: 'ingress' | 'egress', names: NodeNames, policy: PolicyNames | undefined): TraceStep | undefined {
  const v = run.verdict;
  const ruleset = Number(v[dir === 'ingress' ? 'pol_ruleset_in' : 'pol_ruleset_eg']);
  const slot = Number(v[dir === 'ingress' ? 'pol_slot_in' : 'pol_slot_eg']);
  if (slot === SLOT_NONE) return undefined;
  const reply = Number(v['pol_reply']) === 1;
  const pod = dir === 'ingress' ? String(run.pkt[reply ? 'saddr' : 'daddr']) : String(run.pkt[reply ? 'daddr' : 'saddr']);
  const peer = dir === 'ingress' ? String(run.pkt[reply ? 'daddr' : 'saddr']) : String(run.pkt[reply ? 'saddr' : 'daddr']);
  const who = `pod ${names.podLabel(pod) ?? pod}`;
  const by = policy?.isolatedBy?.(pod, dir);
  const isolated = `${who} is isolated for ${dir}${by?.length ? ` by ${by.join(', ')}` : ''}${ruleset ? ` (ruleset ${ruleset})` : ' but has no ruleset yet (the agent is between writes)'}`;
  let text: string;
  if (slot === SLOT_DENY) {
    text = `${dir}: ${isolated}; no rule admits ${peer}${peerSuffix(names, peer)} → denied`;
  } else if (slot === SLOT_HOST) {
    text = `${dir}: ${isolated}; ${peer} is this node's own address (kubelet probes and the node are always admitted) → admitted`;
  } else {
    const s = policy?.slot(ruleset, slot);
    const rules = s?.rules.length ? s.rules.map((r) => `${r.policy} ${dir} rule #${r.rule}`).join(' or ') : `rule slot ${slot}`;
    text = `${dir}: ${isolated}; admitted by ${rules}${s ? ` (${s.ports} from/to ${s.peers})` : ''}`;
  }
  return { kind: 'policy', text, data: { direction: dir, pod, peer, ruleset, slot: slot === SLOT_DENY ? 'deny' : slot === SLOT_HOST ? 'host' : slot, ...(by ? { policies: by } : {}) } };
}

function peerSuffix(names: NodeNames, ip: string): string {
  const label = names.podLabel(ip);
  return label ? ` (pod ${label})` : '';
}

/** The NetworkPolicy step in words: conntrack state first, then each judged direction. */
function describePolicy(run: TwinRun, names: NodeNames, policy: PolicyNames | undefined): TraceStep[] {
  const step = polStepNames[Number(run.verdict['pol_step'])] ?? 'NONE';
  if (step === 'NONE') return [];
  const words: Record<string, string> = {
    ESTABLISHED: 'an established flow podwire already admitted (ct flow entry of the current policy revision): no rule is consulted',
    REPLY: 'the reply of a flow podwire admitted (reverse ct flow entry): admitted without consulting rules',
    NEW: 'a new flow: the rules decide, and an admitted flow is recorded in both directions',
    RECHECK: 'a flow admitted under an older policy revision: judged again under the current one',
    DENIED: 'the rules admit nothing here',
    DEFERRED: "egress to a Service address: judged on the backend after kube-proxy's DNAT (to_pod on this node, to_uplink toward another node)",
    UNTRACKED: 'a fragment or a packet with IP options: judged without ports and not recorded',
  };
  const steps: TraceStep[] = [{ kind: 'policy', text: `policy: ${words[step] ?? step.toLowerCase()}`, data: { step } }];
  for (const dir of ['egress', 'ingress'] as const) {
    const d = describePolicyDirection(run, dir, names, policy);
    if (d) steps.push(d);
  }
  return steps;
}

export function reasonWords(name: string): string {
  return REASON_WORDS[name] ?? name.toLowerCase().replaceAll('_', ' ');
}

function ifLabel(names: NodeNames, ifindex: number): string {
  const link = names.link(ifindex);
  return link ? `ifindex ${ifindex} (${link.name})` : `ifindex ${ifindex}`;
}

function podSuffix(names: NodeNames, ip: string): string {
  const label = names.podLabel(ip);
  return label ? ` (pod ${label})` : '';
}

function describeLookup(l: TwinLookup, names: NodeNames, run: TwinRun, opts: { nowNs?: bigint } = {}): TraceStep[] {
  const miss = l.value === undefined;
  if (l.map === 'endpoints') {
    const ip = decodeEndpointKey(l.key);
    const role = ip === run.pkt['saddr'] && run.lookups.indexOf(l) === 0 && run.program === 'from_pod' ? 'source ' : '';
    if (miss) return [{ kind: 'lookup', text: `lookup endpoints[${ip}] → miss: ${ip} is no ${role ? 'endpoint' : 'pod'} on this node`, data: { map: 'endpoints', key: ip, hit: false } }];
    const ep = decodeEndpoint(ip, l.value!);
    const steps: TraceStep[] = [
      {
        kind: 'lookup',
        text: `lookup endpoints[${ip}] → hit${podSuffix(names, ip)}: host veth ${ifLabel(names, ep.ifindex)}, pod MAC ${ep.podMac}, host MAC ${ep.hostMac}`,
        data: { map: 'endpoints', key: ip, hit: true, value: ep, ...(names.podLabel(ip) ? { pod: names.podLabel(ip) } : {}) },
      },
    ];
    if (role) {
      const ifOk = ep.ifindex === run.pkt['ifindex'];
      const macOk = ep.podMac === run.pkt['smac'];
      steps.push({
        kind: 'check',
        text:
          `anti-spoofing: arrived on ${ifLabel(names, Number(run.pkt['ifindex']))} ${ifOk ? '= the endpoint\'s veth ✓' : `≠ the endpoint's veth ${ep.ifindex} ✗`}` +
          (ifOk ? `, source MAC ${String(run.pkt['smac'])} ${macOk ? '= pod MAC ✓' : `≠ pod MAC ${ep.podMac} ✗`}` : ''),
        data: { ifindexMatches: ifOk, macMatches: macOk },
      });
    }
    return steps;
  }
  if (l.map === 'routes') {
    const prefixlen = readU32(l.key, structs.pw_route_key.fields.prefixlen.offset);
    const addr = formatIpv4Bytes(l.key, structs.pw_route_key.fields.addr.offset);
    if (miss) return [{ kind: 'lookup', text: `lookup routes[${addr}/${prefixlen}] (longest prefix) → miss: no pod CIDR covers ${addr}`, data: { map: 'routes', key: addr, hit: false } }];
    const r = decodeStruct(structs.pw_route, l.value!);
    const kind = routeKindNames[Number(r['kind'])] ?? `KIND_${String(r['kind'])}`;
    const what = kind === 'LOCAL' ? "this node's own pod CIDR" : kind === 'REMOTE' ? `pod CIDR of node ${String(r['node_ip'])}` : `an entry of kind ${kind}`;
    return [{ kind: 'lookup', text: `lookup routes[${addr}/${prefixlen}] (longest prefix) → hit: ${what}`, data: { map: 'routes', key: addr, hit: true, value: { ...r, kind } } }];
  }
  if (l.map === 'node_cfg') {
    if (miss) return [{ kind: 'lookup', text: 'read node_cfg[0] → missing', data: { map: 'node_cfg', hit: false } }];
    const c = decodeStruct(structs.pw_node_cfg, l.value!);
    const mode = modeNames[Number(c['mode'])] ?? `MODE_${String(c['mode'])}`;
    const detail = mode === 'VXLAN' ? `, VXLAN device ${ifLabel(names, Number(c['vxlan_ifindex']))}, VNI ${String(c['vni'])}` : mode === 'NATIVE' ? `, uplink ${ifLabel(names, Number(c['uplink_ifindex']))}` : '';
    return [{ kind: 'lookup', text: `read node_cfg[0] → mode ${mode.toLowerCase()}, node IP ${String(c['node_ip'])}${detail}`, data: { map: 'node_cfg', hit: true, value: { ...c, mode } } }];
  }
  if (l.map === 'ct' && decodeCtKey(l.key).kind === 'flow') {
    const key = decodeCtKey(l.key);
    const flow = `${key.addr}:${key.port} → ${key.peer}:${key.peerPort}/${protoName(key.proto)}`;
    if (miss) return [{ kind: 'lookup', text: `lookup ct[flow ${flow}] → miss: no flow admitted by policy yet`, data: { map: 'ct', key, hit: false } }];
    const e = decodeStruct(structs.pw_ct_entry, l.value!);
    const idle = opts.nowNs === undefined ? undefined : Number(opts.nowNs - BigInt(String(e['last_seen_ns']))) / 1e9;
    const reply = (Number(e['flags']) & 1) === 1;
    return [
      {
        kind: 'lookup',
        text: `lookup ct[flow ${flow}] → hit: ${reply ? 'the reply direction of an admitted flow' : 'an admitted flow'}, policy revision ${String(e['revision'])}${idle === undefined || idle < 0 ? '' : `, last seen ${idle.toFixed(1)} s ago`}`,
        data: { map: 'ct', key, hit: true, value: { reply, revision: Number(e['revision']) } },
      },
    ];
  }
  if (l.map === 'pol_state') {
    if (miss) return [{ kind: 'lookup', text: 'read pol_state[0] → missing', data: { map: 'pol_state', hit: false } }];
    const st = decodeStruct(structs.pw_pol_state, l.value!);
    return [{ kind: 'lookup', text: `read pol_state[0] → policy revision ${String(st['revision'])}, ${String(st['egress_isolated'])} local pod(s) isolated for egress`, data: { map: 'pol_state', hit: true, value: st } }];
  }
  if (l.map === 'pol_endpoints') {
    const ip = decodeEndpointKey(l.key);
    if (miss) return [{ kind: 'lookup', text: `lookup pol_endpoints[${ip}] → miss: no ruleset (isolated without rules: nothing admitted)`, data: { map: 'pol_endpoints', key: ip, hit: false } }];
    const pe = decodeStruct(structs.pw_pol_endpoint, l.value!);
    return [{ kind: 'lookup', text: `lookup pol_endpoints[${ip}]${podSuffix(names, ip)} → ingress ruleset ${String(pe['ingress'])}, egress ruleset ${String(pe['egress'])} (0 = not isolated)`, data: { map: 'pol_endpoints', key: ip, hit: true, value: pe } }];
  }
  if (l.map === 'pol_ports') {
    const k = decodeStruct(structs.pw_pol_port_key, l.key);
    const what = `ruleset ${String(k['ruleset'])} ${protoName(Number(k['proto']))}/${String(k['port'])}`;
    if (miss) return [{ kind: 'lookup', text: `lookup pol_ports[${what}] → miss: no rule of the ruleset admits this protocol/port`, data: { map: 'pol_ports', key: k, hit: false } }];
    const bits = Buffer.from(l.value!).readBigUInt64LE(structs.pw_pol_ports.fields.slots.offset);
    const slots = [...Array(64).keys()].filter((i) => (bits >> BigInt(i)) & 1n);
    return [{ kind: 'lookup', text: `lookup pol_ports[${what}] (longest prefix) → rule slots ${slots.join(', ')} admit this port`, data: { map: 'pol_ports', key: k, hit: true, value: { slots } } }];
  }
  if (l.map === 'pol_slots') {
    const k = decodeStruct(structs.pw_pol_slot_key, l.key);
    if (miss) return [{ kind: 'lookup', text: `lookup pol_slots[ruleset ${String(k['ruleset'])} slot ${String(k['slot'])}] → missing`, data: { map: 'pol_slots', key: k, hit: false } }];
    const sv = decodeStruct(structs.pw_pol_slot, l.value!);
    const any = (Number(sv['flags']) & 1) === 1;
    return [{ kind: 'lookup', text: `lookup pol_slots[ruleset ${String(k['ruleset'])} slot ${String(k['slot'])}] → ${any ? 'any peer' : `peers in set ${String(sv['set'])}`}`, data: { map: 'pol_slots', key: k, hit: true, value: sv } }];
  }
  if (l.map === 'pol_sets') {
    const k = decodeStruct(structs.pw_pol_set_key, l.key);
    const set = Number(k['set']);
    const what = set === 1 ? "this node's own addresses" : `set ${set}`;
    if (miss) return [{ kind: 'lookup', text: `lookup pol_sets[${what} ∋ ${String(k['addr'])}] (longest prefix) → miss: not a member`, data: { map: 'pol_sets', key: k, hit: false } }];
    const m = decodeStruct(structs.pw_pol_member, l.value!);
    return [{ kind: 'lookup', text: `lookup pol_sets[${what} ∋ ${String(k['addr'])}] (longest prefix) → ${Number(m['include']) ? 'member' : 'excluded (an ipBlock except)'}`, data: { map: 'pol_sets', key: k, hit: true, value: m } }];
  }
  if (l.map === 'svc_addrs') {
    const addr = formatIpv4Bytes(l.key, 0);
    return [{ kind: 'lookup', text: `lookup svc_addrs[${addr}] → ${miss ? 'miss: not a Service address' : 'hit: a Service address'}`, data: { map: 'svc_addrs', key: addr, hit: !miss } }];
  }
  if (l.map === 'ct') {
    const key = decodeCtKey(l.key);
    const who = `${key.addr}:${key.port}/${protoName(key.proto)}${podSuffix(names, key.addr)}`;
    if (miss) {
      return [{ kind: 'lookup', text: `lookup ct[stack ${who}] → miss: no flow through the node's stack started there, the fast path may deliver`, data: { map: 'ct', key, hit: false } }];
    }
    const e = decodeCtEntry(key, l.value!);
    const idle = opts.nowNs === undefined ? undefined : Number(opts.nowNs - e.lastSeenNs) / 1e9;
    return [
      {
        kind: 'lookup',
        text:
          `lookup ct[stack ${who}] → hit: ${key.addr}:${key.port} initiated a flow through the node's stack (recorded by ${e.origin} on ${ifLabel(names, e.ifindex)}` +
          `${idle === undefined || idle < 0 ? '' : `, last seen ${idle.toFixed(1)} s ago`})`,
        data: { map: 'ct', key, hit: true, value: { origin: e.origin, ifindex: e.ifindex, lastSeenNs: String(e.lastSeenNs), createdNs: String(e.createdNs) } },
      },
    ];
  }
  // a map this file does not know yet: decode with its generated layout
  const layout = (mapLayouts as Record<string, { key: string; value: string }>)[l.map];
  const sl = structs as unknown as Record<string, StructLayout>;
  const dec = (name: string | undefined, b: Buffer): Record<string, FieldValue> | string =>
    name && sl[name] ? decodeStruct(sl[name], b) : b.toString('hex');
  const key = dec(layout?.key, l.key);
  return [
    {
      kind: 'lookup',
      text: `lookup ${l.map}[${JSON.stringify(key)}] → ${miss ? 'miss' : `hit ${JSON.stringify(dec(layout?.value, l.value!))}`}`,
      data: { map: l.map, key, hit: !miss, ...(miss ? {} : { value: dec(layout?.value, l.value!) }) },
    },
  ];
}

function describeParse(run: TwinRun, frame: Uint8Array): TraceStep {
  const p = run.pkt;
  const l3 = l3Names[Number(p['l3'])] ?? `L3_${String(p['l3'])}`;
  const ethertype = frame.length >= 14 ? ((frame[12]! << 8) | frame[13]!) : undefined;
  let text: string;
  if (l3 === 'IPV4') {
    const proto = Number(p['protocol']);
    const l4 = l4Names[Number(p['l4'])] ?? 'OTHER';
    const ports = l4 === 'PORTS' ? ` ${String(p['sport'])} → ${String(p['dport'])}` : l4 === 'ICMP_ECHO' ? ` echo id ${String(p['sport'])}` : '';
    const l4note = l4 === 'ICMP_ERROR' ? ' (ICMP error)' : l4 === 'FRAGMENT' ? ' (fragment)' : l4 === 'OPTIONS' ? ' (IP options)' : '';
    text = `parse: IPv4 ${String(p['saddr'])} → ${String(p['daddr'])}, ${protoNames[proto] ?? `protocol ${proto}`}${ports}${l4note}, TTL ${String(p['ttl'])}, ${String(p['len'])} bytes${Number(p['gso']) ? ' (GSO)' : ''}, from MAC ${String(p['smac'])}`;
  } else if (l3 === 'ARP') text = 'parse: ARP';
  else if (l3 === 'IPV6') text = 'parse: IPv6';
  else if (l3 === 'OTHER') text = `parse: ethertype 0x${(ethertype ?? 0).toString(16).padStart(4, '0')}, not IPv4`;
  else text = `parse: malformed (${frame.length} bytes${ethertype === undefined ? '' : `, ethertype 0x${ethertype.toString(16).padStart(4, '0')}`})`;
  return { kind: 'parse', text, data: { ...p, l3, l4: l4Names[Number(p['l4'])] ?? 'OTHER' } };
}

function describeVerdict(run: TwinRun, names: NodeNames, fibNote: string | undefined): TraceStep[] {
  const v = run.verdict;
  const reason = run.reasonName;
  const steps: TraceStep[] = [];
  const daddr = String(run.pkt['daddr']);
  let text: string;
  switch (run.actionName) {
    case 'REDIRECT_PEER':
      text = `hit endpoint ${daddr} → redirect_peer to ${ifLabel(names, run.core.ifindex)}${podSuffix(names, daddr)}; rewrite MACs ${String(v['smac'])} → ${String(v['dmac'])}, TTL ${String(run.pkt['ttl'])} → ${String(v['ttl'])}`;
      break;
    case 'REDIRECT_NEIGH':
      if (run.fib?.rc === undefined) {
        text = `route to node ${String(v['nh_addr'])} → bpf_fib_lookup(${String(v['nh_addr'])}) picks the uplink and next hop (no FIB in this trace${fibNote ? `: ${fibNote}` : ''}), then redirect_neigh; TTL → ${String(v['ttl'])}`;
      } else {
        text = `route to node ${run.fib.dst} → redirect_neigh out of ${ifLabel(names, run.core.ifindex)} via next hop ${String(v['nh_addr'])}; TTL → ${String(v['ttl'])}`;
      }
      break;
    case 'ENCAP_NEIGH':
      if (run.fib?.rc === undefined) {
        text = `route to node ${String(v['nh_addr'])} → VXLAN encapsulation in BPF (VNI ${String(v['tunnel_id'])}, UDP 8472), bpf_fib_lookup(${String(v['nh_addr'])}) picks the uplink and next hop (no FIB in this trace${fibNote ? `: ${fibNote}` : ''}), then redirect_neigh; TTL → ${String(v['ttl'])}`;
      } else {
        text = `route to node ${run.fib.dst} → VXLAN encapsulation in BPF (VNI ${String(v['tunnel_id'])}, UDP 8472, outer destination ${run.fib.dst}), redirect_neigh out of ${ifLabel(names, run.core.ifindex)} via next hop ${String(v['nh_addr'])}; TTL → ${String(v['ttl'])}`;
      }
      break;
    case 'REDIRECT_TUNNEL':
      text = `route to node ${String(v['nh_addr'])} → VXLAN tunnel key (VNI ${String(v['tunnel_id'])}, remote ${String(v['nh_addr'])}), redirect to ${ifLabel(names, run.core.ifindex)}; TTL → ${String(v['ttl'])}`;
      break;
    case 'PASS':
      text =
        reason === 'UNSPEC'
          ? `${run.program === 'to_pod' ? 'the stack delivers it into the pod' : 'it leaves the node'}: admitted (not counted here)`
          : `${reasonWords(reason)}: pass to the host stack, reason ${reason}`;
      break;
    case 'DROP':
      text = `${reasonWords(reason)}: drop, reason ${reason}`;
      break;
    default:
      text = `${reasonWords(reason)}: ${run.actionName.toLowerCase()} ${ifLabel(names, run.core.ifindex)}, reason ${reason}`;
  }
  steps.push({ kind: 'verdict', text, data: { ...v, action: run.actionName, reason } });
  return steps;
}

const EP_FLAGS = enums.pw_ep_flag.values;

/** The bandwidth step the program runs after the decision (bpf/lib/bandwidth.h). It needs the
 * clock and the bucket's state at that instant, which a trace does not have: say what is charged
 * and what would happen, not whether this packet fits. */
function describeLimits(run: TwinRun): TraceStep[] {
  const limits = Number(run.verdict['limits'] ?? 0);
  if (!limits) return [];
  const parts: string[] = [];
  if (limits & EP_FLAGS.EGRESS) parts.push(`the sender ${String(run.pkt['saddr'])}'s egress bucket (over its burst: drop, reason DROP_BW_EGRESS)`);
  if (limits & EP_FLAGS.INGRESS) parts.push(`the receiver ${String(run.pkt['daddr'])}'s ingress bucket (over its burst: drop, reason DROP_BW_INGRESS)`);
  return [
    {
      kind: 'check',
      text:
        `bandwidth limit: the program then charges ${parts.join(' and ')} in the bw map; ` +
        "the trace has no clock or bucket state, so it cannot tell whether this packet fits (the pod's own shapers normally keep it within the limit; see `podwire endpoints`)",
      data: { limits, egress: Boolean(limits & EP_FLAGS.EGRESS), ingress: Boolean(limits & EP_FLAGS.INGRESS) },
    },
  ];
}

export interface Explanation {
  steps: TraceStep[];
  /** The verdict line. */
  summary: string;
}

export function explain(
  run: TwinRun,
  frame: Uint8Array,
  names: NodeNames,
  opts: { fibNote?: string; /** monotonic now (live trace), for conntrack idle times */ nowNs?: bigint; policy?: PolicyNames } = {},
): Explanation {
  const ingress = Number(run.pkt['ifindex']);
  const steps: TraceStep[] = [
    { kind: 'packet', text: `${run.program} on ${ifLabel(names, ingress)}: ${frame.length}-byte frame`, data: { program: run.program, ifindex: ingress, bytes: frame.length } },
    describeParse(run, frame),
  ];
  for (const l of run.lookups) steps.push(...describeLookup(l, names, run, opts));
  if (run.fib) {
    const f = run.fib;
    const rcName = f.rc === undefined ? undefined : f.rc < 0 ? `error ${f.rc}` : (fibNames[f.rc] ?? `rc ${f.rc}`);
    steps.push({
      kind: 'fib',
      text:
        rcName === undefined
          ? `bpf_fib_lookup(${f.dst}) from ${ifLabel(names, f.ingressIfindex)}: not available here${opts.fibNote ? ` (${opts.fibNote})` : ''}`
          : `bpf_fib_lookup(${f.dst}) from ${ifLabel(names, f.ingressIfindex)} → ${rcName}${f.ifindex ? `, out of ${ifLabel(names, f.ifindex)} via ${f.nexthop}` : ''}${opts.fibNote ? ` (${opts.fibNote})` : ''}`,
      data: { ...f, ...(rcName ? { rcName } : {}) },
    });
  }
  steps.push(...describePolicy(run, names, opts.policy));
  const verdict = describeVerdict(run, names, opts.fibNote);
  steps.push(...verdict);
  steps.push(...describeLimits(run));
  return { steps, summary: verdict[verdict.length - 1]!.text };
}
