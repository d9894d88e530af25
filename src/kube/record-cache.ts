// The cache behind compact informers: one Map from key (namespace/name, or name for cluster
// objects) to the converted record, and nothing else per object — no client-node object, no
// metadata wrapper, no per-object resourceVersion (unless asked for), no digest table. At 65,000
// Nodes and 1,000,000 Pods the agent's memory is these maps. It follows client-node's ListWatch
// protocol (the resilient informer drives it the same way): list (paged, raw JSON, converted page
// by page into a fresh map), then watch from the list's resourceVersion; a closed watch re-watches
// from the last version seen, a 410 Gone (on the watch request or as an ERROR event) relists and
// diffs the new map against the old one; any other error is reported once and the owner restarts.
//
// Events: a watch event fires add/update/delete only when the record changed (an update that
// leaves the record as it was — a Pod's status conditions, most updates in a busy cluster — is
// no event at all). A list fires one add and one delete event carrying their counts (a number
// argument), not one per object; the owner recomputes from the whole cache after it.
import type { Watch } from '@kubernetes/client-node';

export interface RecordSpec<R> {
  path: string;
  fieldSelector?: string;
  /** raw API JSON -> record; undefined (or a throw) = not usable. */
  convert: (raw: unknown) => R | undefined;
  /** A raw object the converter could not use (key namespace/name or name). */
  onMalformed?: (key: string, error: string) => void;
  /** Keep each object's resourceVersion (a few small collections need it; pods do not). */
  keepVersions?: boolean;
  /** Where records are kept (default a Map): a consumer with a million records may store them by
   * column (policy/pod-store.ts). A list fills a fresh one. */
  store?: () => RecordStore<R>;
}

/** The map a cache keeps its records in: a Map, or anything that reads and writes like one. */
export interface RecordStore<R> extends ReadonlyMap<string, R> {
  set(key: string, record: R): unknown;
  delete(key: string): boolean;
  /** Room for n records in all (a list's size, known from its first page): a store that grows
   * by copying sizes itself once instead of growing (and holding old and new copies) page by page. */
  reserve?(n: number): void;
}

export interface Converted<R> {
  key: string;
  name: string;
  namespace?: string;
  resourceVersion?: string;
  record?: R;
}

export function convertRaw<R>(raw: unknown, spec: Pick<RecordSpec<R>, 'convert' | 'onMalformed'>): Converted<R> {
  const m = ((raw as { metadata?: unknown } | null)?.metadata ?? {}) as { name?: unknown; namespace?: unknown; resourceVersion?: unknown };
  const name = typeof m.name === 'string' ? m.name : '';
  const namespace = typeof m.namespace === 'string' ? m.namespace : undefined;
  const out: Converted<R> = { key: namespace === undefined ? name : `${namespace}/${name}`, name };
  if (namespace !== undefined) out.namespace = namespace;
  if (typeof m.resourceVersion === 'string') out.resourceVersion = m.resourceVersion;
  let error = 'not a usable object';
  try {
    const r = spec.convert(raw);
    if (r !== undefined) out.record = r;
  } catch (e) {
    error = (e as Error).message ?? String(e);
  }
  if (out.record === undefined) spec.onMalformed?.(out.key, error);
  return out;
}

