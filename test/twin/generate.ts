// Random map contents and random frames for the differential test: valid traffic, spoofing of
// every kind, TTL edges, ARP/IPv6/VLAN/odd ethertypes, malformed IPv4 (version, IHL, options,
// total length), truncation, byte flips and noise; maps with hits, misses, overlapping and
// host-bit-carrying prefixes, invalid route kinds and node configs. Values are drawn from small
// pools so hits, MAC matches and prefix overlaps are frequent.
import { inetChecksum } from '../../src/twin/index.js';
import { enums } from '../../src/maps/generated/layouts.js';
import type { Device, KernelEnv } from './kernel-env.js';
import type { Rng } from './rng.js';

export interface EndpointSpec {
  ip: string;
  ifindex: number;
  podMac: string;
  hostMac: string;
  endpointId: number;
  /** enum pw_endpoint_flags (policy isolation bits). */
  flags: number;
}

/** NetworkPolicy map contents (lib/policy.h), raw: rulesets without meaning, sets overlapping. */
export interface PolicySpec {
  endpoints: { ip: string; ingress: number; egress: number }[];
  ports: { prefixlen: number; ruleset: number; proto: number; port: number; slots: bigint }[];
  slots: { ruleset: number; slot: number; set: number; flags: number; policy: number; rule: number }[];
  sets: { prefixlen: number; set: number; addr: string; include: number }[];
  revision: number;
  egressIsolated: number;
  svc: string[];
  /** ct FLOW entries, some of the current revision, some stale. */
  flows: { saddr: string; daddr: string; sport: number; dport: number; proto: number; flags: number; revision: number }[];
}

export interface RouteSpec {
  prefixlen: number;
  /** May carry host bits: the kernel's LPM trie ignores them, and so must the twin. */
  addr: string;
  nodeIp: string;
  kind: number;
}

export interface NodeCfgSpec {
  mode: number;
  nodeIp: string;
  uplinkIfindex: number;
  vxlanIfindex: number;
  vni: number;
  /** enum pw_node_flags (VXLAN_BPF: the BPF VXLAN datapath). */
  flags: number;
}

export interface MapState {
  endpoints: EndpointSpec[];
  routes: RouteSpec[];
  nodeCfg: NodeCfgSpec;
  policy: PolicySpec;
}

export type Program = 'from_pod' | 'from_uplink' | 'from_vxlan' | 'to_pod' | 'to_uplink';

/** Ports frames and rules are drawn from, so rules, flows and packets meet. */
export const PORTS = [80, 81, 443, 53, 8080, 0, 65535];
/** Service addresses the destinations and svc_addrs share. */
const SVC = ['10.96.0.10', '10.96.0.1', '10.1.2.3'];

export interface Case {
  program: Program;
  kind: string;
  frame: Buffer;
  ifindex: number;
  ingressIfindex: number;
}

