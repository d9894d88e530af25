// The independent oracle: hand-written packets, each with the verdict it MUST get, written from
// what the packet means (docs: DESIGN.md's datapath section and the datapath contract of issue 9
// and issue 14 #1/#6), never computed by the twin or read from bpf/lib/decide.h. The
// differential test proves twin == kernel; this table proves both are right. oracle.test.ts runs
// every row through the kernel (BPF_PROG_TEST_RUN) and through the twin.
//
// Rows name reasons by their enum name (bpf/lib/common.h): a reason that does not exist yet is
// still a valid expectation, and the row fails until the datapath grows it (mark such a row
// knownFailure with the issue; it then runs as it.fails).
import { ethHeader, ipChecksum } from '../bpf/packets.js';
import { ipv4Bytes } from '../../src/maps/index.js';

export type Program = 'from_pod' | 'from_uplink' | 'from_vxlan' | 'to_pod' | 'to_uplink';
/** Devices of test/twin/kernel-env.ts: pod host veths hA..hD (forwarding off on hD), uplink up0, VXLAN pwvxlan0. */
export type DevName = 'hA' | 'hB' | 'hC' | 'hD' | 'up0' | 'pwvxlan0';
export type StateName = 'native' | 'vxlan' | 'vxlan-bpf' | 'no-node-cfg' | 'vxlan-no-device' | 'ct' | 'policy';

/** Pods of every state. D's veth has forwarding off (kernel-env), so the FIB answers FWD_DISABLED for it. */
export const PODS = {
  A: { ip: '10.244.0.2', dev: 'hA', podMac: '02:00:0a:f4:00:02', hostMac: '02:ee:00:00:00:0a' },
  B: { ip: '10.244.0.3', dev: 'hB', podMac: '02:00:0a:f4:00:03', hostMac: '02:ee:00:00:00:0b' },
  D: { ip: '10.244.0.5', dev: 'hD', podMac: '02:00:0a:f4:00:05', hostMac: '02:ee:00:00:00:0d' },
} as const;

export const VNI = 4242;
export const NODE_IP = '192.168.77.1';

/**
 * Routes of every state. The node IPs are chosen so that kernel-env's FIB gives each answer:
 * 192.168.77.2 on-link via up0, 10.99.1.1 via the gateway 192.168.77.254, 10.98/16
 * unreachable, 10.97/16 blackhole, 10.96/16 prohibit, 172.31.5.5 no route at all.
 */
export const ROUTES: Array<{ cidr: string; nodeIp: string; kind: 'local' | 'remote' | 'unspec' }> = [
  { cidr: '10.244.0.0/24', nodeIp: NODE_IP, kind: 'local' },
  { cidr: '10.244.1.0/24', nodeIp: '192.168.77.2', kind: 'remote' },
  { cidr: '10.244.2.0/24', nodeIp: '10.99.1.1', kind: 'remote' },
  { cidr: '10.244.3.0/24', nodeIp: '10.98.0.1', kind: 'remote' },
  { cidr: '10.244.4.0/24', nodeIp: '10.97.0.1', kind: 'remote' },
  { cidr: '10.244.5.0/24', nodeIp: '10.96.0.1', kind: 'remote' },
  { cidr: '10.244.6.0/24', nodeIp: '172.31.5.5', kind: 'remote' },
  { cidr: '10.244.7.0/24', nodeIp: '192.168.77.2', kind: 'unspec' },
];

/** Conntrack entries of state "ct" (map `ct`, kind 1 = STACK: "addr:port/proto initiated a flow the stack handled"). */
export const CT_ENTRIES: Array<{ addr: string; port: number; proto: number; kind: number; /** enum pw_ct_origin (3 = FROM_NODE) */ origin?: number }> = [
  { addr: PODS.B.ip, port: 8080, proto: 6, kind: 1 },
  { addr: PODS.B.ip, port: 5353, proto: 6, kind: 1 }, // tcp only: a udp packet to :5353 is no reply
  { addr: PODS.B.ip, port: 77, proto: 1, kind: 1 }, // ICMP echo: the port is the echo id
  { addr: PODS.B.ip, port: 9090, proto: 6, kind: 2 }, // kind 2 (policy flows) is not a stack flow
  { addr: '10.244.1.5', port: 80, proto: 6, kind: 1 },
  // another node's host reached a pod straight from the uplink: replies go back the same way
  { addr: '192.168.77.2', port: 33000, proto: 6, kind: 1, origin: 3 },
  // the same, but recorded by the stack's side (to_pod): replies stay with the stack
  { addr: '192.168.77.2', port: 33001, proto: 6, kind: 1, origin: 2 },
];

/**
 * NetworkPolicy of state "policy", written as the maps' meaning (bpf/lib/policy.h), by hand:
 * - A is isolated for egress (ruleset 10): slot 0 TCP/80 to {B}; slot 1 UDP/53 to anyone; slot 2
 *   any port to 10.244.1.0/24 except 10.244.1.128/25.
 * - B is isolated for ingress (ruleset 20): slot 0 TCP/8000-8003 from {A}; slot 1 any port from
 *   10.244.1.0/24; slot 2 TCP/80 from {A}.
 * - D is not isolated. 10.96.0.10 is a Service address. The node's own address is set 1.
 * - pol_state revision 5, one pod isolated for egress.
 */
