// Desired vs actual, by key: the only way the agent changes a map. A relist never flushes:
// entries that are right stay untouched (no window where a packet misses its route), wrong
// ones are overwritten in place, and only keys the cluster no longer has are deleted.
export interface KeyedDiff<V> {
  add: V[];
  update: V[];
  /** Keys to delete. */
  remove: string[];
  unchanged: number;
}

export function diffByKey<V>(desired: ReadonlyMap<string, V>, actual: ReadonlyMap<string, V>, equal: (a: V, b: V) => boolean): KeyedDiff<V> {
  const add: V[] = [];
  const update: V[] = [];
  const remove: string[] = [];
  let unchanged = 0;
  for (const [k, want] of desired) {
    const have = actual.get(k);
    if (have === undefined) add.push(want);
    else if (equal(want, have)) unchanged++;
    else update.push(want);
  }
  for (const k of actual.keys()) if (!desired.has(k)) remove.push(k);
  return { add, update, remove, unchanged };
}

export function isEmptyDiff(d: KeyedDiff<unknown>): boolean {
  return d.add.length === 0 && d.update.length === 0 && d.remove.length === 0;
}