const MODE = enums.pw_mode.values;
const KIND = enums.pw_route_kind.values;
const POD_MACS = ['02:00:0a:f4:00:01', '02:00:0a:f4:00:02', '02:00:0a:f4:00:03'];
const OTHER_MACS = ['02:66:66:66:66:66', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00'];

const mac = (rng: Rng) => [0x02, ...rng.bytes(5)].map((b) => b.toString(16).padStart(2, '0')).join(':');
const ipOf = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');

function realDevice(rng: Rng, env: KernelEnv): Device {
  return rng.pick(env.devices);
}

export function randomMapState(rng: Rng, env: KernelEnv): MapState {
  const endpoints: EndpointSpec[] = [];
  const used = new Set<string>();
  // half the rounds without any isolated pod: policy must then change nothing, and forwards reach
  // the FIB often enough to see every answer it gives
  const policyRound = rng.chance(0.5);
  const n = rng.int(13);
  for (let i = 0; i < n; i++) {
    const ip = rng.chance(0.85) ? `10.244.0.${1 + rng.int(14)}` : `10.244.1.${1 + rng.int(5)}`;
    if (used.has(ip)) continue;
    used.add(ip);
    const ifindex = rng.chance(0.8) ? rng.pick(env.podVeths).ifindex : rng.chance(0.5) ? realDevice(rng, env).ifindex : 5000 + rng.int(100);
    const flags = policyRound ? Number(rng.weighted({ 0: 6, 1: 2, 2: 2, 3: 1 })) : 0;
    endpoints.push({ ip, ifindex, podMac: rng.pick(POD_MACS), hostMac: mac(rng), endpointId: rng.u32(), flags });
  }
  const candidates: Array<[number, string]> = [
    [24, '10.244.0.0'], [24, '10.244.1.0'], [24, '10.244.2.0'], [25, '10.244.2.128'], [16, '10.244.0.0'],
    [32, '10.244.3.7'], [0, '0.0.0.0'], [8, '10.0.0.0'], [24, '192.168.77.0'], [28, '10.244.0.0'],
  ];
  const routes: RouteSpec[] = [];
  for (const [prefixlen, base] of candidates) {
    if (!rng.chance(prefixlen === 0 ? 0.15 : 0.5)) continue;
    let addr = base;
    if (prefixlen < 32 && rng.chance(0.2)) {
      // host bits set in the stored key
      const [a, b, c, d] = base.split('.').map(Number) as [number, number, number, number];
      const host = rng.u32() & (prefixlen === 0 ? 0xffffffff : (1 << (32 - prefixlen)) - 1);
      addr = ipOf((((a << 24) | (b << 16) | (c << 8) | d) | host) >>> 0);
    }
    const kind = rng.pick([KIND.LOCAL, KIND.REMOTE, KIND.REMOTE, KIND.REMOTE, KIND.UNSPEC, 7]);
    routes.push({ prefixlen, addr, nodeIp: rng.pick(env.nodeIps), kind });
  }
  const mode = Number(rng.weighted({ [MODE.NATIVE]: 4, [MODE.VXLAN]: 4, [MODE.NONE]: 1, 9: 1 }));
  const nodeCfg: NodeCfgSpec = {
    mode,
    nodeIp: rng.pick(env.nodeIps),
    uplinkIfindex: env.uplink.ifindex,
    vxlanIfindex: rng.chance(0.85) ? env.vxlan.ifindex : rng.chance(0.5) ? 0 : 7000 + rng.int(10),
    vni: rng.int(0x1000000),
    flags: 0,
  };
  // the BPF VXLAN datapath in half of the vxlan states (and now and then where it means nothing)
  if (mode === MODE.VXLAN ? rng.chance(0.5) : rng.chance(0.1)) nodeCfg.flags = enums.pw_node_flags.values.BPF;
  return { endpoints, routes, nodeCfg, policy: randomPolicy(rng, endpoints, env) };
}

function randomPolicy(rng: Rng, endpoints: EndpointSpec[], env: KernelEnv): PolicySpec {
  const rulesets = [1, 2, 3, 0xfffffff0];
  const pol: PolicySpec = { endpoints: [], ports: [], slots: [], sets: [], revision: rng.int(4), egressIsolated: rng.pick([0, 1, 1, 2]), svc: [], flows: [] };
  for (const e of endpoints) {
    // isolated endpoints mostly have rulesets; one without is the agent mid-write (denies)
    if (e.flags && rng.chance(0.85)) pol.endpoints.push({ ip: e.ip, ingress: rng.pick([0, ...rulesets]), egress: rng.pick([0, ...rulesets]) });
  }
  for (const ruleset of rulesets) {
    for (let n = rng.int(5); n > 0; n--) {
      const plen = rng.pick([32, 48, 64, 64, 48 + rng.int(17)]);
      const slots = (BigInt(rng.u32() & 0xff) | (rng.chance(0.1) ? 1n << 63n : 0n)) & (rng.chance(0.1) ? 0n : 0xffffffffffffffffn);
      pol.ports.push({ prefixlen: plen, ruleset, proto: rng.pick([6, 17, 1, 132, 0, 6]), port: rng.pick([...PORTS, rng.int(0x10000)]), slots });
    }
    for (const slot of [0, 1, 2, 3, 4, 5, 6, 7, 63]) {
      if (!rng.chance(0.6)) continue;
      pol.slots.push({ ruleset, slot, set: rng.pick([1, 2, 3, 4, 99]), flags: Number(rng.weighted({ 0: 5, 1: 2, 2: 1, 3: 1 })), policy: rng.u32(), rule: rng.int(4) });
    }
  }
  const addrs = [...endpoints.map((e) => e.ip), ...env.nodeIps, ...SVC, '8.8.8.8'];
  const cidrs: Array<[number, string]> = [[0, '0.0.0.0'], [8, '10.0.0.0'], [16, '10.244.0.0'], [24, '10.244.0.0'], [24, '10.244.1.0'], [28, '10.244.0.0'], [30, '10.244.0.4']];
  for (const set of [1, 2, 3, 4]) {
    for (let n = rng.int(6); n > 0; n--) {
      const [plen, addr] = rng.chance(0.5) && addrs.length ? [32, rng.pick(addrs)] : rng.pick(cidrs);
      pol.sets.push({ prefixlen: 32 + plen, set, addr, include: rng.chance(0.8) ? 1 : 0 });
    }
  }
  for (const a of SVC) if (rng.chance(0.6)) pol.svc.push(a);
  const flowAddrs = [...addrs, '10.244.2.5', '10.244.3.7'];
  for (let n = rng.int(7); n > 0; n--) {
    pol.flows.push({
      saddr: rng.pick(flowAddrs),
      daddr: rng.pick(flowAddrs),
      sport: rng.pick(PORTS),
      dport: rng.pick(PORTS),
      proto: rng.pick([6, 17, 1]),
      flags: rng.pick([0, 1, 2, 3]),
      revision: rng.chance(0.7) ? pol.revision : rng.int(4),
    });
  }
  return pol;
}

/** An address inside a stored prefix (what reaches the route decisions). */
function inRoute(rng: Rng, state: MapState): string | undefined {
  if (!state.routes.length) return undefined;
  const r = rng.pick(state.routes);
  const base = r.addr.split('.').map(Number) as [number, number, number, number];
  const n = ((base[0] << 24) | (base[1] << 16) | (base[2] << 8) | base[3]) >>> 0;
  const hostMask = r.prefixlen === 0 ? 0xffffffff : r.prefixlen === 32 ? 0 : ((1 << (32 - r.prefixlen)) - 1) >>> 0;
  return ipOf(((n & ~hostMask) | (rng.u32() & hostMask)) >>> 0);
}

function destination(rng: Rng, state: MapState, env: KernelEnv): string {
  if (rng.chance(0.3)) {
    const d = inRoute(rng, state);
    if (d) return d;
  }
  switch (rng.int(7)) {
    case 0:
    case 1:
      return state.endpoints.length ? rng.pick(state.endpoints).ip : `10.244.0.${rng.int(256)}`;
    case 2:
      return `10.244.${rng.int(4)}.${rng.int(256)}`;
    case 3:
      return rng.pick(['10.244.2.5', '10.244.2.200', '10.244.3.7', '10.244.3.8', '10.244.9.9', '10.1.2.3']);
    case 4:
      return rng.pick(env.nodeIps);
    case 5:
      return rng.pick(['8.8.8.8', '169.254.1.1', '224.0.0.1', '255.255.255.255', '0.0.0.0', ...SVC]);
    default:
      return ipOf(rng.u32());
  }
}

function eth(dmac: string, smac: string, ethertype: number): Buffer {
  const h = Buffer.alloc(14);
  Buffer.from(dmac.replaceAll(':', ''), 'hex').copy(h, 0);
  Buffer.from(smac.replaceAll(':', ''), 'hex').copy(h, 6);
  h.writeUInt16BE(ethertype, 12);
  return h;
}

function ipv4(rng: Rng, o: { src: string; dst: string; ttl: number; sport?: number; dport?: number }): { ip: Buffer; kind: string } {
  const ihlWords = rng.chance(0.85) ? 5 : 6 + rng.int(10);
  const payload = rng.bytes(rng.int(65));
  const hlen = ihlWords * 4;
  const ip = Buffer.alloc(hlen);
  let kind = 'ipv4';
  let version = 4;
  let ihlField = ihlWords;
  if (rng.chance(0.05)) {
    version = rng.pick([0, 5, 6, 15]);
    kind = 'bad-version';
  } else if (rng.chance(0.05)) {
    ihlField = rng.int(5);
    kind = 'bad-ihl';
  }
  ip.writeUInt8((version << 4) | ihlField, 0);
  ip.writeUInt8(rng.chance(0.8) ? 0 : rng.int(256), 1);
  let totLen = hlen + payload.length;
  const t = rng.int(20);
  if (t === 0) {
    totLen = 0; // IPv4 BIG TCP: length in skb->len
    kind = 'tot-len-0';
  } else if (t === 1) {
    totLen = hlen + payload.length + 1 + rng.int(1500); // truncated packet
    kind = 'truncated';
  } else if (t === 2) {
    totLen = rng.int(hlen); // shorter than its own header
    kind = 'tot-len<ihl';
  } else if (t === 3 && payload.length > 0) {
    totLen = hlen + rng.int(payload.length); // trailing bytes (Ethernet padding)
    kind = 'padded';
  }
  ip.writeUInt16BE(totLen & 0xffff, 2);
  ip.writeUInt16BE(rng.int(0x10000), 4);
  // flags + fragment offset: mostly whole packets (DF or nothing), sometimes a fragment
  ip.writeUInt16BE(rng.chance(0.1) ? rng.pick([0x2000, 0x0001, 0x2010, 0x0fff, 0x8000]) : rng.pick([0, 0x4000]), 6);
  ip.writeUInt8(o.ttl, 8);
  const protocol = rng.pick([6, 17, 1, 47, 132]);
  ip.writeUInt8(protocol, 9);
  // ICMP: echo, the error types the datapath leaves to the stack, and others
  if (protocol === 1 && payload.length > 0) payload[0] = rng.pick([0, 8, 3, 4, 5, 11, 12, 13, 255]);
  // ports from the pool the policy rules and flows use, so that rules match and flows are hit
  if (protocol !== 1 && protocol !== 47 && payload.length >= 4 && rng.chance(0.7)) {
    payload.writeUInt16BE(o.sport ?? rng.pick(PORTS), 0);
    payload.writeUInt16BE(o.dport ?? rng.pick(PORTS), 2);
  }
  Buffer.from(o.src.split('.').map(Number)).copy(ip, 12);
  Buffer.from(o.dst.split('.').map(Number)).copy(ip, 16);
  for (let i = 20; i < hlen; i++) ip[i] = i === 20 ? 1 : rng.int(256); // options: NOPs then noise
  ip.writeUInt16BE(inetChecksum(ip.subarray(0, 20)), 10);
  return { ip: Buffer.concat([ip, payload]), kind };
}

/** [eth][IPv4 → node IP][UDP → 8472][VXLAN I, VNI][inner]: mostly our tunnel, sometimes another
 * VNI, port, destination or flags byte. */
function vxlanFrame(rng: Rng, state: MapState, inner: Buffer, smac: string, dmac: string): Buffer {
  const vx = Buffer.alloc(8);
  vx[0] = rng.chance(0.9) ? 0x08 : rng.pick([0x00, 0x88, 0x0c]);
  vx.writeUIntBE(rng.chance(0.85) ? state.nodeCfg.vni : rng.int(0x1000000), 4, 3);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(49152 + rng.int(16384), 0);
  udp.writeUInt16BE(rng.chance(0.9) ? 8472 : rng.pick([4789, 8473, 53]), 2);
  udp.writeUInt16BE(8 + 8 + inner.length, 4);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + 8 + 8 + inner.length, 2);
  ip.writeUInt16BE(rng.chance(0.95) ? 0 : 0x2000, 6); // sometimes a fragment: not ours
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  Buffer.from('10.200.0.9'.split('.').map(Number)).copy(ip, 12);
  Buffer.from((rng.chance(0.9) ? state.nodeCfg.nodeIp : '10.200.0.77').split('.').map(Number)).copy(ip, 16);
  ip.writeUInt16BE(inetChecksum(ip), 10);
  return Buffer.concat([eth(dmac, smac, 0x0800), ip, udp, vx, inner]);
}

