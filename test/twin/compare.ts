// What the kernel's BPF_PROG_TEST_RUN result must be, given the twin's run of the same frame:
// the return code for the action, skb->cb (reason, action, ifindex, next hop, tunnel id) and the
// bytes lib/forward.h writes; plus the conntrack records the kernel makes while a batch runs
// (CtOverlay). Shared by the differential test and the packet fuzzer; nothing here lists reasons
// or maps, so new ones need no change.
import { encodeCtKey } from '../../src/maps/conntrack.js';
import { enums, structs } from '../../src/maps/generated/layouts.js';
import type { MapSource, TwinRun } from '../../src/twin/index.js';
import type { Case } from './generate.js';
import type { KernelResult } from './kernel-env.js';

const A = enums.pw_action.values;
const R = enums.pw_reason.values;
// "pass to the stack" is TC_ACT_UNSPEC (-1, tcx "next"); BPF_PROG_TEST_RUN reports the u32 retval.
export const TC_ACT_UNSPEC = 0xffffffff;
export const TC_ACT_SHOT = 2;
export const TC_ACT_REDIRECT = 7;

export function expectedRetval(action: number): number {
  return action === A.PASS ? TC_ACT_UNSPEC : action === A.DROP ? TC_ACT_SHOT : TC_ACT_REDIRECT;
}

/** Bytes of a BPF-encapsulated frame the twin cannot predict: the outer IP id (random), the outer
 * header checksum (covers it) and the UDP source port (the kernel's flow hash). */
export const ENCAP_UNPREDICTABLE = [18, 19, 24, 25, 34, 35];

/** lib/vxlan.h pw_vxlan_encap's 50 bytes for the twin's ENCAP_NEIGH verdict (the unpredictable
 * bytes zero): outer IPv4 from the node IP (node_cfg, as the twin read it) to the node the FIB was
 * asked for, UDP to 8472, VXLAN I + VNI, inner Ethernet VTEP to VTEP. */
function encapHeaders(frame: Buffer, run: TwinRun): Buffer {
  const cfg = run.lookups.find((l) => l.map === 'node_cfg' && l.value)!.value!;
  const local = cfg.subarray(structs.pw_node_cfg.fields.node_ip.offset, structs.pw_node_cfg.fields.node_ip.offset + 4);
  const remote = Buffer.from(run.fib!.dst.split('.').map(Number));
  const h = Buffer.alloc(50);
  const totLen = frame.length + 50 - 14;
  const ecn = frame[15]! & 3;
  h[0] = 0x45;
  h[1] = ecn === 3 ? 2 : ecn;
  h.writeUInt16BE(totLen, 2);
  h[8] = 64;
  h[9] = 17;
  local.copy(h, 12);
  remote.copy(h, 16);
  h.writeUInt16BE(8472, 22);
  h.writeUInt16BE(totLen - 20, 24);
  h[28] = 0x08;
  h.writeUIntBE(Number(run.verdict['tunnel_id']), 32, 3);
  Buffer.concat([Buffer.from([0x0a, 0x58]), remote, Buffer.from([0x0a, 0x58]), local, Buffer.from([0x08, 0x00])]).copy(h, 36);
  return h;
}

/** from_uplink judged our tunnel's inner frame (the twin parsed a packet 50 bytes shorter). */
export function decapsulated(frame: Buffer, run: TwinRun): boolean {
  return run.program === 'from_uplink' && Number(run.pkt['len']) === frame.length - 50;
}

/** The frame the program leaves behind for the twin's verdict: the writes of lib/forward.h (and
 * lib/vxlan.h: 50 bytes added by an encapsulation, removed by a decapsulating delivery). */
export function expectedData(frame: Buffer, run: TwinRun): Buffer {
  const a = run.core.action;
  if (a === A.ENCAP_NEIGH) {
    const inner = expectedData(frame, { ...run, core: { ...run.core, action: A.REDIRECT_NEIGH } });
    return Buffer.concat([inner.subarray(0, 14), encapHeaders(frame, run), inner.subarray(14)]);
  }
  if (decapsulated(frame, run) && a === A.REDIRECT_PEER) {
    return expectedData(Buffer.concat([frame.subarray(0, 14), frame.subarray(64)]), { ...run, program: 'from_vxlan' });
  }
  const out = Buffer.from(frame);
  if (a !== A.REDIRECT_PEER && a !== A.REDIRECT_NEIGH && a !== A.REDIRECT_TUNNEL) return out;
  const v = run.verdict;
  if (a === A.REDIRECT_PEER) {
    Buffer.from(String(v['dmac']).replaceAll(':', ''), 'hex').copy(out, 0);
    Buffer.from(String(v['smac']).replaceAll(':', ''), 'hex').copy(out, 6);
  }
  out.writeUInt8(Number(v['ttl']), 14 + 8);
  out.writeUInt8(Number(run.pkt['protocol']), 14 + 9);
  out.writeUInt16BE(Number(v['check']), 14 + 10);
  return out;
}

/**
 * The kernel's programs record conntrack entries as they run a batch (lib/conntrack.h), so a case
 * may hit an entry an earlier case of the same batch created. The twin decides only; this overlay
 * replays the recording rules on top of the round's snapshot, case by case, in the same order:
 * - STACK: a pass to the stack (MISS, NO_NODE_CFG, NAT_REPLY, REPLY_TO_NODE) in from_pod, a
 *   delivery from a non-pod source in from_uplink/from_vxlan, an admitted delivery in to_pod, of a
 *   flow-keyed IPv4 packet: refreshes the destination if it is a recorded initiator, else records
 *   the source;
 * - FLOW (pw_ct_policy): a NEW/RECHECK/DEFERRED policy step writes both directions with the current
 *   revision (the reverse one flagged REPLY, swapped for a re-judged reply); DENIED keeps both.
 */
