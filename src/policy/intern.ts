// Shared copies of the values a million Pod records repeat: namespace and node names, label sets
// (replicas of one workload carry the same labels), named-port lists (mostly empty). A record then
// holds pointers to one frozen copy instead of its own strings and objects: at 1M pods this is
// the difference between ~440 and ~150 bytes per record. Pools are bounded: past MAX_POOL entries
// (churn of unique values) a pool starts over, which costs sharing, never correctness.
const MAX_POOL = 200_000;

export class Interner<T> {
  private pool = new Map<string, T>();

  /** The shared copy of `value`, whose identity is `key`. */
  get(key: string, value: () => T): T {
    let v = this.pool.get(key);
    if (v === undefined) {
      if (this.pool.size >= MAX_POOL) this.pool = new Map();
      v = value();
      this.pool.set(key, v);
    }
    return v;
  }

  get size(): number {
    return this.pool.size;
  }
}

const strings = new Interner<string>();
const labelSets = new Interner<Readonly<Record<string, string>>>();
const portLists = new Interner<readonly unknown[]>();
const EMPTY: readonly never[] = Object.freeze([]);

/** One shared instance of a short repeated string (namespace, node name). */
export function internString(s: string): string {
  return strings.get(s, () => s);
}

/** One frozen, shared label set per distinct content. */
export function internLabels(labels: Record<string, string>): Readonly<Record<string, string>> {
  const keys = Object.keys(labels);
  if (keys.length === 0) return labelSets.get('', () => Object.freeze({}));
  // key order is part of the identity only for sharing: {a,b} and {b,a} may get two copies
  let k = '';
  for (const key of keys) k += `${key}\u0000${labels[key]}\u0001`;
  return labelSets.get(k, () => Object.freeze(labels));
}

/** One frozen, shared list per distinct content (most pods name no ports: the empty one). */
export function internList<T>(list: readonly T[]): readonly T[] {
  if (list.length === 0) return EMPTY;
  return portLists.get(JSON.stringify(list), () => Object.freeze(list)) as readonly T[];
}