export function randomCase(rng: Rng, state: MapState, env: KernelEnv): Case {
  const program = rng.weighted<Program>({ from_pod: 6, from_uplink: 2, from_vxlan: 2, to_pod: 2, to_uplink: 2 });
  const fromPod = program === 'from_pod' || program === 'to_uplink';
  // mostly a source whose veth is a real device, so the anti-spoofing checks can pass
  const real = state.endpoints.filter((e) => env.devices.some((d) => d.ifindex === e.ifindex));
  const ep = real.length && rng.chance(0.75) ? rng.pick(real) : state.endpoints.length && rng.chance(0.6) ? rng.pick(state.endpoints) : undefined;

  // where the packet arrives (always a real device: test_run resolves ctx.ifindex)
  let ifindex: number;
  if (program === 'from_pod' || program === 'to_pod') {
    const epDev = ep && env.devices.find((d) => d.ifindex === ep.ifindex);
    ifindex = epDev && rng.chance(0.85) ? epDev.ifindex : rng.chance(0.7) ? rng.pick(env.podVeths).ifindex : realDevice(rng, env).ifindex;
  } else if (program === 'to_uplink') {
    ifindex = rng.chance(0.8) ? rng.pick([env.uplink, env.vxlan]).ifindex : realDevice(rng, env).ifindex;
  } else {
    const dev = program === 'from_uplink' ? env.uplink : env.vxlan;
    ifindex = rng.chance(0.9) ? dev.ifindex : realDevice(rng, env).ifindex;
  }
  // skb->ingress_ifindex (the FIB's input device): usually the same device
  const ingressIfindex = rng.chance(0.85) ? ifindex : rng.chance(0.6) ? realDevice(rng, env).ifindex : rng.pick([0, 4242]);

  const src = fromPod && ep && rng.chance(0.85) ? ep.ip : rng.chance(0.5) ? `10.244.${rng.int(4)}.${rng.int(256)}` : ipOf(rng.u32());
  const smac = ep && src === ep.ip && rng.chance(0.85) ? ep.podMac : rng.pick([...POD_MACS, ...OTHER_MACS]);
  const dmac = ep?.hostMac ?? mac(rng);
  const ttl = rng.pick([64, 64, 64, 2, 1, 0, 255]);

  // the BPF VXLAN datapath's receive side: a VXLAN datagram to the node, around a random frame
  if (program === 'from_uplink' && state.nodeCfg.flags && rng.chance(0.5)) {
    const inner = randomCase(rng, state, env);
    if (inner.frame.length >= 14) return { ...inner, program, ifindex, ingressIfindex, kind: `vxlan-${inner.kind}`, frame: vxlanFrame(rng, state, inner.frame, mac(rng), dmac) };
  }
  const shape = rng.weighted({ ipv4: 70, flow: 12, arp: 4, ipv6: 4, vlan: 3, ethertype: 3, short: 4, mutate: 8, noise: 4 });
  let frame: Buffer;
  let kind: string = shape;
  switch (shape) {
    case 'flow': {
      // a recorded flow's packet, either direction: hits ct FLOW entries (current or stale)
      const f = state.policy.flows.length ? rng.pick(state.policy.flows) : undefined;
      if (!f) {
        frame = Buffer.concat([eth(dmac, smac, 0x0800), ipv4(rng, { src, dst: destination(rng, state, env), ttl }).ip]);
        break;
      }
      const back = rng.chance(0.5);
      const r = ipv4(rng, { src: back ? f.daddr : f.saddr, dst: back ? f.saddr : f.daddr, ttl: 64, sport: back ? f.dport : f.sport, dport: back ? f.sport : f.dport });
      const from = state.endpoints.find((e) => e.ip === (back ? f.daddr : f.saddr));
      frame = Buffer.concat([eth(from?.hostMac ?? dmac, from?.podMac ?? smac, 0x0800), r.ip]);
      kind = `flow-${r.kind}`;
      break;
    }
    case 'ipv4': {
      const r = ipv4(rng, { src, dst: destination(rng, state, env), ttl });
      frame = Buffer.concat([eth(dmac, smac, 0x0800), r.ip]);
      kind = r.kind;
      break;
    }
    case 'arp':
      frame = Buffer.concat([eth('ff:ff:ff:ff:ff:ff', smac, 0x0806), rng.bytes(rng.chance(0.8) ? 28 : 1 + rng.int(27))]);
      break;
    case 'ipv6':
      frame = Buffer.concat([eth('33:33:00:00:00:01', smac, 0x86dd), Buffer.from([0x60]), rng.bytes(39 + rng.int(40))]);
      break;
    case 'vlan':
      frame = Buffer.concat([eth(dmac, smac, 0x8100), rng.bytes(4 + rng.int(60))]);
      break;
    case 'ethertype':
      frame = Buffer.concat([eth(dmac, smac, rng.pick([0x0000, 0x05dc, 0x88cc, 0x8847, 0xffff, 0x0801, 0x0900])), rng.bytes(1 + rng.int(60))]);
      break;
    case 'short': {
      // truncated IPv4 base header (test_run refuses these) or a barely-there non-IP frame
      const full = Buffer.concat([eth(dmac, smac, rng.chance(0.6) ? 0x0800 : 0x0806), ipv4(rng, { src, dst: destination(rng, state, env), ttl }).ip]);
      frame = full.subarray(0, 12 + rng.int(22));
      break;
    }
    case 'mutate': {
      const r = ipv4(rng, { src, dst: destination(rng, state, env), ttl });
      frame = Buffer.concat([eth(dmac, smac, 0x0800), r.ip]);
      for (let k = 1 + rng.int(3); k > 0; k--) frame[rng.int(Math.min(frame.length, 40))] = rng.int(256);
      break;
    }
    default:
      frame = rng.bytes(15 + rng.int(80));
  }
  return { program, kind, frame, ifindex, ingressIfindex };
}