/** namespace/name, or name for cluster objects, of a raw API object. */
export function keyOfRaw(raw: unknown): string {
  const m = ((raw as { metadata?: unknown } | null)?.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  const name = typeof m.name === 'string' ? m.name : '';
  return typeof m.namespace === 'string' ? `${m.namespace}/${name}` : name;
}

/** Records as plain data are equal when their JSON is. */
export const sameRecord = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

/** What a list left behind: the fresh maps and the snapshot's version. */
export interface LoadedRecords<R> {
  metadata: { resourceVersion?: string };
  count: number;
  pages?: number;
  records: RecordStore<R>;
  /** Keys of objects whose record could not be made (kept so their deletion is seen). */
  opaque: Set<string>;
  versions?: Map<string, string>;
}

type Verb = 'add' | 'update' | 'delete' | 'error' | 'connect';

export class RecordCache<R> {
  records: RecordStore<R>;
  private opaque = new Set<string>();
  private versions: Map<string, string> | undefined;
  private resourceVersion = '';
  private stopped = false;
  private request: AbortController | undefined;
  private readonly callbacks: Record<Verb, Array<(arg?: unknown) => void>> = { add: [], update: [], delete: [], error: [], connect: [] };

  constructor(
    private readonly spec: RecordSpec<R>,
    private readonly watch: Pick<Watch, 'watch'>,
    private readonly listFn: () => Promise<LoadedRecords<R>>,
  ) {
    if (spec.keepVersions) this.versions = new Map();
    this.records = spec.store?.() ?? new Map<string, R>();
  }

  /** Convert one listed object into a LoadedRecords under construction. */
  static put<R>(into: LoadedRecords<R>, raw: unknown, spec: RecordSpec<R>): void {
    const c = convertRaw(raw, spec);
    if (c.record !== undefined) into.records.set(c.key, c.record);
    else into.opaque.add(c.key);
    if (into.versions && c.resourceVersion !== undefined) into.versions.set(c.key, c.resourceVersion);
  }

  on(verb: Verb, cb: (arg?: unknown) => void): void {
    this.callbacks[verb].push(cb);
  }

  get size(): number {
    return this.records.size + this.opaque.size;
  }

  versionOf(key: string): string | undefined {
    return this.versions?.get(key);
  }

  latestResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Every key with its record (undefined for objects the converter refused). */
  *entries(): Generator<[string, R | undefined]> {
    yield* this.records;
    for (const k of this.opaque) yield [k, undefined];
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.doneHandler(null);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort();
  }

  private abort(): void {
    this.request?.abort();
    this.request = undefined;
  }

  private fire(verb: Verb, arg?: unknown): void {
    for (const cb of this.callbacks[verb]) cb(arg);
  }

  private async doneHandler(err: unknown): Promise<void> {
    this.abort();
    const e = err as { statusCode?: number; code?: number } | null;
    if (e && (e.statusCode === 410 || e.code === 410)) this.resourceVersion = '';
    else if (e) {
      this.fire('error', err);
      return;
    }
    if (this.stopped) return;
    this.fire('connect');
    if (!this.resourceVersion) {
      let loaded: LoadedRecords<R>;
      try {
        loaded = await this.listFn();
      } catch (listErr) {
        this.fire('error', listErr);
        return;
      }
      if (this.stopped) return; // stopped while the list was in flight: no watch after stop()
      this.replace(loaded);
      this.resourceVersion = loaded.metadata.resourceVersion ?? '';
    }
    const query: Record<string, string> = { resourceVersion: this.resourceVersion };
    if (this.spec.fieldSelector !== undefined) query['fieldSelector'] = this.spec.fieldSelector;
    const req = await this.watch.watch(this.spec.path, query, (phase: string, obj: unknown) => this.onEvent(phase, obj), (doneErr: unknown) => void this.doneHandler(doneErr));
    if (this.stopped) req.abort();
    else this.request = req;
  }

  /** A list: deletions are the keys the new snapshot lacks (they never passed the watch). Adds
   * and deletes are reported once each with their count (a million callbacks would cost a second);
   * changed records of a relist are not told apart (the owner recomputes after any list). */
  private replace(loaded: LoadedRecords<R>): void {
    const has = (k: string, r: ReadonlyMap<string, unknown>, o: Set<string>) => r.has(k) || o.has(k);
    let deleted = 0;
    let added = 0;
    for (const k of this.records.keys()) if (!has(k, loaded.records, loaded.opaque)) deleted++;
    for (const k of this.opaque) if (!has(k, loaded.records, loaded.opaque)) deleted++;
    for (const k of loaded.records.keys()) if (!has(k, this.records, this.opaque)) added++;
    for (const k of loaded.opaque) if (!has(k, this.records, this.opaque)) added++;
    this.records = loaded.records;
    this.opaque = loaded.opaque;
    if (this.versions) this.versions = loaded.versions ?? new Map();
    if (deleted > 0) this.fire('delete', deleted);
    if (added > 0) this.fire('add', added);
  }

  // Never throws: client-node's Watch swallows callback errors, so an exception would lose the event.
  private onEvent(phase: string, obj: unknown): void {
    try {
      const o = obj as { code?: number; metadata?: { resourceVersion?: string } } | null;
      if (phase === 'ERROR') {
        if (o?.code === 410) this.resourceVersion = ''; // the watch ends next; doneHandler relists
        return;
      }
      if (phase === 'ADDED' || phase === 'MODIFIED') this.upsert(obj);
      else if (phase === 'DELETED') this.remove(obj);
      const rv = o?.metadata?.resourceVersion;
      if (typeof rv === 'string' && rv) this.resourceVersion = rv;
    } catch (e) {
      this.fire('error', e);
    }
  }

  private upsert(obj: unknown): void {
    const c = convertRaw(obj, this.spec);
    const had = this.records.has(c.key) || this.opaque.has(c.key);
    const prev = this.records.get(c.key);
    if (this.versions && c.resourceVersion !== undefined) this.versions.set(c.key, c.resourceVersion);
    if (c.record === undefined) {
      this.records.delete(c.key);
      this.opaque.add(c.key);
      if (!had) this.fire('add');
      else if (prev !== undefined) this.fire('update');
      return;
    }
    this.opaque.delete(c.key);
    this.records.set(c.key, c.record);
    if (!had) this.fire('add');
    else if (prev === undefined || !sameRecord(prev, c.record)) this.fire('update');
  }

  private remove(obj: unknown): void {
    const key = keyOfRaw(obj);
    this.versions?.delete(key);
    if (this.records.delete(key) || this.opaque.delete(key)) this.fire('delete');
  }
}