export const POLICY = {
  revision: 5,
  flags: { A: 2, B: 1, D: 0 } as Record<keyof typeof PODS, number>,
  endpoints: [
    { pod: 'A' as const, ingress: 0, egress: 10 },
    { pod: 'B' as const, ingress: 20, egress: 0 },
  ],
  // pol_ports: every entry carries the slots of every shorter entry covering it (the compiler's job)
  ports: [
    { ruleset: 10, prefixlen: 64, proto: 6, port: 80, slots: 0b101n },
    { ruleset: 10, prefixlen: 64, proto: 17, port: 53, slots: 0b110n },
    { ruleset: 10, prefixlen: 32, proto: 0, port: 0, slots: 0b100n },
    { ruleset: 20, prefixlen: 48 + 14, proto: 6, port: 8000, slots: 0b011n },
    { ruleset: 20, prefixlen: 64, proto: 6, port: 80, slots: 0b110n },
    { ruleset: 20, prefixlen: 32, proto: 0, port: 0, slots: 0b010n },
  ],
  slots: [
    { ruleset: 10, slot: 0, set: 100, flags: 0 },
    { ruleset: 10, slot: 1, set: 0, flags: 1 },
    { ruleset: 10, slot: 2, set: 101, flags: 0 },
    { ruleset: 20, slot: 0, set: 102, flags: 0 },
    { ruleset: 20, slot: 1, set: 103, flags: 0 },
    { ruleset: 20, slot: 2, set: 102, flags: 0 },
  ],
  sets: [
    { set: 1, cidr: `${NODE_IP}/32`, include: 1 },
    { set: 100, cidr: '10.244.0.3/32', include: 1 },
    { set: 101, cidr: '10.244.1.0/24', include: 1 },
    { set: 101, cidr: '10.244.1.128/25', include: 0 },
    { set: 102, cidr: '10.244.0.2/32', include: 1 },
    { set: 103, cidr: '10.244.1.0/24', include: 1 },
  ],
  svc: ['10.96.0.10'],
  // admitted flows (FLOW pairs): A -> 10.244.1.200:443 now, and a stale one (revision 4) on another
  // port; 10.244.2.7:5555 -> A:22 (A answers as a server)
  flows: [
    { saddr: PODS.A.ip, daddr: '10.244.1.200', sport: 40000, dport: 443, proto: 6, flags: 0, revision: 5 },
    { saddr: '10.244.1.200', daddr: PODS.A.ip, sport: 443, dport: 40000, proto: 6, flags: 1, revision: 5 },
    { saddr: PODS.A.ip, daddr: '10.244.1.200', sport: 40001, dport: 443, proto: 6, flags: 0, revision: 4 },
    { saddr: '10.244.2.7', daddr: PODS.A.ip, sport: 5555, dport: 22, proto: 6, flags: 0, revision: 5 },
    { saddr: PODS.A.ip, daddr: '10.244.2.7', sport: 22, dport: 5555, proto: 6, flags: 1, revision: 5 },
  ],
};

export interface OracleWant {
  /** enum pw_reason name without the PW_REASON_ prefix. */
  reason: string;
  /** Redirect target device. */
  target?: DevName;
  /** REDIRECT_NEIGH: the next hop after the FIB; REDIRECT_TUNNEL: the remote tunnel endpoint. */
  nh?: string;
  tunnelId?: number;
  /** REDIRECT_PEER into this pod: MACs rewritten to its pod/host MACs, TTL - 1, checksum valid. */
  into?: keyof typeof PODS;
}

export interface OracleRow {
  name: string;
  state: StateName;
  program: Program;
  dev: DevName;
  frame: Buffer;
  want: OracleWant;
  /** The skb is a GSO aggregate (test_run: ctx gso_size; twin: RunContext.gso). */
  gso?: boolean;
  /** Set while the datapath does not implement the expectation yet: the row runs as it.fails. */
  knownFailure?: string;
}

// ---- frames ----

const TCP = 6;
const UDP = 17;
const ICMP = 1;

interface L4 {
  proto: number;
  /** TCP flags byte (default ACK: a segment of an established connection). */
  tcpFlags?: number;
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  echoId?: number;
}

function l4Bytes(l: L4): Buffer {
  if (l.proto === TCP) {
    const b = Buffer.alloc(20);
    b.writeUInt16BE(l.sport ?? 40000, 0);
    b.writeUInt16BE(l.dport ?? 80, 2);
    b.writeUInt8(5 << 4, 12);
    b.writeUInt8(l.tcpFlags ?? 0x10, 13); // default ACK
    return b;
  }
  if (l.proto === UDP) {
    const b = Buffer.alloc(8 + 12);
    b.writeUInt16BE(l.sport ?? 40000, 0);
    b.writeUInt16BE(l.dport ?? 53, 2);
    b.writeUInt16BE(b.length, 4);
    return b;
  }
  // ICMP: echo carries an id, errors carry the offending packet's IP header + 8 bytes
  const type = l.icmpType ?? 8;
  const isEcho = type === 0 || type === 8;
  const b = Buffer.alloc(isEcho ? 16 : 8 + 28);
  b.writeUInt8(type, 0);
  b.writeUInt8(l.icmpCode ?? 0, 1);
  if (isEcho) {
    b.writeUInt16BE(l.echoId ?? 1, 4);
    b.writeUInt16BE(1, 6);
  } else {
    b.writeUInt8(0x45, 8); // the embedded header a pod's stack would quote
    b.writeUInt16BE(48, 10);
    b.writeUInt8(64, 16);
    b.writeUInt8(UDP, 17);
  }
  return b;
}

export interface V4 {
  src: string;
  dst: string;
  smac?: string;
  dmac?: string;
  ttl?: number;
  l4?: L4;
  /** Words of options (IHL - 5), filled with NOP then End of list. */
  optionWords?: number;
  /** Raw version/IHL byte (malformed headers). */
  versionIhl?: number;
  totLen?: number;
  /** IPv4 flags+fragment offset word: 0x2000 MF, 0x4000 DF, low 13 bits offset in 8-byte units. */
  frag?: number;
  /** Pad the frame with zeros to this many bytes (Ethernet minimum is 60 without FCS). */
  padTo?: number;
  /** Cut the frame to this many bytes. */
  cutTo?: number;
}

export function v4(o: V4): Buffer {
  const words = 5 + (o.optionWords ?? 0);
  const hdr = Buffer.alloc(words * 4);
  const l4 = l4Bytes(o.l4 ?? { proto: UDP });
  hdr.writeUInt8(o.versionIhl ?? 0x40 | words, 0);
  hdr.writeUInt16BE(o.totLen ?? hdr.length + l4.length, 2);
  hdr.writeUInt16BE(0x4242, 4);
  hdr.writeUInt16BE(o.frag ?? 0x4000, 6);
  hdr.writeUInt8(o.ttl ?? 64, 8);
  hdr.writeUInt8((o.l4 ?? { proto: UDP }).proto, 9);
  ipv4Bytes(o.src).copy(hdr, 12);
  ipv4Bytes(o.dst).copy(hdr, 16);
  for (let i = 20; i < hdr.length; i++) hdr[i] = i === hdr.length - 1 ? 0 : 1; // NOPs, End
  hdr.writeUInt16BE(ipChecksum(hdr), 10);
  let f = Buffer.concat([ethHeader(o.dmac ?? '02:ee:00:00:00:ff', o.smac ?? '02:00:0a:f4:00:ff', 0x0800), hdr, l4]);
  if (o.padTo && f.length < o.padTo) f = Buffer.concat([f, Buffer.alloc(o.padTo - f.length)]);
  if (o.cutTo !== undefined) f = f.subarray(0, o.cutTo);
  return f;
}

