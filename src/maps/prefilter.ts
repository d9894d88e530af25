// Typed access to the XDP prefilter's pinned maps: `prefilter` (LPM_TRIE: source CIDRs dropped
// on the uplink before an skb exists) and `prefilter_safe` (HASH: failsafe traffic that passes
// even from a listed source). Layouts from the generated BTF codecs (bpf/lib/common.h).
import { RawMap } from 'bpf';
import { PodwireError } from '../errors/index.js';
import { formatIpv4, parseIpv4Cidr } from '../ipam/cidr.js';
import { enumNames, ipv4Bytes, readU32, writeU32 } from './codec.js';
import { enums, maps, structs } from './generated/layouts.js';
import { openPinnedMap } from './open.js';

/** A failsafe entry (enum pw_failsafe_kind): a whole source address, a remote addr:port/proto,
 * or a local port/proto (to this node, from anyone). */
export type Failsafe =
  | { kind: 'src-addr'; addr: string }
  | { kind: 'src-port'; addr: string; port: number; proto: 'tcp' | 'udp' }
  | { kind: 'dst-port'; port: number; proto: 'tcp' | 'udp' };

export interface PrefilterMap {
  /** true when the CIDR was not listed before. */
  add(cidr: string): boolean;
  /** true when the CIDR was listed. */
  delete(cidr: string): boolean;
  list(): string[];
  close(): void;
}

export interface FailsafeMap {
  list(): Failsafe[];
  /** Make the map hold exactly these entries (others removed). */
  replace(entries: readonly Failsafe[]): void;
  close(): void;
}

const K = structs.pw_prefilter_key;
const V = structs.pw_prefilter_rule;
const FK = structs.pw_failsafe_key;
const KIND = enums.pw_failsafe_kind.values;
const PROTO = { tcp: 6, udp: 17 } as const;

/** Canonical "a.b.c.d/len"; a bare address means /32. */
export function canonicalCidr(text: string): string {
  const c = parseIpv4Cidr(text.includes('/') ? text : `${text}/32`);
  if ('error' in c) throw new PodwireError('CONFIG_INVALID', `prefilter CIDR ${JSON.stringify(text)} ${c.error}: give an IPv4 network such as 192.0.2.0/24 or an address`);
  return c.text;
}

export function encodePrefilterKey(cidr: string): Buffer {
  const c = parseIpv4Cidr(canonicalCidr(cidr)) as { network: number; prefix: number };
  const key = Buffer.alloc(K.size);
  writeU32(key, K.fields.prefixlen.offset, c.prefix);
  key.writeUInt32BE(c.network, K.fields.addr.offset);
  return key;
}

export function decodePrefilterKey(key: Buffer): string {
  return `${formatIpv4(key.readUInt32BE(K.fields.addr.offset))}/${readU32(key, K.fields.prefixlen.offset)}`;
}

export function encodeFailsafeKey(f: Failsafe): Buffer {
  const key = Buffer.alloc(FK.size); // every byte written: hash keys compare all of them
  if (f.kind !== 'dst-port') ipv4Bytes(f.addr).copy(key, FK.fields.addr.offset);
  if (f.kind !== 'src-addr') {
    key.writeUInt16BE(f.port, FK.fields.port.offset);
    key.writeUInt8(PROTO[f.proto], FK.fields.proto.offset);
  }
  key.writeUInt8(f.kind === 'src-addr' ? KIND.SRC_ADDR : f.kind === 'src-port' ? KIND.SRC_PORT : KIND.DST_PORT, FK.fields.kind.offset);
  return key;
}

const KIND_NAMES = enumNames(enums.pw_failsafe_kind);

export function decodeFailsafeKey(key: Buffer): Failsafe {
  const o = FK.fields.addr.offset;
  const addr = [...key.subarray(o, o + 4)].join('.');
  const port = key.readUInt16BE(FK.fields.port.offset);
  const protoNum = key.readUInt8(FK.fields.proto.offset);
  const proto = protoNum === PROTO.udp ? 'udp' : 'tcp';
  const kind = key.readUInt8(FK.fields.kind.offset);
  if (kind === KIND.SRC_ADDR) return { kind: 'src-addr', addr };
  if (kind === KIND.SRC_PORT) return { kind: 'src-port', addr, port, proto };
  if (kind === KIND.DST_PORT) return { kind: 'dst-port', port, proto };
  throw new PodwireError('MAP_LAYOUT_MISMATCH', `prefilter_safe entry of unknown kind ${KIND_NAMES[kind] ?? kind}`);
}

/** The text form `podwire prefilter list` prints and --prefilter-failsafe takes. */
export function formatFailsafe(f: Failsafe): string {
  if (f.kind === 'src-addr') return f.addr;
  if (f.kind === 'src-port') return `${f.addr}:${f.port}/${f.proto}`;
  return `:${f.port}/${f.proto}`;
}

export function openPrefilter(pinDir: string): PrefilterMap {
  const ref = openPinnedMap(pinDir, 'prefilter');
  const map = new RawMap(ref);
  return {
    add(cidr) {
      const key = encodePrefilterKey(cidr);
      const had = map.get(key) !== undefined;
      try {
        map.set(key, Buffer.alloc(V.size)); // flags and pad 0
      } catch (cause) {
        throw new PodwireError('IO_FAILED', `adding ${canonicalCidr(cidr)} to the prefilter failed (the map holds at most ${maps.prefilter.maxEntries} CIDRs): ${(cause as Error).message}`, { cause });
      }
      return !had;
    },
    delete(cidr) {
      return map.delete(encodePrefilterKey(cidr));
    },
    list() {
      const out: string[] = [];
      for (const [k] of map.entries()) out.push(decodePrefilterKey(k));
      return out.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    },
    close() {
      ref.close();
    },
  };
}

export function openFailsafe(pinDir: string): FailsafeMap {
  const ref = openPinnedMap(pinDir, 'prefilter_safe');
  const map = new RawMap(ref);
  const value = Buffer.alloc(maps.prefilter_safe.valueSize);
  return {
    list() {
      const out: Failsafe[] = [];
      for (const [k] of map.entries()) out.push(decodeFailsafeKey(k));
      return out.sort((a, b) => formatFailsafe(a).localeCompare(formatFailsafe(b), 'en', { numeric: true }));
    },
    replace(entries) {
      const want = new Map(entries.map((e) => [encodeFailsafeKey(e).toString('hex'), e]));
      if (want.size > maps.prefilter_safe.maxEntries) {
        throw new PodwireError('CONFIG_INVALID', `${want.size} prefilter failsafe entries: at most ${maps.prefilter_safe.maxEntries} fit`);
      }
      // add first, then remove the stale ones: failsafe traffic never meets a gap
      for (const e of want.values()) map.set(encodeFailsafeKey(e), value);
      const stale: Buffer[] = [];
      for (const [k] of map.entries()) if (!want.has(k.toString('hex'))) stale.push(Buffer.from(k));
      for (const k of stale) map.delete(k);
    },
    close() {
      ref.close();
    },
  };
}
