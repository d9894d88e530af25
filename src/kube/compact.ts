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

export function compactInformer<R>(kc: KubeConfig, spec: CompactSpec<R>, opts: ResilientOptions): ResilientInformer<Compact<R>> {
  const inner = new Watch(kc);
  const watch: Pick<Watch, 'watch'> = {
    watch: (path, query, callback, done) =>
      inner.watch(path, query, (phase: string, obj: unknown, w: unknown) => {
        const converted = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? compactOf(obj, spec) : obj;
        return callback(phase, converted, w);
      }, done),
  };
  return resilientInformer<Compact<R>>(
    kc,
    {
      name: spec.name,
      path: spec.path,
      ...(spec.fieldSelector === undefined ? {} : { fieldSelector: spec.fieldSelector }),
      watch,
      list: () => rawList(kc, spec.path, (i) => compactOf(i, spec), spec.fieldSelector === undefined ? {} : { fieldSelector: spec.fieldSelector }),
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