/** A packet pod A sends (its own IP and MAC, to its gateway MAC on hA). */
const fromA = (o: Omit<V4, 'src'> & { src?: string }): Buffer => v4({ src: PODS.A.ip, smac: PODS.A.podMac, dmac: PODS.A.hostMac, ...o });

function ipv6Frame(smac: string): Buffer {
  const ip6 = Buffer.alloc(40 + 8);
  ip6.writeUInt32BE(0x60000000, 0);
  ip6.writeUInt16BE(8, 4);
  ip6.writeUInt8(17, 6); // UDP
  ip6.writeUInt8(64, 7);
  Buffer.from('fd00000000000000000000000000000a', 'hex').copy(ip6, 8);
  Buffer.from('fd00000000000000000000000000000b', 'hex').copy(ip6, 24);
  return Buffer.concat([ethHeader('33:33:00:00:00:01', smac, 0x86dd), ip6]);
}

function arpFrame(smac: string, sip: string, tip: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a.writeUInt8(6, 4);
  a.writeUInt8(4, 5);
  a.writeUInt16BE(1, 6);
  Buffer.from(smac.replaceAll(':', ''), 'hex').copy(a, 8);
  ipv4Bytes(sip).copy(a, 14);
  ipv4Bytes(tip).copy(a, 24);
  return Buffer.concat([ethHeader('ff:ff:ff:ff:ff:ff', smac, 0x0806), a]);
}

/** 802.1Q-tagged IPv4 from pod A: the tag hides the IPv4 header from a parser that only knows 0x0800. */
function vlanFrame(inner: Buffer): Buffer {
  const tag = Buffer.from([0x00, 0x0a, 0x08, 0x00]); // VID 10, then ethertype IPv4
  const h = ethHeader(PODS.A.hostMac, PODS.A.podMac, 0x8100);
  return Buffer.concat([h, tag, inner.subarray(14)]);
}

// ---- the table ----

const REMOTE_POD = '10.244.1.5';

const rows: OracleRow[] = [];
const row = (r: OracleRow) => rows.push(r);
const local = (into: keyof typeof PODS): OracleWant => ({ reason: 'FWD_LOCAL_PEER', target: PODS[into].dev, into });

// from_pod, well-formed, same node
row({ name: 'pod A → pod B: redirected into B', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip }), want: local('B') });
row({ name: 'pod A → pod B, TCP', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, l4: { proto: TCP, dport: 8080 } }), want: local('B') });
row({ name: 'pod A → pod B, TTL 2: leaves with TTL 1', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, ttl: 2 }), want: local('B') });
row({ name: 'pod A → pod B, TTL 1: dies on our hop', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, ttl: 1 }), want: { reason: 'DROP_TTL_EXCEEDED' } });
row({ name: 'pod A → pod B, TTL 0', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, ttl: 0 }), want: { reason: 'DROP_TTL_EXCEEDED' } });
row({ name: 'Ethernet padding after tot_len is valid', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, l4: { proto: ICMP, icmpType: 8 }, padTo: 80 }), want: local('B') });
row({ name: 'DF set is no fragment', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, frag: 0x4000 }), want: local('B') });
row({ name: 'no flags at all is no fragment', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, frag: 0 }), want: local('B') });
row({ name: 'ICMP echo request between pods is ordinary traffic', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, l4: { proto: ICMP, icmpType: 8 } }), want: local('B') });
row({ name: 'ICMP echo reply between pods is ordinary traffic', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, l4: { proto: ICMP, icmpType: 0 } }), want: local('B') });

// from_pod: not IPv4
row({ name: 'ARP from a pod goes to the host (it answers for the gateway)', state: 'native', program: 'from_pod', dev: 'hA', frame: arpFrame(PODS.A.podMac, PODS.A.ip, '10.244.0.1'), want: { reason: 'PASS_STACK_ARP' } });
row({ name: 'ARP claiming another pod\'s IP still goes to the host', state: 'native', program: 'from_pod', dev: 'hA', frame: arpFrame(PODS.A.podMac, PODS.B.ip, '10.244.0.1'), want: { reason: 'PASS_STACK_ARP' } });
row({ name: 'IPv6 from a pod is dropped (podwire is IPv4-only)', state: 'native', program: 'from_pod', dev: 'hA', frame: ipv6Frame(PODS.A.podMac), want: { reason: 'DROP_IPV6' } });
row({ name: 'VLAN-tagged frame from a pod goes to the stack (not parsed as IPv4)', state: 'native', program: 'from_pod', dev: 'hA', frame: vlanFrame(fromA({ dst: PODS.B.ip })), want: { reason: 'PASS_STACK_NON_IP' } });
row({ name: 'LLDP ethertype from a pod goes to the stack', state: 'native', program: 'from_pod', dev: 'hA', frame: Buffer.concat([ethHeader('01:80:c2:00:00:0e', PODS.A.podMac, 0x88cc), Buffer.alloc(46)]), want: { reason: 'PASS_STACK_NON_IP' } });

