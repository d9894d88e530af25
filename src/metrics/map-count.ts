// Counting a pinned map's entries cheaply, for the fill level (entries ÷ max_entries). The
// kernel keeps no element count user space can read (bpf_map_info has none), so we walk:
// hash-type maps with BPF_MAP_LOOKUP_BATCH (one syscall per BATCH entries instead of a
// get-next-key + lookup pair per entry), LPM tries key by key (the kernel has no batch ops for
// them; the routes map holds one entry per node). Arrays are always full by construction: they
// have a capacity but no fill level.
import type { MapRef, RawMap } from 'bpf';
// The binding under the bpf package's RawMap: RawMap.getBatch() copies every key and value into
// a fresh Buffer (at 100k endpoints that was 3-4× the whole kernel cost of the walk), while
// counting needs neither. Same syscall, buffers reused across calls. Not part of the package's
// typed API: if a release drops it, countEntries falls back to RawMap.getBatch.
import { native } from 'bpf/dist/util.js';
import { PodwireError } from '../errors/index.js';
import { mapTypeName } from '../maps/pinned.js';

const ENOENT = 2;

interface NativeBatch {
  mapLookupBatch(fd: number, inBatch: Buffer | undefined, outBatch: Buffer, keys: Buffer, values: Buffer, count: number, opts: { elemFlags: number }): [number, number | undefined];
}
const binding = native as Partial<NativeBatch> | undefined;

/** Entries of a hash-type map via BPF_MAP_LOOKUP_BATCH into reused buffers. */
function countBatched(ref: MapRef): number {
  const lookup = binding?.mapLookupBatch;
  if (typeof lookup !== 'function') throw new PodwireError('IO_FAILED', 'the bpf package\'s binding has no mapLookupBatch');
  const keys = Buffer.alloc(BATCH * ref.keySize);
  const values = Buffer.alloc(BATCH * ref.valueSize);
  // the kernel's batch cursor is opaque; for hash maps it is a u32 bucket index
  let cursorIn: Buffer | undefined;
  let cursorOut = Buffer.alloc(Math.max(ref.keySize, 4));
  let spare = Buffer.alloc(cursorOut.length);
  let n = 0;
  for (;;) {
    const [status, count] = lookup.call(binding, ref.fd, cursorIn, cursorOut, keys, values, BATCH, { elemFlags: 0 });
    // ENOENT: the walk is over (count holds the last batch); any other error: let the caller fall back
    if (status !== 0 && status !== -ENOENT) throw new PodwireError('IO_FAILED', `bpf_map_lookup_batch on map ${ref.id ?? '?'}: errno ${-status}`);
    n += count ?? 0;
    if (status === -ENOENT) return n;
    cursorIn = cursorOut;
    [cursorOut, spare] = [spare, cursorOut];
  }
}

/** Entries per BPF_MAP_LOOKUP_BATCH call: 100k endpoints in ~25 syscalls. */
export const BATCH = 4096;

const BATCHED = new Set(['hash', 'lru_hash', 'percpu_hash', 'lru_percpu_hash']);
const WALKED = new Set(['lpm_trie']);

/** Whether a map type has a fill level at all (arrays and special maps do not). */
export function hasFillLevel(type: number): boolean {
  const t = mapTypeName(type);
  return BATCHED.has(t) || WALKED.has(t);
}

/** Number of entries, or undefined for map types without a fill level. */
export function countEntries(map: RawMap, ref: MapRef): number | undefined {
  const t = mapTypeName(ref.type);
  let n = 0;
  if (BATCHED.has(t)) {
    try {
      return countBatched(ref);
    } catch {
      for (const batch of map.getBatch(BATCH)) n += batch.length;
      return n;
    }
  }
  if (WALKED.has(t)) {
    for (const _ of map.keys()) n++;
    return n;
  }
  return undefined;
}
