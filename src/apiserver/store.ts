// The object store: one Map per resource keyed by "namespace/name" (or "name"), secondary
// indexes for the lookups that must stay O(1) at 1,000,000 pods (pods by namespace, pods by
// spec.nodeName), one global resourceVersion counter as etcd's revision, and the event log
// watches replay from. Each committed object is serialized to JSON once, at commit; lists and
// watch events reuse that text.
import { randomUUID } from 'node:crypto';
import { History, type StoreEvent } from './history.js';
import { generateName, RESOURCES, type ResourceDef } from './resources.js';
import {
  alreadyExists, badRequest, conflict, CONFLICT_MODIFIED, invalid, notFound, type FieldError,
} from './status.js';
import { isRecord, type KubeObject, type ObjectMeta, type ResourceName } from './types.js';

export interface Entry {
  key: string;
  obj: KubeObject;
  /** The object as JSON, kind and apiVersion first. */
  json: string;
  rv: number;
}

export interface Preconditions {
  uid?: string;
  resourceVersion?: string;
}

export class Table {
  readonly byKey = new Map<string, Entry>();
  /** Namespaced resources: namespace → name → entry. */
  readonly byNamespace = new Map<string, Map<string, Entry>>();
  /** Pods only: spec.nodeName → key → entry (the agent's own-node field selector). */
  readonly byNode = new Map<string, Map<string, Entry>>();
  private sorted: string[] | undefined;

  constructor(readonly def: ResourceDef) {}