// from_pod: malformed IPv4 is dropped before anything else (even before anti-spoofing)
const malformed: Array<[string, V4]> = [
  ['IHL 4 (< 5 words)', { src: PODS.A.ip, dst: PODS.B.ip, versionIhl: 0x44 }],
  ['IHL 0', { src: PODS.A.ip, dst: PODS.B.ip, versionIhl: 0x40 }],
  ['version 6 inside an IPv4 ethertype', { src: PODS.A.ip, dst: PODS.B.ip, versionIhl: 0x65 }],
  ['version 0', { src: PODS.A.ip, dst: PODS.B.ip, versionIhl: 0x05 }],
  ['tot_len 0 on a non-GSO skb', { src: PODS.A.ip, dst: PODS.B.ip, totLen: 0 }],
  ['tot_len 0 on a non-GSO skb, TCP', { src: PODS.A.ip, dst: PODS.B.ip, totLen: 0, l4: { proto: TCP } }],
  ['tot_len one byte beyond the frame', { src: PODS.A.ip, dst: PODS.B.ip, totLen: 20 + 20 + 1 }],
  ['tot_len far beyond the frame', { src: PODS.A.ip, dst: PODS.B.ip, totLen: 1500 }],
  ['tot_len 19 (< IHL*4 = 20)', { src: PODS.A.ip, dst: PODS.B.ip, totLen: 19 }],
  ['tot_len 1', { src: PODS.A.ip, dst: PODS.B.ip, totLen: 1 }],
  ['IHL 6 with tot_len 22 (< 24)', { src: PODS.A.ip, dst: PODS.B.ip, optionWords: 1, totLen: 22 }],
  ['IHL 15 reaching beyond the frame', { src: PODS.A.ip, dst: PODS.B.ip, versionIhl: 0x4f, totLen: 60 }],
  ['payload cut off (tot_len > frame)', { src: PODS.A.ip, dst: PODS.B.ip, l4: { proto: TCP }, cutTo: 14 + 20 + 10 }],
];
for (const [what, o] of malformed) {
  row({ name: `malformed: ${what} → dropped`, state: 'native', program: 'from_pod', dev: 'hA', frame: v4({ smac: PODS.A.podMac, dmac: PODS.A.hostMac, ...o }), want: { reason: 'DROP_MALFORMED' } });
}
row({ name: 'tot_len 0 on a GSO skb (IPv4 BIG TCP) is valid: delivered', state: 'native', program: 'from_pod', dev: 'hA', gso: true, frame: fromA({ dst: PODS.B.ip, totLen: 0, l4: { proto: TCP, dport: 8080 } }), want: local('B') });
row({ name: 'malformed and spoofed: malformed wins (parse first)', state: 'native', program: 'from_pod', dev: 'hA', frame: v4({ src: '6.6.6.6', dst: PODS.B.ip, smac: '02:66:66:66:66:66', versionIhl: 0x43 }), want: { reason: 'DROP_MALFORMED' } });
row({ name: 'truncated base header (IPv4 ethertype, 10 bytes of IP)', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, cutTo: 24 }), want: { reason: 'DROP_MALFORMED' } });
row({ name: 'Ethernet header only (IPv4 ethertype, no IP at all)', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, cutTo: 14 }), want: { reason: 'DROP_MALFORMED' } });

// from_pod: anti-spoofing (source IP, veth, MAC)
row({ name: 'spoof: source IP is no pod at all', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ src: '10.244.0.99', dst: PODS.B.ip }), want: { reason: 'DROP_SPOOFED_SRC_IP' } });
row({ name: 'spoof: source 0.0.0.0', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ src: '0.0.0.0', dst: PODS.B.ip }), want: { reason: 'DROP_SPOOFED_SRC_IP' } });
row({ name: 'spoof: source is a pod of another node', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ src: REMOTE_POD, dst: PODS.B.ip }), want: { reason: 'DROP_SPOOFED_SRC_IP' } });
row({ name: 'spoof: source is the node IP', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ src: NODE_IP, dst: PODS.B.ip }), want: { reason: 'DROP_SPOOFED_SRC_IP' } });
row({ name: 'spoof: B\'s IP sent from A\'s veth', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ src: PODS.B.ip, dst: PODS.D.ip }), want: { reason: 'DROP_SPOOFED_SRC_IFINDEX' } });
row({ name: 'spoof: B\'s IP and MAC sent from A\'s veth', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ src: PODS.B.ip, smac: PODS.B.podMac, dst: PODS.D.ip }), want: { reason: 'DROP_SPOOFED_SRC_IFINDEX' } });
row({ name: 'spoof: A\'s IP from a veth with no pod (hC)', state: 'native', program: 'from_pod', dev: 'hC', frame: fromA({ dst: PODS.B.ip }), want: { reason: 'DROP_SPOOFED_SRC_IFINDEX' } });
row({ name: 'spoof: A\'s IP on A\'s veth with a forged MAC', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ smac: '02:66:66:66:66:66', dst: PODS.B.ip }), want: { reason: 'DROP_SPOOFED_SRC_MAC' } });
row({ name: 'spoof: A\'s IP on A\'s veth with B\'s MAC', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ smac: PODS.B.podMac, dst: PODS.B.ip }), want: { reason: 'DROP_SPOOFED_SRC_MAC' } });
row({ name: 'spoof: broadcast source MAC', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ smac: 'ff:ff:ff:ff:ff:ff', dst: PODS.B.ip }), want: { reason: 'DROP_SPOOFED_SRC_MAC' } });
row({ name: 'spoof: a spoofed fragment is a spoof first', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ src: '10.244.0.99', dst: PODS.B.ip, frag: 0x2000 }), want: { reason: 'DROP_SPOOFED_SRC_IP' } });
row({ name: 'spoof: a spoofed packet with IP options is a spoof first', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ src: '10.244.0.99', dst: PODS.B.ip, optionWords: 1 }), want: { reason: 'DROP_SPOOFED_SRC_IP' } });
row({ name: 'spoof: a spoofed ICMP error is a spoof first', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ smac: '02:66:66:66:66:66', dst: PODS.B.ip, l4: { proto: ICMP, icmpType: 3, icmpCode: 3 } }), want: { reason: 'DROP_SPOOFED_SRC_MAC' } });

// from_pod: what the stack must see (fragments, options, ICMP errors)
row({ name: 'first fragment (MF, offset 0) → stack', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, frag: 0x2000 }), want: { reason: 'PASS_STACK_FRAGMENT' } });
row({ name: 'middle fragment (MF, offset 185) → stack', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, frag: 0x2000 | 185 }), want: { reason: 'PASS_STACK_FRAGMENT' } });
row({ name: 'last fragment (offset 185, no MF) → stack', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, frag: 185 }), want: { reason: 'PASS_STACK_FRAGMENT' } });
row({ name: 'fragment to a remote pod → stack', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD, frag: 0x2000 }), want: { reason: 'PASS_STACK_FRAGMENT' } });
row({ name: 'IP options (IHL 6) → stack', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, optionWords: 1 }), want: { reason: 'PASS_STACK_IP_OPTIONS' } });
row({ name: 'IP options (IHL 15, 40 bytes) → stack', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, optionWords: 10 }), want: { reason: 'PASS_STACK_IP_OPTIONS' } });
row({ name: 'IP options to a remote pod (vxlan) → stack', state: 'vxlan', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD, optionWords: 2 }), want: { reason: 'PASS_STACK_IP_OPTIONS' } });
for (const [type, what] of [[3, 'destination unreachable'], [4, 'source quench'], [5, 'redirect'], [11, 'time exceeded'], [12, 'parameter problem']] as const) {
  row({ name: `ICMP ${what} (type ${type}) pod → pod → stack`, state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip, l4: { proto: ICMP, icmpType: type } }), want: { reason: 'PASS_STACK_ICMP_ERROR' } });
}
row({ name: 'ICMP port unreachable to a remote pod → stack', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD, l4: { proto: ICMP, icmpType: 3, icmpCode: 3 } }), want: { reason: 'PASS_STACK_ICMP_ERROR' } });
row({ name: 'ICMP time exceeded to a remote pod (vxlan) → stack', state: 'vxlan', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD, l4: { proto: ICMP, icmpType: 11 } }), want: { reason: 'PASS_STACK_ICMP_ERROR' } });

