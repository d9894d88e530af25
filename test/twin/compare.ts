// What the kernel's BPF_PROG_TEST_RUN result must be, given the twin's run of the same frame:
// the return code for the action, skb->cb (reason, action, ifindex, next hop, tunnel id) and the
// bytes lib/forward.h writes; plus the conntrack records the kernel makes while a batch runs
// (CtOverlay). Shared by the differential test and the packet fuzzer; nothing here lists reasons
// or maps, so new ones need no change.
import { encodeCtKey } from '../../src/maps/conntrack.js';
import { enums } from '../../src/maps/generated/layouts.js';
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

/** The frame the program leaves behind for the twin's verdict: the writes of lib/forward.h. */
export function expectedData(frame: Buffer, run: TwinRun): Buffer {
  const out = Buffer.from(frame);
  const a = run.core.action;
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
 * The kernel's from_pod records conntrack entries as it runs a batch (lib/conntrack.h), so a case
 * may hit an entry an earlier case of the same batch created. The twin decides only; this overlay
 * replays the recording rule on top of the round's snapshot, case by case, in the same order:
 * a pass to the stack (MISS, NO_NODE_CFG, NAT_REPLY) of a flow-keyed IPv4 packet refreshes the
 * destination if it is a recorded initiator, else records the source.
 */
export class CtOverlay implements MapSource {
  readonly description: string;
  private readonly added = new Map<string, Uint8Array>();
  constructor(private readonly base: MapSource) {
    this.description = `${base.description} + this batch's conntrack records`;
  }
  lookup(map: string, key: Uint8Array): Uint8Array | undefined {
    if (map === 'ct') {
      const hit = this.added.get(Buffer.from(key).toString('hex'));
      if (hit) return hit;
    }
    return this.base.lookup(map, key);
  }
  record(run: TwinRun): void {
    const p = run.pkt;
    const l4 = Number(p['l4']);
    if (Number(p['l3']) !== enums.pw_l3.values.IPV4) return;
    if (run.program === 'from_pod') {
      if (!([R.PASS_STACK_MISS, R.PASS_STACK_NO_NODE_CFG, R.PASS_STACK_NAT_REPLY, R.FWD_REPLY_TO_NODE] as number[]).includes(run.core.reason)) return;
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
    const key = (addr: unknown, port: unknown) => encodeCtKey({ kind: 'stack', addr: String(addr), port: Number(port), proto, peer: '0.0.0.0', peerPort: 0 });
    if (this.lookup('ct', key(p['daddr'], p['dport'])) !== undefined) return;
    const src = key(p['saddr'], p['sport']);
    if (this.lookup('ct', src) === undefined) this.added.set(src.toString('hex'), new Uint8Array(32));
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
  if (!k.dataOut.equals(data)) d.push(`data_out: kernel ${k.dataOut.subarray(0, 40).toString('hex')} twin ${data.subarray(0, 40).toString('hex')}`);
  return d;
}
