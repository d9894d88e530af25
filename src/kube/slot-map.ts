// A ReadonlyMap whose keys live in a KeySlots table and whose values are built from columns indexed
// by slot (NodeStore, PodStore, RouteSet): the map interface once, each store only says how a value
// is read from its slot and how its columns follow the table's capacity.
import { KeySlots } from './key-slots.js';

export abstract class SlotMap<V> implements ReadonlyMap<string, V> {
  protected readonly table = new KeySlots();

  /** A fresh value equal to the one stored under key at slot s. */
  protected abstract valueAt(key: string, s: number): V;

  abstract get [Symbol.toStringTag](): string;

  get size(): number {
    return this.table.size;
  }

  has(key: string): boolean {
    return this.table.has(key);
  }

  get(key: string): V | undefined {
    const s = this.table.get(key);
    return s < 0 ? undefined : this.valueAt(key, s);
  }

  *entries(): MapIterator<[string, V]> {
    for (const s of this.table.slots()) {
      const k = this.table.keyOf(s);
      yield [k, this.valueAt(k, s)];
    }
  }

  *keys(): MapIterator<string> {
    for (const s of this.table.slots()) yield this.table.keyOf(s);
  }

  *values(): MapIterator<V> {
    for (const s of this.table.slots()) yield this.valueAt(this.table.keyOf(s), s);
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(cb: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }
}

/** A column at least n long: a itself, or a zero-filled copy of length n. */
export function grown<A extends Uint8Array | Uint32Array>(a: A, n: number): A {
  if (a.length >= n) return a;
  const b = new (a.constructor as new (length: number) => A)(n);
  b.set(a);
  return b;
}