// from_pod: routes (native mode)
row({ name: 'native: remote pod, node on-link', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD }), want: { reason: 'FWD_REMOTE_NATIVE', target: 'up0', nh: '192.168.77.2' } });
row({ name: 'native: remote pod, node behind a gateway', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.2.9' }), want: { reason: 'FWD_REMOTE_NATIVE', target: 'up0', nh: '192.168.77.254' } });
row({ name: 'native: remote pod, TTL 1', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD, ttl: 1 }), want: { reason: 'DROP_TTL_EXCEEDED' } });
row({ name: 'native: node unreachable (FIB unreachable)', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.3.9' }), want: { reason: 'DROP_FIB_FAILED' } });
row({ name: 'native: node blackholed (FIB blackhole)', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.4.9' }), want: { reason: 'DROP_FIB_FAILED' } });
row({ name: 'native: node prohibited (FIB prohibit)', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.5.9' }), want: { reason: 'DROP_FIB_FAILED' } });
row({ name: 'native: no route to the node at all', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.6.9' }), want: { reason: 'DROP_FIB_FAILED' } });
row({ name: 'native: forwarding off on the pod veth', state: 'native', program: 'from_pod', dev: 'hD', frame: v4({ src: PODS.D.ip, smac: PODS.D.podMac, dmac: PODS.D.hostMac, dst: REMOTE_POD }), want: { reason: 'DROP_FIB_FWD_DISABLED' } });
row({ name: 'LOCAL route, no such pod: dead address dropped', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.0.77' }), want: { reason: 'DROP_NO_ENDPOINT' } });
row({ name: 'route entry of unknown kind is no route', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.7.9' }), want: { reason: 'PASS_STACK_MISS' } });
row({ name: 'outside world → stack', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '8.8.8.8', l4: { proto: UDP, dport: 53 } }), want: { reason: 'PASS_STACK_MISS' } });
row({ name: 'outside world, TTL 1 → stack (it sends time exceeded)', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '8.8.8.8', ttl: 1 }), want: { reason: 'PASS_STACK_MISS' } });
row({ name: 'node IP → stack', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: NODE_IP }), want: { reason: 'PASS_STACK_MISS' } });
row({ name: 'a pod talking to itself goes back in', state: 'native', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.A.ip }), want: local('A') });

// from_pod: vxlan mode
row({ name: 'vxlan: remote pod tunnelled to its node with the VNI', state: 'vxlan', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD }), want: { reason: 'FWD_REMOTE_VXLAN', target: 'pwvxlan0', nh: '192.168.77.2', tunnelId: VNI } });
row({ name: 'vxlan: the tunnel needs no FIB answer (node behind unreachable route)', state: 'vxlan', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.3.9' }), want: { reason: 'FWD_REMOTE_VXLAN', target: 'pwvxlan0', nh: '10.98.0.1', tunnelId: VNI } });
row({ name: 'vxlan: remote pod, TTL 1', state: 'vxlan', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD, ttl: 1 }), want: { reason: 'DROP_TTL_EXCEEDED' } });
row({ name: 'vxlan: same node still redirect_peer', state: 'vxlan', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip }), want: local('B') });
row({ name: 'vxlan: dead local address dropped', state: 'vxlan', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.0.77' }), want: { reason: 'DROP_NO_ENDPOINT' } });

// BPF VXLAN datapath (node_cfg flag): from_pod encapsulates and redirect_neigh()s toward the node
// IP's next hop; from_uplink judges our tunnel's packets by their inner frame
row({ name: 'vxlan-bpf: remote pod encapsulated in BPF, out of the uplink to its node', state: 'vxlan-bpf', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD }), want: { reason: 'FWD_REMOTE_VXLAN_BPF', target: 'up0', nh: '192.168.77.2', tunnelId: VNI } });
row({ name: 'vxlan-bpf: node behind a gateway: the outer packet goes to the gateway', state: 'vxlan-bpf', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.2.9' }), want: { reason: 'FWD_REMOTE_VXLAN_BPF', target: 'up0', nh: '192.168.77.254', tunnelId: VNI } });
row({ name: 'vxlan-bpf: node unreachable (the FIB decides, unlike the device)', state: 'vxlan-bpf', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.3.9' }), want: { reason: 'DROP_FIB_FAILED' } });
row({ name: 'vxlan-bpf: same node still redirect_peer', state: 'vxlan-bpf', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip }), want: local('B') });
/** A VXLAN datagram from node 192.168.77.2 to this node around `inner`. */
export function vxlanFrame(inner: Buffer, o: { vni?: number; port?: number; dst?: string } = {}): Buffer {
  const vx = Buffer.alloc(8);
  vx[0] = 0x08;
  vx.writeUIntBE(o.vni ?? VNI, 4, 3);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(50000, 0);
  udp.writeUInt16BE(o.port ?? 8472, 2);
  udp.writeUInt16BE(16 + inner.length, 4);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(36 + inner.length, 2);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(UDP, 9);
  ipv4Bytes('192.168.77.2').copy(ip, 12);
  ipv4Bytes(o.dst ?? NODE_IP).copy(ip, 16);
  ip.writeUInt16BE(ipChecksum(ip), 10);
  return Buffer.concat([ethHeader('02:ee:00:00:00:01', '02:77:00:00:00:02', 0x0800), ip, udp, vx, inner]);
}
const innerTo = (dst: string, ttl = 64) => v4({ src: REMOTE_POD, dst, ttl, smac: '0a:58:c0:a8:4d:02', dmac: '0a:58:c0:a8:4d:01' });
row({ name: 'vxlan-bpf: our tunnel to a local pod: decapsulated and delivered', state: 'vxlan-bpf', program: 'from_uplink', dev: 'up0', frame: vxlanFrame(innerTo(PODS.B.ip)), want: { reason: 'FWD_LOCAL_PEER', target: 'hB' } });
row({ name: 'vxlan-bpf: our tunnel to a dead local address: dropped', state: 'vxlan-bpf', program: 'from_uplink', dev: 'up0', frame: vxlanFrame(innerTo('10.244.0.77')), want: { reason: 'DROP_NO_ENDPOINT' } });
row({ name: 'vxlan-bpf: our tunnel, inner TTL 1: dropped', state: 'vxlan-bpf', program: 'from_uplink', dev: 'up0', frame: vxlanFrame(innerTo(PODS.B.ip, 1)), want: { reason: 'DROP_TTL_EXCEEDED' } });
row({ name: 'vxlan-bpf: our tunnel to a non-pod address: left to the VXLAN device', state: 'vxlan-bpf', program: 'from_uplink', dev: 'up0', frame: vxlanFrame(innerTo('8.8.8.8')), want: { reason: 'PASS_STACK_MISS' } });
row({ name: 'vxlan-bpf: another VNI is not ours', state: 'vxlan-bpf', program: 'from_uplink', dev: 'up0', frame: vxlanFrame(innerTo(PODS.B.ip), { vni: VNI + 1 }), want: { reason: 'PASS_STACK_MISS' } });
row({ name: 'vxlan-bpf: another UDP port is not ours', state: 'vxlan-bpf', program: 'from_uplink', dev: 'up0', frame: vxlanFrame(innerTo(PODS.B.ip), { port: 4789 }), want: { reason: 'PASS_STACK_MISS' } });
row({ name: 'vxlan-bpf: VXLAN to another address is not ours', state: 'vxlan-bpf', program: 'from_uplink', dev: 'up0', frame: vxlanFrame(innerTo(PODS.B.ip), { dst: '192.168.77.9' }), want: { reason: 'PASS_STACK_MISS' } });
// (a TCP GSO aggregate is decapsulated here; test_run cannot give an skb SKB_GSO_TCPV4, so
// test/hostnet/vxlan-bpf.test.ts checks it on real TSO traffic)
row({ name: 'vxlan-bpf: our tunnel, a UDP GSO aggregate: left to the VXLAN device', state: 'vxlan-bpf', program: 'from_uplink', dev: 'up0', gso: true, frame: vxlanFrame(innerTo(PODS.B.ip)), want: { reason: 'PASS_STACK_TUNNEL_GSO' } });
row({ name: 'vxlan (device datapath): from_uplink never looks inside', state: 'vxlan', program: 'from_uplink', dev: 'up0', frame: vxlanFrame(innerTo(PODS.B.ip)), want: { reason: 'PASS_STACK_MISS' } });

// from_pod: node not configured
row({ name: 'no node config: remote pod left to the stack', state: 'no-node-cfg', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD }), want: { reason: 'PASS_STACK_NO_NODE_CFG' } });
row({ name: 'no node config: TTL 1 to a remote pod left to the stack', state: 'no-node-cfg', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD, ttl: 1 }), want: { reason: 'PASS_STACK_NO_NODE_CFG' } });
row({ name: 'no node config: same node still forwarded', state: 'no-node-cfg', program: 'from_pod', dev: 'hA', frame: fromA({ dst: PODS.B.ip }), want: local('B') });
row({ name: 'no node config: dead local address still dropped', state: 'no-node-cfg', program: 'from_pod', dev: 'hA', frame: fromA({ dst: '10.244.0.77' }), want: { reason: 'DROP_NO_ENDPOINT' } });
row({ name: 'vxlan mode without a VXLAN device is no node config', state: 'vxlan-no-device', program: 'from_pod', dev: 'hA', frame: fromA({ dst: REMOTE_POD }), want: { reason: 'PASS_STACK_NO_NODE_CFG' } });

