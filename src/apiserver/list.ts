// Lists: pick candidates through the cheapest index the request allows (exact name, namespace,
// spec.nodeName), filter with the selectors, and write `{"kind":"PodList",…,"items":[…]}` in
// chunks from the JSON already serialized at commit, waiting for the socket to drain — a list of a
// million pods never builds one giant string. limit/continue page through keys in etcd order.
import type { ServerResponse } from 'node:http';
import { matchFields, matchLabels, type FieldSelector, type LabelSelector } from './selectors.js';
import { badRequest, expired, tooLargeResourceVersion } from './status.js';
import { objectKey, type Entry, type Store } from './store.js';
import type { ResourceDef } from './resources.js';

export interface Query {
  def: ResourceDef;
  /** undefined: all namespaces (or a cluster-scoped resource). */
  namespace: string | undefined;
  label: LabelSelector | undefined;
  field: FieldSelector | undefined;
}

export function matches(q: Query, obj: Entry['obj']): boolean {
  if (q.namespace !== undefined && q.def.namespaced && obj.metadata.namespace !== q.namespace) return false;
  return matchLabels(q.label, obj.metadata.labels) && matchFields(q.field, (f) => q.def.field(obj, f));
}

function eqValue(field: FieldSelector | undefined, name: string): string | undefined {
  return field?.find((r) => !r.neq && r.field === name)?.value;
}

/** Matching entries, unordered, from the narrowest index. */
export function* candidates(store: Store, q: Query): Generator<Entry> {
  const table = store.table(q.def);
  const name = eqValue(q.field, 'metadata.name');
  const ns = q.namespace ?? eqValue(q.field, 'metadata.namespace');
  let source: Iterable<Entry>;
  if (name !== undefined && (!q.def.namespaced || ns !== undefined)) {
    const e = table.byKey.get(objectKey(q.def, ns ?? '', name));
    source = e ? [e] : [];
  } else if (q.def.name === 'pods' && eqValue(q.field, 'spec.nodeName') !== undefined) {
    source = table.byNode.get(eqValue(q.field, 'spec.nodeName')!)?.values() ?? [];
  } else if (q.def.namespaced && ns !== undefined) {
    source = table.byNamespace.get(ns)?.values() ?? [];
  } else {
    source = table.byKey.values();
  }
  for (const e of source) if (matches(q, e.obj)) yield e;
}

function lowerBound(keys: readonly string[], startKey: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < startKey) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface Page {
  items: Entry[];
  /** More matches follow the page. */
  more: boolean;
  /** How many matches follow, when known without a full walk (no selector). */
  remaining?: number;
}

/**
 * Up to `limit` matching entries in key order (what etcd returns), starting at `startKey`. A whole-
 * table list starts at the key (binary search in the cached sorted keys) and stops after the page,
 * as etcd's range read does: paging through a million pods costs each page its own size, not a
 * walk of the table.
 */
function pageOf(store: Store, q: Query, startKey: string | undefined, limit: number): Page {
  const table = store.table(q.def);
  const narrowed = q.namespace !== undefined || eqValue(q.field, 'metadata.name') !== undefined ||
    eqValue(q.field, 'spec.nodeName') !== undefined || eqValue(q.field, 'metadata.namespace') !== undefined;
  if (narrowed) {
    const all = [...candidates(store, q)].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const from = startKey === undefined ? 0 : lowerBound(all.map((e) => e.key), startKey);
    const rest = all.length - from;
    const items = all.slice(from, from + limit);
    return { items, more: rest > limit, remaining: Math.max(0, rest - limit) };
  }
  // Whole table: the cached sorted key array avoids an O(n log n) sort per list.
  const keys = table.sortedKeys();
  const from = startKey === undefined ? 0 : lowerBound(keys, startKey);
  const items: Entry[] = [];
  const everything = !q.label && !q.field;
  let i = from;
  for (; i < keys.length && items.length < limit; i++) {
    const e = table.byKey.get(keys[i]!)!;
    if (everything || matches(q, e.obj)) items.push(e);
  }
  if (everything) return { items, more: i < keys.length, remaining: keys.length - i };
  for (; i < keys.length; i++) if (matches(q, table.byKey.get(keys[i]!)!.obj)) return { items, more: true };
  return { items, more: false };
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

function encodeContinue(rv: number, lastKey: string): string {
  const t: ContinueToken = { v: 'meta.k8s.io/v1', rv, start: `${lastKey}\u0000` };
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeContinue(token: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
    if (t.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string') throw new Error('shape');
    return t;
  } catch {
    throw badRequest(`continue key is not valid: ${token}`);
  }
}

export interface ListParams {
  resourceVersion?: string;
  resourceVersionMatch?: string;
  limit?: number;
  continue?: string;
}

const CHUNK = 64 * 1024;

/**
 * Answer a list. Validates the resourceVersion semantics first (so errors become a Status before
 * any byte is written), then streams.
 */
export async function serveList(store: Store, q: Query, p: ListParams, res: ServerResponse): Promise<void> {
  const current = store.rv;
  let listRv = current;
  let startKey: string | undefined;
  if (p.continue) {
    const t = decodeContinue(p.continue);
    // A continuation older than the kept history cannot be served consistently: 410, as etcd
    // compaction does. Newer ones are served from current state (the lab keeps no snapshots).
    if (t.rv < store.history.compactedRv) {
      throw expired('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
    }
    listRv = t.rv;
    startKey = t.start;
  } else if (p.resourceVersion !== undefined && p.resourceVersion !== '' && p.resourceVersion !== '0') {
    const asked = Number(p.resourceVersion);
    if (!/^[0-9]+$/.test(p.resourceVersion)) throw badRequest(`invalid resource version "${p.resourceVersion}"`);
    if (asked > current) throw tooLargeResourceVersion(asked, current);
    if (p.resourceVersionMatch === 'Exact' && asked !== current) {
      // Only the newest snapshot exists here; an exact older one is as good as compacted.
      throw expired(`The resourceVersion for the provided list is too old.`);
    }
  }
  const paged = p.limit !== undefined && p.limit > 0 && !(p.resourceVersion === '0' && !p.continue);
  const page = pageOf(store, q, startKey, paged ? p.limit! : Number.POSITIVE_INFINITY);
  const items = page.items;
  let meta = `{"resourceVersion":"${listRv}"`;
  if (page.more && items.length > 0) {
    meta += `,"continue":"${encodeContinue(listRv, items[items.length - 1]!.key)}"`;
    if (!q.label && !q.field && page.remaining !== undefined) meta += `,"remainingItemCount":${page.remaining}`;
  }
  meta += '}';
  res.writeHead(200, { 'Content-Type': 'application/json' });
  // Items inside a list carry no kind/apiVersion on the real server: cut the constant prefix.
  const cut = q.def.jsonPrefix.length;
  let buf = `{"kind":"${q.def.listKind}","apiVersion":"${q.def.apiVersion}","metadata":${meta},"items":[`;
  for (let i = 0; i < items.length; i++) {
    buf += `${i === 0 ? '{' : ',{'}${items[i]!.json.slice(cut)}`;
    if (buf.length >= CHUNK) {
      if (!res.write(buf)) await drained(res);
      buf = '';
      if (res.destroyed) return;
    }
  }
  res.end(`${buf}]}`);
}

export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
