// Counting a pinned map's entries cheaply, for the fill level (entries ÷ max_entries). The
// kernel keeps no element count user space can read (bpf_map_info has none), so we walk:
// hash-type maps with BPF_MAP_LOOKUP_BATCH (one syscall per BATCH entries instead of a
// get-next-key + lookup pair per entry), LPM tries key by key (the kernel has no batch ops for
// them; the routes map holds one entry per node). Arrays are always full by construction: they
// have a capacity but no fill level.
import type { RawMap } from 'bpf';
import { mapTypeName } from '../maps/pinned.js';

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
export function countEntries(map: RawMap, type: number): number | undefined {
  const t = mapTypeName(type);
  let n = 0;
  if (BATCHED.has(t)) {
    for (const batch of map.getBatch(BATCH)) n += batch.length;
    return n;
  }
  if (WALKED.has(t)) {
    for (const _ of map.keys()) n++;
    return n;
  }
  return undefined;
}