// from_pod: conntrack (state "ct" holds CT_ENTRIES; the same packets in "native" have no entry)
const ctRows: Array<[string, Buffer, OracleWant, OracleWant]> = [
  ['TCP reply to B:8080, B initiated through the stack', fromA({ dst: PODS.B.ip, l4: { proto: TCP, sport: 80, dport: 8080 } }), { reason: 'PASS_STACK_NAT_REPLY' }, local('B')],
  ['echo reply to B with echo id 77', fromA({ dst: PODS.B.ip, l4: { proto: ICMP, icmpType: 0, echoId: 77 } }), { reason: 'PASS_STACK_NAT_REPLY' }, local('B')],
  ['TCP reply to a remote pod\'s stack flow', fromA({ dst: REMOTE_POD, l4: { proto: TCP, sport: 8443, dport: 80 } }), { reason: 'PASS_STACK_NAT_REPLY' }, { reason: 'FWD_REMOTE_NATIVE', target: 'up0', nh: '192.168.77.2' }],
  ['B:8081 (another port) is no reply', fromA({ dst: PODS.B.ip, l4: { proto: TCP, sport: 80, dport: 8081 } }), local('B'), local('B')],
  ['UDP to B:5353 (entry is TCP) is no reply', fromA({ dst: PODS.B.ip, l4: { proto: UDP, sport: 53, dport: 5353 } }), local('B'), local('B')],
  ['echo reply with another id is no reply', fromA({ dst: PODS.B.ip, l4: { proto: ICMP, icmpType: 0, echoId: 78 } }), local('B'), local('B')],
  ['B:9090 with a kind-2 (policy) entry only is no stack flow', fromA({ dst: PODS.B.ip, l4: { proto: TCP, sport: 80, dport: 9090 } }), local('B'), local('B')],
  ['TCP reply to another node\'s host that reached A straight from the uplink', fromA({ dst: '192.168.77.2', l4: { proto: TCP, sport: 80, dport: 33000 } }), { reason: 'FWD_REPLY_TO_NODE', target: 'up0', nh: '192.168.77.2' }, { reason: 'PASS_STACK_MISS' }],
  ['TCP reply to a node the stack delivered from stays with the stack', fromA({ dst: '192.168.77.2', l4: { proto: TCP, sport: 80, dport: 33001 } }), { reason: 'PASS_STACK_MISS' }, { reason: 'PASS_STACK_MISS' }],
  ['a spoofed reply is a spoof first', fromA({ src: '10.244.0.99', dst: PODS.B.ip, l4: { proto: TCP, sport: 80, dport: 8080 } }), { reason: 'DROP_SPOOFED_SRC_IP' }, { reason: 'DROP_SPOOFED_SRC_IP' }],
];
for (const [what, frame, withCt, without] of ctRows) {
  row({ name: `conntrack entries: ${what}`, state: 'ct', program: 'from_pod', dev: 'hA', frame, want: withCt });
  row({ name: `no conntrack entry: ${what}`, state: 'native', program: 'from_pod', dev: 'hA', frame, want: without });
}

