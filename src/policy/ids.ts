// Stable u32 ids for policies, rulesets and sets: FNV-1a of a canonical string, bumped on a
// collision in the sorted order of the strings, so the same input always yields the same ids
// (an agent restart rewrites nothing) and ids never take a reserved value.

export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Ids for every distinct string, never one of `reserved` (0 is always reserved). */
export function assignIds(texts: Iterable<string>, reserved: readonly number[] = []): Map<string, number> {
  const sorted = [...new Set(texts)].sort();
  const taken = new Set<number>([0, ...reserved]);
  const out = new Map<string, number>();
  for (const t of sorted) {
    let id = fnv1a32(t);
    while (taken.has(id)) id = (id + 1) >>> 0;
    taken.add(id);
    out.set(t, id);
  }
  return out;
}
