// Typed access to the pinned conntrack map (ct, LRU_HASH). The datapath writes it (lib/conntrack.h:
// from_pod and to_pod record the initiators of flows that went through the node's stack); user
// space reads it for `podwire conntrack`, trace and metrics, and expires it (gcConntrack).
import { RawMap } from 'bpf';
import { PodwireError } from '../errors/index.js';
import { enumNames, ipv4Bytes, readU32, readU64, writeU32 } from './codec.js';
import { enums, structs } from './generated/layouts.js';
import { openPinnedMap } from './open.js';

export type CtKind = 'stack' | 'flow';
export type CtOrigin = 'from_pod' | 'to_pod' | 'from_node' | 'none';

export interface CtKey {
  kind: CtKind;
  /** The initiator (STACK) or source (FLOW) address. */
  addr: string;
  port: number;
  /** IP protocol number (6 TCP, 17 UDP, 1 ICMP: port = echo id). */
  proto: number;
  /** FLOW only; '0.0.0.0' / 0 for STACK entries. */
  peer: string;
  peerPort: number;
}

export interface CtEntry extends CtKey {
  /** CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) of the last refresh. */
  lastSeenNs: bigint;
  createdNs: bigint;
  origin: CtOrigin;
  /** Host veth it was recorded on. */
  ifindex: number;
  flags: number;
  /** FLOW: the pol_state revision that admitted it (re-judged when the policy revision moves on). */
  revision: number;
  /** FLOW: the reverse direction of a flow whose first packet went the other way (PW_CT_F_REPLY). */
  reply: boolean;
}

/** enum pw_ct_flags PW_CT_F_REPLY */
export const CT_F_REPLY = 1;

const K = structs.pw_ct_key;
const V = structs.pw_ct_entry;
const KIND = enums.pw_ct_kind.values;
const KIND_BY_NAME: Record<CtKind, number> = { stack: KIND.STACK, flow: KIND.FLOW };
const KIND_NAMES: Record<number, CtKind> = { [KIND.STACK]: 'stack', [KIND.FLOW]: 'flow' };
const ORIGIN_NAMES = enumNames(enums.pw_ct_origin).map((n) => (n ?? 'NONE').toLowerCase() as CtOrigin);

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' };
export const protoName = (p: number): string => PROTO_NAMES[p] ?? String(p);

export function encodeCtKey(k: CtKey): Buffer {
  const b = Buffer.alloc(K.size); // zeroed: padding is part of the hash key
  ipv4Bytes(k.addr).copy(b, K.fields.addr.offset);
  ipv4Bytes(k.peer).copy(b, K.fields.peer.offset);
  // ports are network order in the packet and in the key
  b.writeUInt16BE(k.port, K.fields.port.offset);
  b.writeUInt16BE(k.peerPort, K.fields.peer_port.offset);
  b.writeUInt8(k.proto, K.fields.proto.offset);
  b.writeUInt8(KIND_BY_NAME[k.kind], K.fields.kind.offset);
  return b;
}

export function decodeCtKey(b: Buffer): CtKey {
  const ip = (o: number) => [...b.subarray(o, o + 4)].join('.');
  const kind = KIND_NAMES[b.readUInt8(K.fields.kind.offset)];
  if (!kind) throw new PodwireError('MAP_LAYOUT_MISMATCH', `conntrack key has unknown kind ${b.readUInt8(K.fields.kind.offset)}`);
  return {
    kind,
    addr: ip(K.fields.addr.offset),
    port: b.readUInt16BE(K.fields.port.offset),
    proto: b.readUInt8(K.fields.proto.offset),
    peer: ip(K.fields.peer.offset),
    peerPort: b.readUInt16BE(K.fields.peer_port.offset),
  };
}

export function encodeCtEntry(e: Pick<CtEntry, 'lastSeenNs' | 'createdNs' | 'origin' | 'ifindex' | 'flags'> & { revision?: number }): Buffer {
  const b = Buffer.alloc(V.size);
  b.writeBigUInt64LE(e.lastSeenNs, V.fields.last_seen_ns.offset);
  b.writeBigUInt64LE(e.createdNs, V.fields.created_ns.offset);
  writeU32(b, V.fields.origin.offset, Math.max(0, ORIGIN_NAMES.indexOf(e.origin)));
  writeU32(b, V.fields.ifindex.offset, e.ifindex);
  writeU32(b, V.fields.flags.offset, e.flags);
  writeU32(b, V.fields.revision.offset, e.revision ?? 0);
  return b;
}