// NetworkPolicy (state "policy": POLICY above)
{
  const at = { state: 'policy', program: 'from_pod', dev: 'hA' } as const;
  const tcp = (dport: number, sport = 40100) => ({ proto: TCP, sport, dport });
  const fromD = (o: Omit<V4, 'src'>) => v4({ src: PODS.D.ip, smac: PODS.D.podMac, dmac: PODS.D.hostMac, ...o });
  row({ ...at, name: 'policy: A -> B TCP/80 admitted by A egress slot 0 and B ingress slot 2', frame: fromA({ dst: PODS.B.ip, l4: tcp(80) }), want: local('B') });
  row({ ...at, name: 'policy: A -> B TCP/8001: A egress admits nothing there', frame: fromA({ dst: PODS.B.ip, l4: tcp(8001) }), want: { reason: 'POLICY_DENIED_EGRESS' } });
  row({ ...at, name: 'policy: A -> B UDP/53: A egress admits, B ingress does not (A is not in 10.244.1.0/24)', frame: fromA({ dst: PODS.B.ip, l4: { proto: UDP, dport: 53 } }), want: { reason: 'POLICY_DENIED_INGRESS' } });
  row({ ...at, name: 'policy: A -> remote pod in the ipBlock', frame: fromA({ dst: '10.244.1.9', l4: tcp(22) }), want: { reason: 'FWD_REMOTE_NATIVE', target: 'up0', nh: '192.168.77.2' } });
  row({ ...at, name: 'policy: A -> remote pod in the ipBlock except', frame: fromA({ dst: '10.244.1.200', l4: tcp(22) }), want: { reason: 'POLICY_DENIED_EGRESS' } });
  row({ ...at, name: 'policy: an established flow passes although the rules would deny it now', frame: fromA({ dst: '10.244.1.200', l4: tcp(443, 40000) }), want: { reason: 'FWD_REMOTE_NATIVE', target: 'up0', nh: '192.168.77.2' } });
  row({ ...at, name: 'policy: a flow of an older policy revision is judged again (and denied)', frame: fromA({ dst: '10.244.1.200', l4: tcp(443, 40001) }), want: { reason: 'POLICY_DENIED_EGRESS' } });
  row({ ...at, name: 'policy: the reply of an admitted inbound flow leaves although egress would deny it', frame: fromA({ dst: '10.244.2.7', l4: tcp(5555, 22) }), want: { reason: 'FWD_REMOTE_NATIVE', target: 'up0', nh: '192.168.77.254' } });
  row({ ...at, name: 'policy: the same packet from another port is no reply (denied)', frame: fromA({ dst: '10.244.2.7', l4: tcp(5555, 23) }), want: { reason: 'POLICY_DENIED_EGRESS' } });
  row({ ...at, name: 'policy: A -> outside UDP/53 admitted (any peer)', frame: fromA({ dst: '8.8.8.8', l4: { proto: UDP, dport: 53 } }), want: { reason: 'PASS_STACK_MISS' } });
  row({ ...at, name: 'policy: A -> outside ICMP echo: only port-less rules admit ICMP', frame: fromA({ dst: '8.8.8.8', l4: { proto: ICMP, icmpType: 8, echoId: 9 } }), want: { reason: 'POLICY_DENIED_EGRESS' } });
  row({ ...at, name: 'policy: A -> a Service address is judged after DNAT (to the stack)', frame: fromA({ dst: '10.96.0.10', l4: tcp(8080) }), want: { reason: 'PASS_STACK_MISS' } });
  row({ ...at, name: 'policy: A -> an address that is no Service is judged here', frame: fromA({ dst: '10.96.0.11', l4: tcp(8080) }), want: { reason: 'POLICY_DENIED_EGRESS' } });
  row({ ...at, name: 'policy: a fragment is judged without ports (denied)', frame: fromA({ dst: PODS.B.ip, l4: tcp(80), frag: 0x2000 }), want: { reason: 'POLICY_DENIED_EGRESS' } });
  row({ ...at, dev: 'hD', name: 'policy: D (no policy) -> B TCP/80: B ingress admits only A there', frame: fromD({ dst: PODS.B.ip, l4: tcp(80) }), want: { reason: 'POLICY_DENIED_INGRESS' } });
  const SYN = 0x02;
  row({ ...at, dev: 'hD', name: 'policy: D -> A SYN: A is isolated for egress only, so its ingress admits D', frame: fromD({ dst: PODS.A.ip, l4: { proto: TCP, dport: 80, tcpFlags: SYN } }), want: local('A') });
  // a connection that was open before tracking (no entry, not a bare SYN): admitted only if both ways
  // are — here A:80 -> D would be A's egress, which no rule admits
  row({ ...at, dev: 'hD', name: 'policy: D -> A mid-stream with no entry: A:80 -> D (its egress) is not admitted, so neither is this', frame: fromD({ dst: PODS.A.ip, l4: tcp(80) }), want: { reason: 'POLICY_DENIED_EGRESS' } });
  // the server B (isolated for ingress) sends first on a connection from D that B's ingress does not admit
  row({ ...at, name: 'policy: B -> D mid-stream, no entry: the connection D -> B:80 is not admitted by B, so B\'s packet is dropped too', dev: 'hB', frame: v4({ src: PODS.B.ip, dst: PODS.D.ip, smac: PODS.B.podMac, dmac: PODS.B.hostMac, l4: { proto: TCP, sport: 80, dport: 45000 } }), want: { reason: 'POLICY_DENIED_INGRESS' } });
  row({ ...at, name: 'policy: B -> D SYN from port 80: B\'s own new connection (B is not isolated for egress)', dev: 'hB', frame: v4({ src: PODS.B.ip, dst: PODS.D.ip, smac: PODS.B.podMac, dmac: PODS.B.hostMac, l4: { proto: TCP, sport: 80, dport: 45000, tcpFlags: SYN } }), want: local('D') });
  row({ ...at, name: 'policy: an echo reply from B whose request was never seen is judged as D\'s echo request (B does not admit D)', dev: 'hB', frame: v4({ src: PODS.B.ip, dst: PODS.D.ip, smac: PODS.B.podMac, dmac: PODS.B.hostMac, l4: { proto: ICMP, icmpType: 0, echoId: 7 } }), want: { reason: 'POLICY_DENIED_INGRESS' } });
  for (const [program, dev] of [['from_uplink', 'up0'], ['from_vxlan', 'pwvxlan0']] as const) {
    const rx = { state: 'policy', program, dev } as const;
    row({ ...rx, name: `policy: ${program}: 10.244.1.7 -> B admitted by ingress slot 1 (any port)`, frame: v4({ src: '10.244.1.7', dst: PODS.B.ip, smac: '02:77:00:00:00:01', dmac: '02:77:00:00:00:02', l4: tcp(9999) }), want: local('B') });
    row({ ...rx, name: `policy: ${program}: 10.244.2.7 -> B denied`, frame: v4({ src: '10.244.2.7', dst: PODS.B.ip, smac: '02:77:00:00:00:01', dmac: '02:77:00:00:00:02', l4: tcp(9999) }), want: { reason: 'POLICY_DENIED_INGRESS' } });
  }
  const toB = { state: 'policy', program: 'to_pod', dev: 'hB' } as const;
  const stackTo = (src: string, dst: string, l4: L4) => v4({ src, dst, smac: PODS.B.hostMac, dmac: PODS.B.podMac, l4 });
  row({ ...toB, name: 'policy: to_pod: the node itself (kubelet probe) reaches isolated B', frame: stackTo(NODE_IP, PODS.B.ip, tcp(10250)), want: { reason: 'UNSPEC' } });
  row({ ...toB, name: 'policy: to_pod: a NodePort client 10.244.2.7 denied at B', frame: stackTo('10.244.2.7', PODS.B.ip, tcp(80)), want: { reason: 'POLICY_DENIED_INGRESS' } });
  row({ ...toB, name: 'policy: to_pod: A -> Service -> B:80 after DNAT admitted', frame: stackTo(PODS.A.ip, PODS.B.ip, tcp(80)), want: { reason: 'UNSPEC' } });
  row({ ...toB, name: 'policy: to_pod: A -> Service -> B:8001 after DNAT: A egress denies', frame: stackTo(PODS.A.ip, PODS.B.ip, tcp(8001)), want: { reason: 'POLICY_DENIED_EGRESS' } });
  const out = { state: 'policy', program: 'to_uplink', dev: 'up0' } as const;
  row({ ...out, name: 'policy: to_uplink: A -> Service -> remote backend 10.244.2.9 denied after DNAT', frame: v4({ src: PODS.A.ip, dst: '10.244.2.9', l4: tcp(80) }), want: { reason: 'POLICY_DENIED_EGRESS' } });
  row({ ...out, name: 'policy: to_uplink: A -> Service -> remote backend 10.244.1.9 admitted', frame: v4({ src: PODS.A.ip, dst: '10.244.1.9', l4: tcp(80) }), want: { reason: 'UNSPEC' } });
  row({ ...out, name: 'policy: to_uplink: D (no policy) passes', frame: v4({ src: PODS.D.ip, dst: '10.244.2.9', l4: tcp(80) }), want: { reason: 'UNSPEC' } });
  row({ ...out, state: 'native', name: 'no policy: to_uplink passes everything', frame: v4({ src: PODS.A.ip, dst: '10.244.2.9', l4: tcp(80) }), want: { reason: 'UNSPEC' } });
}

