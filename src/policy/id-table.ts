// Small integer ids for values many records repeat (namespace and node names, label sets, port
// lists), with reference counts so an id (and its value) is freed when the last record using it
// goes. Id 0 is never handed out: a column can use it for "none". Values are compared as Map keys
// (strings by content, objects by identity: intern.ts hands out one object per content).
import { PodwireError } from '../errors/index.js';

export class IdTable<T> {
  private readonly ids = new Map<T, number>();
  private readonly values: (T | undefined)[] = [undefined];
  private readonly refs: number[] = [0];
  private readonly free: number[] = [];

  /** The id of value, counting one more reference to it. */
  acquire(value: T): number {
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.free.pop() ?? this.values.length;
      this.values[id] = value;
      this.refs[id] = 0;
      this.ids.set(value, id);
    }
    this.refs[id]!++;
    return id;
  }

  /** One reference fewer to id; the last one frees it. 0 is ignored. */
  release(id: number): void {
    if (id === 0) return;
    const n = --this.refs[id]!;
    if (n > 0) return;
    if (n < 0) throw new PodwireError('RECORD_INVALID', `IdTable: id ${id} released more often than acquired`);
    this.ids.delete(this.values[id] as T);
    this.values[id] = undefined;
    this.free.push(id);
  }

  value(id: number): T {
    const v = this.values[id];
    if (v === undefined) throw new PodwireError('RECORD_INVALID', `IdTable: no value for id ${id}`);
    return v;
  }

  /** Distinct values in use. */
  get size(): number {
    return this.ids.size;
  }
}
