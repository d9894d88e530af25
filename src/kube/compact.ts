// Informers that keep compact records instead of client-node objects: at 65,000 Nodes and
// 1,000,000 Pods the agent's memory must not hold V1Nodes and V1Pods. Every listed item and every
// watch event is converted on arrival (list: raw JSON pages, see raw-list.ts; watch: the event
// callback) into the consumer's record, kept in one Map by key (record-cache.ts). A converter that
// throws or returns undefined leaves no record: the object's key is still cached (so its deletion
// is seen) but means nothing, and onMalformed reports it. Never throws into the watch (client-node
// would drop the event silently).
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { resilientInformer, type ResilientInformer, type ResilientOptions } from './informer.js';
import { rawPages, type RawListOptions } from './raw-list.js';
import { convertRaw, RecordCache, type LoadedRecords, type RecordSpec } from './record-cache.js';

export interface Compact<R> extends KubernetesObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  record?: R;
}

export interface CompactSpec<R> extends RecordSpec<R> {
  name: string;
  /** List page size (default raw-list's LIST_PAGE). */
  pageSize?: number;
}

/** One raw object as a Compact (its metadata and its record): what list() hands out. */
export function compactOf<R>(raw: unknown, spec: Pick<CompactSpec<R>, 'convert' | 'onMalformed'>): Compact<R> {
  const c = convertRaw(raw, spec);
  const out: Compact<R> = {
    metadata: { name: c.name, ...(c.namespace === undefined ? {} : { namespace: c.namespace }), ...(c.resourceVersion === undefined ? {} : { resourceVersion: c.resourceVersion }) },
  };
  if (c.record !== undefined) out.record = c.record;
  return out;
}

export interface CompactInformer<R> extends ResilientInformer<Compact<R>> {
  /** The cache itself, by key (namespace/name, or name): read it, never change it. Objects the
   * converter refused are not in it. */
  records(): ReadonlyMap<string, R>;
  /** Objects cached, refused ones included. */
  readonly size: number;
  /** The object's resourceVersion, when the spec keeps them. */
  versionOf(key: string): string | undefined;
}

function splitKey(key: string): { name: string; namespace?: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * A resilient informer of compact records. An update that leaves the record as it was (a Pod's
 * status conditions, a Service's annotations: most updates in a busy cluster) does not call
 * onChange: consumers recompute only when something they read changed. Lists always do.
 * list() builds a Compact per object on every call: prefer records().
 */
export function compactInformer<R>(kc: KubeConfig, spec: CompactSpec<R>, opts: ResilientOptions): CompactInformer<R> {
  let cache!: RecordCache<R>;
  // one list at a time: a new one (a restart after an error) or stop() aborts the one in flight,
  // so a slow million-item list is never running twice (each holds its own fresh map)
  let inFlight: AbortController | undefined;
  const load = async (): Promise<LoadedRecords<R>> => {
    inFlight?.abort();
    const ac = (inFlight = new AbortController());
    const listOpts: RawListOptions = {
      ...(spec.fieldSelector === undefined ? {} : { fieldSelector: spec.fieldSelector }),
      ...(spec.pageSize === undefined ? {} : { pageSize: spec.pageSize }),
      pageTimeoutMs: opts.listTimeoutMs ?? 30_000,
      signal: ac.signal,
    };
    const into: LoadedRecords<R> = { metadata: {}, count: 0, records: spec.store?.() ?? new Map<string, R>(), opaque: new Set(), ...(spec.keepVersions ? { versions: new Map() } : {}) };
    listOpts.onTotal = (n) => into.records.reserve?.(n);
    const r = await rawPages(kc, spec.path, (raw) => RecordCache.put(into, raw, spec), listOpts).finally(() => {
      if (inFlight === ac) inFlight = undefined;
    });
    into.count = r.count;
    into.pages = r.pages;
    if (r.resourceVersion !== undefined) into.metadata.resourceVersion = r.resourceVersion;
    return into;
  };
  const inf = resilientInformer<Compact<R>, LoadedRecords<R>>(
    kc,
    {
      name: spec.name,
      path: spec.path,
      ...(spec.fieldSelector === undefined ? {} : { fieldSelector: spec.fieldSelector }),
      list: load,
      listTimesOut: true,
      cache: (listFn) => {
        cache = new RecordCache(spec, new Watch(kc), listFn);
        return {
          on: (verb, cb) => cache.on(verb, cb),
          start: () => cache.start(),
          stop: () => {
            inFlight?.abort();
            return cache.stop();
          },
          latestResourceVersion: () => cache.latestResourceVersion(),
          list: () => {
            const out: Compact<R>[] = [];
            for (const [key, record] of cache.entries()) {
              const rv = cache.versionOf(key);
              const c: Compact<R> = { metadata: { ...splitKey(key), ...(rv === undefined ? {} : { resourceVersion: rv }) } };
              if (record !== undefined) c.record = record;
              out.push(c);
            }
            return out;
          },
        };
      },
    },
    opts,
  );
  // defineProperties, not Object.assign: assign would copy the getters' values once
  return Object.defineProperties(inf, {
    records: { value: () => cache.records as ReadonlyMap<string, R> },
    size: { get: () => cache.size },
    versionOf: { value: (key: string) => cache.versionOf(key) },
  }) as CompactInformer<R>;
}

/** The records of a compact informer by key (namespace/name, or name for cluster objects): the
 * cache's own map, not a copy. */
export function recordsOf<R>(inf: CompactInformer<R>): ReadonlyMap<string, R> {
  return inf.records();
}
