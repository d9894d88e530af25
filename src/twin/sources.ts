// Where the twin's map lookups get their answers: a snapshot (offline trace, differential test)
// or the live pinned maps (trace on a node). Both give bpf_map_lookup_elem()'s semantics for the
// map's type — exact match for hashes, index for arrays, longest prefix for LPM tries — and
// return one element's bytes (CPU 0's share of a per-CPU value).
import { PodwireError } from '../errors/index.js';
import { readU32 } from '../maps/codec.js';
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

const str = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

function hashLookup(m: SnapshotMap): Lookup {
  const byKey = new Map<string, Uint8Array>();
  for (const [k, v] of m.entries) byKey.set(str(k), v);
  return (key) => byKey.get(str(key));
}

function arrayLookup(m: SnapshotMap): Lookup {
  const byIndex = new Map<number, Uint8Array>();
  for (const [k, v] of m.entries) byIndex.set(readU32(Buffer.from(k), 0), v);
  return (key) => byIndex.get(readU32(Buffer.from(key.buffer, key.byteOffset, 4), 0));
}

/** Masks `data` to its first `bits` bits (the part an LPM entry of that prefix compares). */
function masked(data: Uint8Array, bits: number): string {
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length && bits > 0; i++, bits -= 8) out[i] = (data[i] ?? 0) & (bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff);
  return out.toString('latin1');
}

/** LPM_TRIE: key = u32 prefixlen (host order) + data; the longest stored prefix ≤ the key's wins. */
function lpmLookup(m: SnapshotMap): Lookup {
  const byLen = new Map<number, Map<string, Uint8Array>>();
  for (const [k, v] of m.entries) {
    const kb = Buffer.from(k);
    const len = readU32(kb, 0);
    let t = byLen.get(len);
    if (!t) byLen.set(len, (t = new Map()));
    t.set(masked(kb.subarray(4), len), v);
  }
  const lens = [...byLen.keys()].sort((a, b) => b - a);
  return (key) => {
    const kb = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    const want = readU32(kb, 0);
    const data = kb.subarray(4);
    for (const len of lens) {
      if (len > want) continue;
      const hit = byLen.get(len)!.get(masked(data, len));
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