/**
 * The malformed-IPv4 corpus: every IHL nibble × every interesting total length (0, shorter than
 * the header, exactly the header, exactly the frame, one past it, 0xffff) × every version edge,
 * with and without Ethernet padding, from a real endpoint of `state` to another, on each program.
 * Sources and destinations are real so that a parser that lets a bad header through shows up as
 * a forward, not as a miss.
 */
export function malformedCorpus(rng: Rng, state: MapState, env: KernelEnv): Case[] {
  const real = state.endpoints.filter((e) => env.devices.some((d) => d.ifindex === e.ifindex));
  const src = real[0] ?? state.endpoints[0];
  const dst = real[1] ?? real[0] ?? state.endpoints[0];
  if (!src || !dst) throw new Error('malformedCorpus needs a map state with endpoints');
  const cases: Case[] = [];
  const programs: Array<[Program, number]> = [
    ['from_pod', src.ifindex],
    ['from_uplink', env.uplink.ifindex],
    ['from_vxlan', env.vxlan.ifindex],
  ];
  for (const versionNibble of [4, 0, 5, 6, 15]) {
    for (let ihl = 0; ihl < 16; ihl++) {
      if (versionNibble !== 4 && ihl !== 5) continue;
      const hlen = Math.max(ihl * 4, 20);
      for (const payloadLen of [0, 40]) {
        const ipLen = hlen + payloadLen;
        for (const totLen of new Set([0, 1, 19, ihl * 4 - 1, ihl * 4, ihl * 4 + 1, ipLen - 1, ipLen, ipLen + 1, 0xffff])) {
          if (totLen < 0) continue;
          for (const pad of [0, 18]) {
            const ip = Buffer.alloc(ipLen + pad);
            ip.writeUInt8((versionNibble << 4) | ihl, 0);
            ip.writeUInt16BE(totLen & 0xffff, 2);
            ip.writeUInt16BE(rng.int(0x10000), 4);
            ip.writeUInt8(64, 8);
            ip.writeUInt8(rng.pick([6, 17, 1]), 9);
            Buffer.from(src.ip.split('.').map(Number)).copy(ip, 12);
            Buffer.from(dst.ip.split('.').map(Number)).copy(ip, 16);
            for (let i = 20; i < hlen; i++) ip[i] = 1; // NOP options
            ip.writeUInt16BE(inetChecksum(ip.subarray(0, 20)), 10);
            const frame = Buffer.concat([eth(src.hostMac, src.podMac, 0x0800), ip]);
            const [program, ifindex] = programs[cases.length % programs.length]!;
            cases.push({ program, kind: `corpus-v${versionNibble}-ihl${ihl}-tot${totLen === ipLen ? 'exact' : totLen}`, frame, ifindex, ingressIfindex: ifindex });
          }
        }
      }
    }
  }
  return cases;
}
