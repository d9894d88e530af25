// Where the twin's map lookups get their answers: a snapshot (offline trace, differential test)
// or the live pinned maps (trace on a node). Both give bpf_map_lookup_elem()'s semantics for the
// map's type — exact match for hashes, index for arrays, longest prefix for LPM tries — and
// return one element's bytes (CPU 0's share of a per-CPU value).
import { PodwireError } from '../errors/index.js';
import { openRawPinned, pinnedMapNames, type RawPinnedMap } from '../maps/pinned.js';
import type { MapSnapshot, SnapshotMap } from '../maps/snapshot.js';

export interface MapSource {
  /** Where the data comes from, for messages ("snapshot of /sys/fs/bpf/podwire", …). */
  readonly description: string;
  /** The element for `key` in map `map`, or undefined on a miss. Throws if the map does not exist. */
  lookup(map: string, key: Uint8Array): Uint8Array | undefined;
  close(): void;
}

type Lookup = (key: Uint8Array) => Uint8Array | undefined;

/** FNV-1a over the key bytes: a number is a much cheaper Map key than a string of the bytes. */
function hashBytes(b: Uint8Array, from = 0): number {
  let h = 0x811c9dc5;
  for (let i = from; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Exact-match table keyed by a hash of the bytes, collisions resolved by comparing them. Keys and
 * values are kept as plain Uint8Arrays so the hot lookup loop sees one array shape. */
class ByteTable {
  private readonly buckets = new Map<number, Uint8Array[]>(); // [key, value, key, value, ...]

  set(k: Uint8Array, v: Uint8Array): void {
    const key = new Uint8Array(k);
    const value = new Uint8Array(v);
    const h = hashBytes(key);
    const b = this.buckets.get(h);
    if (!b) {
      this.buckets.set(h, [key, value]);
      return;
    }
    for (let i = 0; i < b.length; i += 2) {
      if (sameBytes(b[i]!, key)) {
        b[i + 1] = value;
        return;
      }
    }
    b.push(key, value);
  }

  get(k: Uint8Array): Uint8Array | undefined {
    const b = this.buckets.get(hashBytes(k));
    if (!b) return undefined;
    for (let i = 0; i < b.length; i += 2) if (sameBytes(b[i]!, k)) return b[i + 1];
    return undefined;
  }
}

function hashLookup(m: SnapshotMap): Lookup {
  const t = new ByteTable();
  for (const [k, v] of m.entries) t.set(k, v);
  return (key) => t.get(key);
}

/** Array keys are u32 indexes in host order (little-endian on every target podwire runs on). */
const u32le = (b: Uint8Array): number => (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;

function arrayLookup(m: SnapshotMap): Lookup {
  const byIndex = new Map<number, Uint8Array>();
  for (const [k, v] of m.entries) byIndex.set(u32le(k), new Uint8Array(v));
  return (key) => byIndex.get(u32le(key));
}

/** `data` masked to its first `bits` bits (the part an LPM entry of that prefix compares). */
function masked(data: Uint8Array, bits: number, out: Uint8Array = new Uint8Array(data.length)): Uint8Array {
  for (let i = 0; i < data.length; i++, bits -= 8) out[i] = bits >= 8 ? data[i]! : bits > 0 ? data[i]! & ((0xff << (8 - bits)) & 0xff) : 0;
  return out;
}

/** LPM_TRIE: key = u32 prefixlen (host order) + data; the longest stored prefix <= the key's wins. */
function lpmLookup(m: SnapshotMap): Lookup {
  const byLen = new Map<number, ByteTable>();
  for (const [k, v] of m.entries) {
    const len = u32le(k);
    let t = byLen.get(len);
    if (!t) byLen.set(len, (t = new ByteTable()));
    t.set(masked(k.subarray(4), len), v);
  }
  const lens = [...byLen.keys()].sort((a, b) => b - a);
  const scratch = new Uint8Array(Math.max(0, m.keySize - 4));
  return (key) => {
    const want = u32le(key);
    const data = key.subarray(4);
    for (const len of lens) {
      if (len > want) continue;
      const hit = byLen.get(len)!.get(masked(data, len, scratch));
      if (hit) return hit;
    }
    return undefined;
  };
}

function snapshotLookup(name: string, m: SnapshotMap): Lookup {
  let inner: Lookup;
  if (m.type === 'lpm_trie') inner = lpmLookup(m);
  else if (m.type === 'array' || m.type === 'percpu_array') inner = arrayLookup(m);
  else if (/hash$/.test(m.type)) inner = hashLookup(m);
  else throw new PodwireError('USAGE', `map ${name} has type ${m.type}, which the twin cannot look up`);
  if (!m.percpu) return inner;
  return (key) => inner(key)?.subarray(0, m.valueSize);
}

export function snapshotSource(snap: MapSnapshot): MapSource {
  const lookups = new Map<string, Lookup>();
  return {
    description: `snapshot of ${snap.pinDir}${snap.node ? ` (node ${snap.node})` : ''} taken ${snap.createdAt}`,
    lookup(map, key) {
      let l = lookups.get(map);
      if (!l) {
        const m = snap.maps[map];
        if (!m) throw new PodwireError('MAP_LAYOUT_MISMATCH', `the snapshot has no map ${JSON.stringify(map)}: it was taken from a datapath without it; reload the datapath and take a new snapshot`);
        lookups.set(map, (l = snapshotLookup(map, m)));
      }
      return l(key);
    },
    close() {},
  };
}

export function liveSource(pinDir: string): MapSource {
  pinnedMapNames(pinDir); // fails with "no datapath at …" before any lookup
  const open = new Map<string, RawPinnedMap>();
  return {
    description: `live maps at ${pinDir}`,
    lookup(map, key) {
      let m = open.get(map);
      if (!m) {
        try {
          m = openRawPinned(pinDir, map);
        } catch (e) {
          if (e instanceof PodwireError && e.code === 'DATAPATH_NOT_LOADED') {
            throw new PodwireError('MAP_LAYOUT_MISMATCH', `the datapath at ${pinDir} has no map ${JSON.stringify(map)}: it was loaded by an older podwire; run \`podwire datapath load --pin-dir ${pinDir}\``, { cause: e });
          }
          throw e;
        }
        open.set(map, m);
      }
      const v = m.map.get(Buffer.from(key.buffer, key.byteOffset, key.byteLength));
      return v === undefined ? undefined : m.percpu ? v.subarray(0, m.elemSize) : v;
    },
    close() {
      for (const m of open.values()) m.close();
      open.clear();
    },
  };
}
