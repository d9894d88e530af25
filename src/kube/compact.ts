// Informers that keep compact records instead of client-node objects: at 100k pods the agent's
// memory must not hold 100k V1Pods. Every listed item and every watch event is converted on
// arrival (list: raw JSON, see raw-list.ts; watch: the event callback) into
// { metadata: {name, namespace, resourceVersion}, record } — all the ListWatch cache needs to key
// and diff it. A converter that throws or returns undefined leaves record undefined: the object
// is still cached (so its deletion is seen) but means nothing, and onMalformed reports it once per
// version. Never throws into the watch (client-node would drop the event silently).
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { resilientInformer, type ResilientInformer, type ResilientOptions } from './informer.js';
import { rawList } from './raw-list.js';

export interface Compact<R> extends KubernetesObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  record?: R;
}

export interface CompactSpec<R> {
  name: string;
  path: string;
  fieldSelector?: string;
  /** raw API JSON -> record; undefined (or a throw) = not usable. */
  convert: (raw: unknown) => R | undefined;
  /** A raw object the converter could not use (key namespace/name or name). */
  onMalformed?: (key: string, error: string) => void;
}

export function compactOf<R>(raw: unknown, spec: Pick<CompactSpec<R>, 'convert' | 'onMalformed'>): Compact<R> {
  const m = ((raw as { metadata?: unknown } | null)?.metadata ?? {}) as { name?: unknown; namespace?: unknown; resourceVersion?: unknown };
  const name = typeof m.name === 'string' ? m.name : '';
  const namespace = typeof m.namespace === 'string' ? m.namespace : undefined;
  const c: Compact<R> = {
    metadata: { name, ...(namespace === undefined ? {} : { namespace }), ...(typeof m.resourceVersion === 'string' ? { resourceVersion: m.resourceVersion } : {}) },
  };
  let record: R | undefined;
  let error = 'not a usable object';
  try {
    record = spec.convert(raw);
  } catch (e) {
    error = (e as Error).message ?? String(e);
  }
  if (record !== undefined) c.record = record;
  else spec.onMalformed?.(namespace === undefined ? name : `${namespace}/${name}`, error);
  return c;
}

/** FNV-1a of a record's JSON: whether an update changed anything the records carry. */
function digest(record: unknown): number {
  const text = JSON.stringify(record ?? null);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const keyOf = (c: Compact<unknown>) => (c.metadata.namespace === undefined ? c.metadata.name : `${c.metadata.namespace}/${c.metadata.name}`);

/**
 * A resilient informer of compact records. An update that leaves the record as it was (a Pod's
 * status conditions, a Service's annotations: most updates in a busy cluster) does not call
 * onChange: consumers recompute only when something they read changed. Lists always do.
 */
export function compactInformer<R>(kc: KubeConfig, spec: CompactSpec<R>, opts: ResilientOptions): ResilientInformer<Compact<R>> {
  const inner = new Watch(kc);
  const digests = new Map<string, number>();
  let unchanged = false;
  const remember = (c: Compact<R>): Compact<R> => {
    digests.set(keyOf(c), digest(c.record));
    return c;
  };
  const watch: Pick<Watch, 'watch'> = {
    watch: (path, query, callback, done) =>
      inner.watch(path, query, (phase: string, obj: unknown, w: unknown) => {
        if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return callback(phase, obj, w);
        const c = compactOf(obj, spec);
        const key = keyOf(c);
        if (phase === 'DELETED') digests.delete(key);
        else {
          const d = digest(c.record);
          unchanged = phase === 'MODIFIED' && digests.get(key) === d;
          digests.set(key, d);
        }
        try {
          // the ListWatch applies the event and fires its handlers synchronously in here
          return callback(phase, c, w);
        } finally {
          unchanged = false;
        }
      }, done),
  };
  const onChange = opts.onChange;
  opts = {
    ...opts,
    onChange: () => {
      if (!unchanged) onChange();
    },
  };
  return resilientInformer<Compact<R>>(
    kc,
    {
      name: spec.name,
      path: spec.path,
      ...(spec.fieldSelector === undefined ? {} : { fieldSelector: spec.fieldSelector }),
      watch,
      list: () => {
        digests.clear(); // a relist replaces the cache (its deletions never pass the watch)
        return rawList(kc, spec.path, (i) => remember(compactOf(i, spec)), spec.fieldSelector === undefined ? {} : { fieldSelector: spec.fieldSelector });
      },
    },
    opts,
  );
}

/** The records of a compact informer by key (namespace/name, or name for cluster objects). */
export function recordsOf<R>(inf: ResilientInformer<Compact<R>>): Map<string, R> {
  const out = new Map<string, R>();
  for (const c of inf.list()) {
    if (c.record === undefined) continue;
    out.set(c.metadata.namespace === undefined ? c.metadata.name : `${c.metadata.namespace}/${c.metadata.name}`, c.record);
  }
  return out;
}