export function decodeCtEntry(key: CtKey, v: Buffer): CtEntry {
  return {
    ...key,
    lastSeenNs: readU64(v, V.fields.last_seen_ns.offset),
    createdNs: readU64(v, V.fields.created_ns.offset),
    origin: ORIGIN_NAMES[readU32(v, V.fields.origin.offset)] ?? 'none',
    ifindex: readU32(v, V.fields.ifindex.offset),
    flags: readU32(v, V.fields.flags.offset),
    revision: readU32(v, V.fields.revision.offset),
    reply: (readU32(v, V.fields.flags.offset) & CT_F_REPLY) !== 0,
  };
}

/** Idle time after which an entry expires, per protocol. TCP follows netfilter's established
 * timeout (nf_conntrack_tcp_timeout_established, 5 days): a connection the stack still NATs must
 * keep its entry as long as netfilter keeps its own. Everything else: 10 minutes, above
 * netfilter's UDP stream timeout (120 s), so a live UDP/ICMP flow is never forgotten first by us. */
export interface CtTimeouts {
  tcpSeconds: number;
  otherSeconds: number;
}
export const DEFAULT_CT_TIMEOUTS: CtTimeouts = { tcpSeconds: 432_000, otherSeconds: 600 };

/** CLOCK_MONOTONIC now in ns, the clock bpf_ktime_get_ns() reads (Node's hrtime is monotonic too). */
export const monotonicNs = (): bigint => process.hrtime.bigint();

export interface ConntrackMap {
  list(): CtEntry[];
  get(key: CtKey): CtEntry | undefined;
  /** revision defaults to 0; reply is taken from flags. */
  set(entry: CtKey & Parameters<typeof encodeCtEntry>[0]): void;
  delete(key: CtKey): boolean;
  /** Entry count (iterates keys only). */
  count(): number;
  /** Deletes entries idle longer than their protocol's timeout; returns how many it removed. */
  expire(nowNs?: bigint, timeouts?: CtTimeouts): { scanned: number; expired: number };
  close(): void;
}

export function openConntrack(pinDir: string): ConntrackMap {
  const ref = openPinnedMap(pinDir, 'ct');
  const map = new RawMap(ref);
  return {
    list() {
      const out: CtEntry[] = [];
      for (const [k, v] of map.entries()) out.push(decodeCtEntry(decodeCtKey(k), v));
      return out.sort((a, b) => a.addr.localeCompare(b.addr, 'en', { numeric: true }) || a.port - b.port || a.proto - b.proto);
    },
    get(key) {
      const v = map.get(encodeCtKey(key));
      return v === undefined ? undefined : decodeCtEntry(key, v);
    },
    set(e) {
      map.set(encodeCtKey(e), encodeCtEntry(e));
    },
    delete(key) {
      return map.delete(encodeCtKey(key));
    },
    count() {
      let n = 0;
      for (const _ of map.keys()) n++;
      return n;
    },
    expire(nowNs = monotonicNs(), t = DEFAULT_CT_TIMEOUTS) {
      const tcp = BigInt(t.tcpSeconds) * 1_000_000_000n;
      const other = BigInt(t.otherSeconds) * 1_000_000_000n;
      const doomed: Buffer[] = [];
      let scanned = 0;
      for (const [k, v] of map.entries()) {
        scanned++;
        const proto = k.readUInt8(K.fields.proto.offset);
        const idle = nowNs - readU64(v, V.fields.last_seen_ns.offset);
        if (idle > (proto === 6 ? tcp : other)) doomed.push(Buffer.from(k));
      }
      let expired = 0;
      // the datapath may have refreshed an entry since we read it: losing such an entry costs at
      // most one packet on the fast path before the next pass through the stack records it again
      for (const k of doomed) if (map.delete(k)) expired++;
      return { scanned, expired };
    },
    close() {
      ref.close();
    },
  };
}
