// Per-pod bandwidth limits (bw map, bpf/lib/bandwidth.h): the CNI's runtimeConfig.bandwidth turned
// into token buckets, their codec (offsets from the generated layouts) and typed map access.
import { RawMap } from 'bpf';
import { enums, structs } from './generated/layouts.js';
import { encodeEndpointKey, decodeEndpointKey } from './codec.js';
import { openPinnedMap } from './open.js';

/** CNI runtimeConfig.bandwidth: rates in bit/s, bursts in bits; 0 rate = no limit that way. */
export interface BandwidthConfig {
  ingressRate: number;
  ingressBurst: number;
  egressRate: number;
  egressBurst: number;
}

/** One direction as the datapath holds it. */
export interface BucketLimit {
  rateBps: number;
  /** The bucket depth actually used, in bits (see effectiveBurst). */
  burstBits: number;
}

export interface BandwidthLimits {
  ip: string;
  egress?: BucketLimit;
  ingress?: BucketLimit;
}

/** containerd (and CRI-O) send 2^32-1 bits as burst when the Pod says nothing about bursts. */
export const UNSET_BURST = 4294967295;
/** The largest packet the policer is charged for at once: a 64 KiB GSO packet. */
export const GSO_MAX_BYTES = 65536;

/** How one direction is limited: an HTB shaper at the pod's interface (queues, so TCP is paced by
 * its ACKs and TCP Small Queues instead of losses) and the datapath's policer behind it, whose
 * depth covers the shaper's burst and queue, so it never drops what the shaper lets through and
 * drops only what bypassed it (a pod that deleted its qdisc). Sizes in L3 bytes. */
export interface ShapePlan {
  rateBps: number;
  /** Shaper burst: the explicit burst, or 10 ms at the rate when unset; at least 16 MTU packets. A
   * smaller bucket loses tokens whenever the qdisc's timer fires late (measured at 10M on a loaded
   * 2-core box with 2 packets: 93% of the limit). It bounds bursts, not the long-term rate. */
  shaperBurstBytes: number;
  /** Shaper (bulk class) queue: 20 ms at the rate, at least eight 64 KiB GSO packets + 16 MTU packets. TCP Small
   * Queues keeps a local sender's share of it at about two of its packets, so TCP never fills it
   * (measured: 0 retransmits at 100M; with room for two GSO packets BBR's startup lost ~600/s). */
  shaperQueueBytes: number;
  /** The policer's depth: shaper burst + queue + two 64 KiB GSO packets. Ingress, it sees what
   * arrives for the shaper, which may queue all of it; egress, the shaper's output. Charging the
   * same bytes as the shaper (bpf/lib/bandwidth.h), it drops nothing the shaper lets through
   * (measured: 0 of 1.4 M packets at 10M, 100M and 1G) and holds a pod that deleted its qdiscs. */
  policerBurstBits: number;
}

export function shapePlan(rateBps: number, burstBits: number, mtu: number): ShapePlan {
  const unset = burstBits === 0 || burstBits >= UNSET_BURST;
  const shaperBurstBytes = Math.max(unset ? Math.ceil((rateBps * 0.01) / 8) : Math.ceil(burstBits / 8), 16 * mtu);
  const shaperQueueBytes = Math.max(Math.ceil((rateBps * 0.02) / 8), 8 * GSO_MAX_BYTES + 16 * mtu);
  return { rateBps, shaperBurstBytes, shaperQueueBytes, policerBurstBits: (shaperBurstBytes + shaperQueueBytes + 2 * GSO_MAX_BYTES) * 8 };
}

export interface BandwidthPlan {
  egress?: ShapePlan;
  ingress?: ShapePlan;
}

export function planFromConfig(c: BandwidthConfig, mtu: number): BandwidthPlan {
  return {
    ...(c.egressRate > 0 ? { egress: shapePlan(c.egressRate, c.egressBurst, mtu) } : {}),
    ...(c.ingressRate > 0 ? { ingress: shapePlan(c.ingressRate, c.ingressBurst, mtu) } : {}),
  };
}

/** The bw map entry (the policer) for a plan. */
export function limitsFromPlan(ip: string, p: BandwidthPlan): BandwidthLimits {
  const lim = (s: ShapePlan): BucketLimit => ({ rateBps: s.rateBps, burstBits: s.policerBurstBits });
  return { ip, ...(p.egress ? { egress: lim(p.egress) } : {}), ...(p.ingress ? { ingress: lim(p.ingress) } : {}) };
}

const FLAGS = enums.pw_ep_flag.values;
const DIRS = enums.pw_direction.values;

/** pw_endpoint.flags for these limits: the datapath looks at the bw map only when set. */
export function endpointFlags(l: BandwidthLimits | undefined): number {
  return (l?.egress ? FLAGS.EGRESS : 0) | (l?.ingress ? FLAGS.INGRESS : 0);
}

const V = structs.pw_bw;
const D = structs.pw_bw_dir;

function writeU64(buf: Buffer, off: number, v: bigint): void {
  buf.writeBigUInt64LE(v, off);
}

export function encodeBandwidth(l: BandwidthLimits): Buffer {
  const v = Buffer.alloc(V.size); // lock, flags, tat_ns: zero
  for (const [dir, b] of [
    [DIRS.EGRESS, l.egress],
    [DIRS.INGRESS, l.ingress],
  ] as const) {
    if (!b) continue;
    const o = V.fields.dir.offset + dir * D.size;
    writeU64(v, o + D.fields.rate_bps.offset, BigInt(Math.round(b.rateBps)));
    writeU64(v, o + D.fields.burst_ns.offset, (BigInt(Math.round(b.burstBits)) * 1_000_000_000n) / BigInt(Math.round(b.rateBps)));
  }
  return v;
}

export function decodeBandwidth(ip: string, v: Buffer): BandwidthLimits {
  const out: BandwidthLimits = { ip };
  for (const [dir, name] of [
    [DIRS.EGRESS, 'egress'],
    [DIRS.INGRESS, 'ingress'],
  ] as const) {
    const o = V.fields.dir.offset + dir * D.size;
    const rate = v.readBigUInt64LE(o + D.fields.rate_bps.offset);
    if (rate === 0n) continue;
    const burstNs = v.readBigUInt64LE(o + D.fields.burst_ns.offset);
    out[name] = { rateBps: Number(rate), burstBits: Number((burstNs * rate) / 1_000_000_000n) };
  }
  return out;
}

export { encodeEndpointKey as encodeBandwidthKey };

export interface BandwidthMap {
  get(ip: string): BandwidthLimits | undefined;
  set(l: BandwidthLimits): void;
  delete(ip: string): boolean;
  list(): BandwidthLimits[];
  close(): void;
}

export function openBandwidth(pinDir: string): BandwidthMap {
  const ref = openPinnedMap(pinDir, 'bw');
  const map = new RawMap(ref);
  return {
    get(ip) {
      const v = map.get(encodeEndpointKey(ip));
      return v === undefined ? undefined : decodeBandwidth(ip, v);
    },
    set(l) {
      map.set(encodeEndpointKey(l.ip), encodeBandwidth(l));
    },
    delete(ip) {
      return map.delete(encodeEndpointKey(ip));
    },
    list() {
      const out: BandwidthLimits[] = [];
      for (const [k, v] of map.entries()) out.push(decodeBandwidth(decodeEndpointKey(k), v));
      return out;
    },
    close() {
      ref.close();
    },
  };
}
