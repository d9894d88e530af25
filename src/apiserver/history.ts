// The bounded event history watches replay from, like etcd's log before compaction: a ring of
// the last N committed events across all resources, one global resourceVersion order. A watch
// from a version older than the oldest kept event must get 410 Expired and relist.
import type { ResourceDef } from './resources.js';
import type { EventType, KubeObject } from './types.js';

/** One committed change. `obj` is the object after the change (for DELETED: the deleted object at the deletion's version). */
export interface StoreEvent {
  type: EventType;
  rv: number;
  def: ResourceDef;
  namespace: string;
  obj: KubeObject;
  /** JSON of `obj` including kind/apiVersion. */
  json: string;
  /** The object before the change (MODIFIED only): watchers with selectors need it. */
  prev?: KubeObject;
  /** Watch lines per event type, built once and written to every watcher. */
  lines?: Partial<Record<EventType, string>>;
}

export function eventLine(ev: StoreEvent, type: EventType): string {
  const cache = (ev.lines ??= {});
  return (cache[type] ??= `{"type":"${type}","object":${ev.json}}\n`);
}

export class History {
  private readonly ring: (StoreEvent | undefined)[];
  private start = 0;
  private count = 0;
  /** Highest resourceVersion no longer replayable (0: nothing dropped yet). */
  compactedRv = 0;

  constructor(readonly limit: number) {
    this.ring = new Array<StoreEvent | undefined>(limit);
  }

  push(ev: StoreEvent): void {
    if (this.limit === 0) {
      this.compactedRv = ev.rv;
      return;
    }
    if (this.count === this.limit) {
      const dropped = this.ring[this.start]!;
      this.compactedRv = dropped.rv;
      this.ring[this.start] = undefined;
      this.start = (this.start + 1) % this.limit;
      this.count--;
    }
    this.ring[(this.start + this.count) % this.limit] = ev;
    this.count++;
  }

  /** Events with rv > after, oldest first. Caller checked `after >= compactedRv`. */
  *since(after: number): Generator<StoreEvent> {
    // Binary search the first event newer than `after` (the ring is sorted by rv).
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ring[(this.start + mid) % this.limit]!.rv <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.count; i++) yield this.ring[(this.start + i) % this.limit]!;
  }

  /** Forget everything up to `rv` (fault injection: force every watcher to relist). */
  compactTo(rv: number): void {
    this.ring.fill(undefined);
    this.start = 0;
    this.count = 0;
    this.compactedRv = rv;
  }

  get size(): number {
    return this.count;
  }
}
