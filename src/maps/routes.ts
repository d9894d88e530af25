// Typed access to the pinned routes map (LPM_TRIE: pod CIDR -> the node it lives on). The agent
// keeps it equal to the cluster's Nodes: one LOCAL entry for this node's podCIDR (a miss in
// endpoints there is a dead pod) and one REMOTE entry per other node's podCIDR.
import { RawMap } from 'bpf';
import { PodwireError } from '../errors/index.js';
import { formatIpv4, parseIpv4Cidr } from '../ipam/cidr.js';
import { ipv4Bytes, readU32, writeU32 } from './codec.js';
import { enums, structs } from './generated/layouts.js';
import { openPinnedMap } from './open.js';

export type RouteKind = 'local' | 'remote';

export interface Route {
  /** Pod CIDR, canonical "a.b.c.d/len" (no host bits). */
  cidr: string;
  /** The node's underlay IP; for 'local' this node's own IP (informational). */
  nodeIp: string;
  kind: RouteKind;
}

export interface RoutesMap {
  /** The entry stored for exactly this CIDR (not a longest-prefix match). */
  get(cidr: string): Route | undefined;
  set(r: Route): void;
  /** true when an entry was removed. */
  delete(cidr: string): boolean;
  list(): Route[];
  /** All entries in one BPF_MAP_UPDATE_BATCH syscall. */
  setBatch(rs: readonly Route[]): void;
  /** Removes the CIDRs that exist (missing ones are fine); returns how many were removed. */
  deleteBatch(cidrs: readonly string[]): number;
  close(): void;
}

const K = structs.pw_route_key;
const V = structs.pw_route;
const KIND = enums.pw_route_kind.values;
const KIND_NAMES: Record<number, RouteKind> = { [KIND.LOCAL]: 'local', [KIND.REMOTE]: 'remote' };

function parseCidr(cidr: string): { network: number; prefix: number } {
  const c = parseIpv4Cidr(cidr);
  if ('error' in c) throw new PodwireError('CONFIG_INVALID', `route CIDR ${JSON.stringify(cidr)} ${c.error}: use the network address, e.g. 10.244.1.0/24`);
  return c;
}

export function encodeRouteKey(cidr: string): Buffer {
  const { network, prefix } = parseCidr(cidr);
  const key = Buffer.alloc(K.size);
  // LPM keys: prefixlen in host order, address bytes in network order
  writeU32(key, K.fields.prefixlen.offset, prefix);
  key.writeUInt32BE(network, K.fields.addr.offset);
  return key;
}

export function decodeRouteKey(key: Buffer): string {
  return `${formatIpv4(key.readUInt32BE(K.fields.addr.offset))}/${readU32(key, K.fields.prefixlen.offset)}`;
}

export function encodeRoute(r: Route): Buffer {
  const kind = r.kind === 'local' ? KIND.LOCAL : r.kind === 'remote' ? KIND.REMOTE : undefined;
  if (kind === undefined) throw new PodwireError('CONFIG_INVALID', `route kind ${JSON.stringify(r.kind)} for ${r.cidr}: use 'local' or 'remote'`);
  const v = Buffer.alloc(V.size); // flags and pad stay 0
  ipv4Bytes(r.nodeIp).copy(v, V.fields.node_ip.offset);
  writeU32(v, V.fields.kind.offset, kind);
  return v;
}

export function decodeRoute(cidr: string, v: Buffer): Route {
  const kindNum = readU32(v, V.fields.kind.offset);
  const kind = KIND_NAMES[kindNum];
  if (!kind) throw new PodwireError('MAP_LAYOUT_MISMATCH', `route ${cidr} has unknown kind ${kindNum}`);
  const o = V.fields.node_ip.offset;
  return { cidr, nodeIp: [...v.subarray(o, o + 4)].join('.'), kind };
}

/** Address then prefix length, as a number (2^32 × 64 < 2^53): the numeric order of the CIDRs,
 * at the cost of a number comparison (ICU's numeric collation took seconds for 65k routes). */
function cidrOrder(cidr: string): number {
  const [a, len] = cidr.split('/');
  const p = (a ?? '').split('.');
  return ((((Number(p[0]) * 256 + Number(p[1])) * 256 + Number(p[2])) * 256 + Number(p[3])) * 64) + Number(len);
}

export function openRoutes(pinDir: string): RoutesMap {
  const ref = openPinnedMap(pinDir, 'routes');
  const map = new RawMap(ref);
  return {
    get(cidr) {
      const key = encodeRouteKey(cidr);
      const v = map.get(key);
      return v === undefined ? undefined : decodeRoute(decodeRouteKey(key), v);
    },
    set(r) {
      map.set(encodeRouteKey(r.cidr), encodeRoute(r));
    },
    delete(cidr) {
      return map.delete(encodeRouteKey(cidr));
    },
    list() {
      const out: { n: number; r: Route }[] = [];
      for (const [k, v] of map.entries()) {
        const r = decodeRoute(decodeRouteKey(k), v);
        out.push({ n: cidrOrder(r.cidr), r });
      }
      return out.sort((a, b) => a.n - b.n).map((x) => x.r);
    },
    setBatch(rs) {
      if (rs.length === 0) return;
      map.setBatch(rs.map((r) => [encodeRouteKey(r.cidr), encodeRoute(r)]));
    },
    deleteBatch(cidrs) {
      // BPF_MAP_DELETE_BATCH stops at the first missing key (ENOENT), so send only present ones
      const keys = cidrs.map(encodeRouteKey).filter((k) => map.get(k) !== undefined);
      if (keys.length > 0) map.deleteBatch(keys);
      return keys.length;
    },
    close() {
      ref.close();
    },
  };
}