  /** Keys in etcd order (sorted); rebuilt lazily after a create or delete, not on updates. */
  sortedKeys(): string[] {
    // An explicit comparator sorts strings ~2× faster than the default (which compares as UTF-16 too).
    return (this.sorted ??= [...this.byKey.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  insert(e: Entry, prev?: Entry): void {
    this.byKey.set(e.key, e);
    if (!prev) this.sorted = undefined;
    if (this.def.namespaced) {
      const ns = e.obj.metadata.namespace ?? '';
      let m = this.byNamespace.get(ns);
      if (!m) this.byNamespace.set(ns, (m = new Map()));
      m.set(e.key, e);
    }
    if (this.def.name === 'pods') {
      const before = prev ? nodeNameOf(prev.obj) : undefined;
      const now = nodeNameOf(e.obj);
      if (before !== undefined && before !== now) this.byNode.get(before)?.delete(e.key);
      let m = this.byNode.get(now);
      if (!m) this.byNode.set(now, (m = new Map()));
      m.set(e.key, e);
    }
  }

  remove(e: Entry): void {
    this.byKey.delete(e.key);
    this.sorted = undefined;
    if (this.def.namespaced) {
      const ns = e.obj.metadata.namespace ?? '';
      const m = this.byNamespace.get(ns);
      m?.delete(e.key);
      if (m && m.size === 0) this.byNamespace.delete(ns);
    }
    if (this.def.name === 'pods') {
      const node = nodeNameOf(e.obj);
      const m = this.byNode.get(node);
      m?.delete(e.key);
      if (m && m.size === 0) this.byNode.delete(node);
    }
  }
}

function nodeNameOf(obj: KubeObject): string {
  const n = obj.spec?.nodeName;
  return typeof n === 'string' ? n : '';
}

export const objectKey = (def: ResourceDef, namespace: string, name: string): string =>
  def.namespaced ? `${namespace}/${name}` : name;

/** Serialize with kind/apiVersion first, as the real server writes objects. */
export function serialize(def: ResourceDef, obj: KubeObject): string {
  const { kind: _k, apiVersion: _a, ...rest } = obj;
  return def.jsonPrefix + JSON.stringify(rest).slice(1);
}

// RFC 3339 seconds, as metav1.Time; formatted once per second (creates come in bursts of thousands).
let nowSecond = -1;
let nowText = '';
function now(): string {
  const sec = Math.floor(Date.now() / 1000);
  if (sec !== nowSecond) {
    nowSecond = sec;
    nowText = new Date(sec * 1000).toISOString().replace('.000Z', 'Z');
  }
  return nowText;
}

// Server-owned metadata first, in the order the real server prints it; the rest as given.
const META_ORDER = ['name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'labels', 'annotations'];
const META_KNOWN = new Set(META_ORDER);
function canonicalMeta(m: ObjectMeta): ObjectMeta {
  const out: ObjectMeta = {};
  for (const k of META_ORDER) {
    const v = m[k];
    if (v !== undefined && v !== null) out[k] = v;
  }
  for (const k in m) {
    if (!META_KNOWN.has(k) && m[k] !== undefined) out[k] = m[k];
  }
  return out;
}

/**
 * What the real registry does between validation and the etcd write for resources whose values
 * are allocated from shared pools (Services): it may fill fields in or throw an ApiError (422).
 * It runs last before the commit, so nothing can fail after it has reserved something.
 */
export interface Admission {
  create(def: ResourceDef, obj: KubeObject): void;
  update(def: ResourceDef, obj: KubeObject, old: KubeObject): void;
  deleted(def: ResourceDef, obj: KubeObject): void;
}

export interface WriteOptions {
  /** In-process callers (lab, benchmarks) may create objects with their status in one write. */
  keepStatus?: boolean;
}

export class Store {
  rv = 0;
  readonly history: History;
  readonly tables: Record<ResourceName, Table>;
  private readonly listeners: Array<(ev: StoreEvent) => void> = [];
  private readonly queue: StoreEvent[] = [];
  private dispatching = false;
  private admission: Admission | undefined;

  constructor(historyLimit: number) {
    this.history = new History(historyLimit);
    const tables = {} as Record<ResourceName, Table>;
    for (const def of Object.values(RESOURCES)) tables[def.name] = new Table(def);
    this.tables = tables;
  }

  /** Install the admission step (ClusterIP/NodePort allocation) that runs right before a commit. */
  setAdmission(a: Admission): void {
    this.admission = a;
  }

  /** Listeners run after each commit, in commit order, even when a listener writes (node-IPAM). */
  onEvent(fn: (ev: StoreEvent) => void): void {
    this.listeners.push(fn);
  }

  table(def: ResourceDef): Table {
    return this.tables[def.name];
  }

  get(def: ResourceDef, namespace: string, name: string): Entry | undefined {
    return this.tables[def.name].byKey.get(objectKey(def, namespace, name));
  }

  mustGet(def: ResourceDef, namespace: string, name: string): Entry {
    const e = this.get(def, namespace, name);
    if (!e) throw notFound(def.name, name);
    return e;
  }

  /** Bring a request body into stored form: no kind/apiVersion, namespace from the URL. */
  private normalize(def: ResourceDef, namespace: string, body: unknown): KubeObject {
    if (!isRecord(body)) throw badRequest(`the body of the request is not a ${def.kind} object`);
    if (body.kind !== undefined && body.kind !== def.kind) {
      throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: the object has kind ${String(body.kind)}`);
    }
    if (body.apiVersion !== undefined && body.apiVersion !== def.apiVersion) {
      throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${def.apiVersion})`);
    }
    const obj = { ...body } as KubeObject;
    delete obj.kind;
    delete obj.apiVersion;
    const meta: ObjectMeta = isRecord(obj.metadata) ? { ...obj.metadata } : {};
    if (def.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace;
    } else {
      delete meta.namespace;
    }
    obj.metadata = meta;
    return obj;
  }

  private check(def: ResourceDef, obj: KubeObject, old?: KubeObject): void {
    const errs: FieldError[] = def.validate(obj, old);
    if (errs.length > 0) throw invalid(def.kind, obj.metadata.name ?? '', errs);
  }

  create(def: ResourceDef, namespace: string, body: unknown, opts: WriteOptions = {}): Entry {
    const obj = this.normalize(def, namespace, body);
    const meta = obj.metadata;
    if (def.namespaced && !this.get(RESOURCES.namespaces, '', namespace)) throw notFound('namespaces', namespace);
    if ((meta.name ?? '') === '' && typeof meta.generateName === 'string' && meta.generateName !== '') {
      // The real server retries name generation a few times on collision, then answers 409.
      for (let i = 0; i < 8; i++) {
        meta.name = generateName(meta.generateName);
        if (!this.get(def, namespace, meta.name)) break;
      }
    }
    const status = obj.status;
    def.prepareForCreate(obj);
    if (opts.keepStatus && status !== undefined) obj.status = status;
    this.check(def, obj);
    const name = meta.name!;
    const key = objectKey(def, namespace, name);
    const table = this.tables[def.name];
    if (table.byKey.has(key)) throw alreadyExists(def.name, name);
    this.admission?.create(def, obj);
    const rv = ++this.rv;
    meta.uid = randomUUID();
    meta.resourceVersion = String(rv);
    meta.creationTimestamp = now();
    delete meta.deletionTimestamp;
    obj.metadata = canonicalMeta(meta);
    const entry: Entry = { key, obj, json: serialize(def, obj), rv };
    table.insert(entry);
    this.commit({ type: 'ADDED', rv, def, namespace, obj, json: entry.json });
    return entry;
  }

  /**
   * PUT semantics. `subresource: 'status'` takes only the status from the body; the main
   * resource keeps the stored status. A body resourceVersion is a precondition (409 on mismatch);
   * an empty one means an unconditional update, which these resources allow.
   */
  update(def: ResourceDef, namespace: string, name: string, body: unknown, subresource?: 'status'): Entry {
    const table = this.tables[def.name];
    const old = this.mustGet(def, namespace, name);
    let obj = this.normalize(def, namespace, body);
    const bodyName = obj.metadata.name;
    if (bodyName !== undefined && bodyName !== '' && bodyName !== name) {
      throw badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    }
    const want = obj.metadata.resourceVersion;
    if (want !== undefined && want !== '' && want !== String(old.rv)) throw conflict(def.name, name, CONFLICT_MODIFIED);
    if (obj.metadata.uid !== undefined && obj.metadata.uid !== '' && obj.metadata.uid !== old.obj.metadata.uid) {
      throw conflict(def.name, name, `Precondition failed: UID in precondition: ${obj.metadata.uid}, UID in object meta: ${old.obj.metadata.uid}`);
    }
    if (subresource === 'status') {
      // ResetObjectMetaForStatus: the status endpoint changes status and nothing else.
      obj = { ...old.obj, status: obj.status };
      if (obj.status === undefined) delete obj.status;
    } else {
      def.prepareForUpdate(obj, old.obj);
      obj.metadata = {
        ...obj.metadata,
        name,
        uid: old.obj.metadata.uid,
        creationTimestamp: old.obj.metadata.creationTimestamp,
      };
      if (old.obj.metadata.generateName !== undefined && obj.metadata.generateName === undefined) {
        obj.metadata.generateName = old.obj.metadata.generateName;
      }
    }
    obj.metadata = canonicalMeta({ ...obj.metadata, resourceVersion: String(old.rv) });
    this.check(def, obj, old.obj);
    // A write that changes nothing keeps its resourceVersion and emits no event, as etcd
    // skips identical writes.
    if (serialize(def, obj) === old.json) return old;
    this.admission?.update(def, obj, old.obj);
    const rv = ++this.rv;
    obj.metadata = { ...obj.metadata, resourceVersion: String(rv) };
    const entry: Entry = { key: old.key, obj, json: serialize(def, obj), rv };
    table.insert(entry, old);
    this.commit({ type: 'MODIFIED', rv, def, namespace, obj, json: entry.json, prev: old.obj });
    return entry;
  }

  delete(def: ResourceDef, namespace: string, name: string, pre: Preconditions = {}): Entry {
    const old = this.mustGet(def, namespace, name);
    if (pre.uid !== undefined && pre.uid !== old.obj.metadata.uid) {
      throw conflict(def.name, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.obj.metadata.uid}`);
    }
    if (pre.resourceVersion !== undefined && pre.resourceVersion !== String(old.rv)) {
      throw conflict(def.name, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.rv}`);
    }
    if (def.name === 'namespaces') {
      // The namespace controller empties a namespace before it goes; done at once here.
      for (const t of Object.values(this.tables)) {
        const objs = t.def.namespaced ? t.byNamespace.get(name) : undefined;
        if (objs) for (const e of [...objs.values()]) this.delete(t.def, name, e.obj.metadata.name ?? '');
      }
    }
    const rv = ++this.rv;
    // The DELETED event carries the object at the deletion's revision, as etcd's watch does.
    const obj: KubeObject = { ...old.obj, metadata: { ...old.obj.metadata, resourceVersion: String(rv) } };
    if (def.name === 'namespaces') obj.status = { ...(old.obj.status ?? {}), phase: 'Terminating' };
    const entry: Entry = { key: old.key, obj, json: serialize(def, obj), rv };
    this.tables[def.name].remove(old);
    this.admission?.deleted(def, old.obj);
    this.commit({ type: 'DELETED', rv, def, namespace, obj, json: entry.json, prev: old.obj });
    return entry;
  }

  /**
   * Advance the global resourceVersion without a write (another resource's write, as far as
   * clients can tell). Fault injection uses it so that every version a client holds is older
   * than the compaction point.
   */
  advance(): number {
    return ++this.rv;
  }

  private commit(ev: StoreEvent): void {
    this.history.push(ev);
    this.queue.push(ev);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        for (const fn of this.listeners) fn(next);
      }
    } finally {
      this.dispatching = false;
    }
  }
}