// from_uplink / from_vxlan: the host owns everything except local pods and dead local addresses
const remoteSrc = (o: Omit<V4, 'src'>) => v4({ src: REMOTE_POD, smac: '02:77:00:00:00:01', dmac: '02:77:00:00:00:02', ...o });
for (const [program, dev, state] of [['from_uplink', 'up0', 'native'], ['from_vxlan', 'pwvxlan0', 'vxlan']] as const) {
  const at = { program, dev, state } as const;
  row({ ...at, name: `${program}: remote pod → local pod delivered`, frame: remoteSrc({ dst: PODS.B.ip }), want: local('B') });
  row({ ...at, name: `${program}: padded frame delivered`, frame: remoteSrc({ dst: PODS.B.ip, padTo: 90 }), want: local('B') });
  row({ ...at, name: `${program}: TTL 1 to a local pod`, frame: remoteSrc({ dst: PODS.B.ip, ttl: 1 }), want: { reason: 'DROP_TTL_EXCEEDED' } });
  row({ ...at, name: `${program}: dead local address dropped`, frame: remoteSrc({ dst: '10.244.0.77' }), want: { reason: 'DROP_NO_ENDPOINT' } });
  row({ ...at, name: `${program}: node's own traffic → stack`, frame: remoteSrc({ dst: NODE_IP }), want: { reason: 'PASS_STACK_MISS' } });
  row({ ...at, name: `${program}: another node's pod is not ours → stack`, frame: remoteSrc({ dst: '10.244.2.9' }), want: { reason: 'PASS_STACK_MISS' } });
  row({ ...at, name: `${program}: source is no concern (any source delivered)`, frame: v4({ src: '203.0.113.9', dst: PODS.B.ip }), want: local('B') });
  row({ ...at, name: `${program}: ARP → stack`, frame: arpFrame('02:77:00:00:00:01', '192.168.77.2', NODE_IP), want: { reason: 'PASS_STACK_ARP' } });
  row({ ...at, name: `${program}: IPv6 (host traffic) → stack`, frame: ipv6Frame('02:77:00:00:00:01'), want: { reason: 'PASS_STACK_NON_IP' } });
  row({ ...at, name: `${program}: VLAN → stack`, frame: vlanFrame(remoteSrc({ dst: PODS.B.ip })), want: { reason: 'PASS_STACK_NON_IP' } });
  for (const [what, o] of malformed) {
    row({ ...at, name: `${program}: malformed: ${what} → the host owns it`, frame: v4({ ...o, src: REMOTE_POD }), want: { reason: 'PASS_STACK_UNPARSED' } });
  }
  row({ ...at, name: `${program}: tot_len 0 on a GSO skb (BIG TCP) delivered`, gso: true, frame: remoteSrc({ dst: PODS.B.ip, totLen: 0, l4: { proto: TCP } }), want: local('B') });
  row({ ...at, name: `${program}: truncated base header → the host owns it`, frame: remoteSrc({ dst: PODS.B.ip, cutTo: 30 }), want: { reason: 'PASS_STACK_UNPARSED' } });
}

export const ORACLE: readonly OracleRow[] = rows;