/** pw_pkt's __be16 ports as the twin reports them (the little-endian reading of the packet's bytes)
 * -> the port number encodeCtKey expects. */
const portOf = (v: unknown): number => {
  const n = Number(v);
  return ((n & 0xff) << 8) | (n >>> 8);
};

export class CtOverlay implements MapSource {
  readonly description: string;
  private readonly added = new Map<string, Uint8Array | null>();
  constructor(private readonly base: MapSource) {
    this.description = `${base.description} + this batch's conntrack records`;
  }
  lookup(map: string, key: Uint8Array): Uint8Array | undefined {
    if (map === 'ct') {
      const hex = Buffer.from(key).toString('hex');
      if (this.added.has(hex)) return this.added.get(hex) ?? undefined;
    }
    return this.base.lookup(map, key);
  }
  record(run: TwinRun): void {
    const p = run.pkt;
    if (Number(p['l3']) !== enums.pw_l3.values.IPV4) return;
    this.recordFlow(run);
    this.recordStack(run);
  }
  private recordStack(run: TwinRun): void {
    const p = run.pkt;
    const l4 = Number(p['l4']);
    if (run.program === 'from_pod') {
      if (!([R.PASS_STACK_MISS, R.PASS_STACK_NO_NODE_CFG, R.PASS_STACK_NAT_REPLY, R.FWD_REPLY_TO_NODE] as number[]).includes(run.core.reason)) return;
    } else if (run.program === 'to_pod') {
      if (run.core.action === A.DROP) return;
    } else if (run.program === 'to_uplink') {
      return;
    } else {
      // from_uplink / from_vxlan: a delivery into a pod from a source no pod CIDR covers
      if (run.core.reason !== R.FWD_LOCAL_PEER) return;
      const rk = Buffer.alloc(8);
      rk.writeUInt32LE(32, 0);
      Buffer.from(String(p['saddr']).split('.').map(Number)).copy(rk, 4);
      if (this.base.lookup('routes', rk) !== undefined) return;
    }
    const L4 = enums.pw_l4.values;
    if (l4 === L4.FRAGMENT || l4 === L4.OPTIONS || l4 === L4.ICMP_ERROR) return;
    const proto = Number(p['protocol']);
    const key = (addr: unknown, port: unknown) => encodeCtKey({ kind: 'stack', addr: String(addr), port: portOf(port), proto, peer: '0.0.0.0', peerPort: 0 });
    if (this.lookup('ct', key(p['daddr'], p['dport'])) !== undefined) return;
    const src = key(p['saddr'], p['sport']);
    if (this.lookup('ct', src) === undefined) this.added.set(src.toString('hex'), new Uint8Array(32));
  }
  private recordFlow(run: TwinRun): void {
    const p = run.pkt;
    const v = run.verdict;
    const S = enums.pw_pol_step.values;
    const step = Number(v['pol_step']);
    if (step !== S.NEW && step !== S.RECHECK && step !== S.DEFERRED) return; // DENIED keeps what is recorded
    const L4 = enums.pw_l4.values;
    const l4 = Number(p['l4']);
    const ports = l4 === L4.PORTS || l4 === L4.ICMP_ECHO;
    const sport = ports ? portOf(p['sport']) : 0;
    const dport = ports ? portOf(p['dport']) : 0;
    const proto = Number(p['protocol']);
    const fwd = encodeCtKey({ kind: 'flow', addr: String(p['saddr']), peer: String(p['daddr']), port: sport, peerPort: dport, proto }).toString('hex');
    const rev = encodeCtKey({ kind: 'flow', addr: String(p['daddr']), peer: String(p['saddr']), port: dport, peerPort: sport, proto }).toString('hex');
    const st = this.base.lookup('pol_state', Buffer.alloc(4));
    const revision = st ? Buffer.from(st).readUInt32LE(structs.pw_pol_state.fields.revision.offset) : 0;
    const entry = (flags: number) => {
      const b = Buffer.alloc(structs.pw_ct_entry.size);
      b.writeUInt32LE(flags, structs.pw_ct_entry.fields.flags.offset);
      b.writeUInt32LE(revision, structs.pw_ct_entry.fields.revision.offset);
      return new Uint8Array(b);
    };
    const reply = Number(v['pol_reply']) === 1;
    const both = Number(v['pol_reply']) === 2 ? 2 : 0; // PW_CT_F_BOTHWAYS
    this.added.set(fwd, entry((reply ? 1 : 0) | both));
    this.added.set(rev, entry((reply ? 0 : 1) | both));
  }
  close(): void {}
}

export function differences(c: Pick<Case, 'frame'>, k: KernelResult, t: TwinRun): string[] {
  const d: string[] = [];
  const want = [t.core.reason, t.core.action, t.core.ifindex, t.core.nhAddr, t.core.tunnelId];
  const names = ['reason', 'action', 'ifindex', 'nh_addr', 'tunnel_id'];
  for (let i = 0; i < 5; i++) if (k.cb[i] !== want[i]) d.push(`${names[i]}: kernel ${k.cb[i]} twin ${want[i]}`);
  if (k.retval !== expectedRetval(t.core.action)) d.push(`retval: kernel ${k.retval} twin action ${t.actionName}`);
  const data = expectedData(c.frame, t);
  const got = Buffer.from(k.dataOut);
  if (t.core.action === A.ENCAP_NEIGH) for (const i of ENCAP_UNPREDICTABLE) got[i] = 0;
  if (!got.equals(data)) d.push(`data_out: kernel ${k.dataOut.subarray(0, 40).toString('hex')} twin ${data.subarray(0, 40).toString('hex')}`);
  return d;
}
