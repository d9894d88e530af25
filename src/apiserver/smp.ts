// Strategic merge patch (application/strategic-merge-patch+json), as kubectl apply, label,
// annotate, edit and scale send it. Maps merge recursively and null deletes a key, like JSON
// merge patch; lists named in the patch metadata (smp-schema.ts) merge by key instead of being
// replaced. Directives: `$patch: replace|delete|merge` on a map or a list item, a lone
// `{"$patch":"replace"}` item replacing a whole list, `$deleteFromPrimitiveList/<field>`,
// `$setElementOrder/<field>` and `$retainKeys`. Semantics follow k8s.io/apimachinery's
// strategicpatch package; the code is our own.
import { patchMetaFor, type MergeKey } from './smp-schema.js';
import { badRequest } from './status.js';
import { isRecord } from './types.js';

type Lookup = (path: string) => MergeKey | undefined;
type Obj = Record<string, unknown>;

const DELETE = Symbol('delete');
const SET_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

const bad = (msg: string) => badRequest(`the server rejected our request due to an error in our request: ${msg}`);
const join = (path: string, k: string) => (path === '' ? k : `${path}.${k}`);

/** Strip directives from a value that is being inserted as is (nothing to merge it with). */
function clean(v: unknown, path: string, meta: Lookup): unknown {
  if (isRecord(v)) {
    const r = mergeMap({}, v, path, meta);
    return r === DELETE ? undefined : r;
  }
  if (Array.isArray(v)) return v.filter((x) => !(isRecord(x) && x.$patch !== undefined && Object.keys(x).length === 1)).map((x) => clean(x, path, meta));
  return v;
}

function mergeMap(original: Obj, patch: Obj, path: string, meta: Lookup): Obj | typeof DELETE {
  const directive = patch.$patch;
  if (directive === 'delete') return DELETE;
  if (directive === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return mergeMap({}, rest, path, meta) as Obj;
  }
  if (directive !== undefined && directive !== 'merge') throw bad(`Unknown patch type: ${String(directive)} in map: ${JSON.stringify(patch)}`);
  const out: Obj = { ...original };

  const retain = patch.$retainKeys;
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw bad(`$retainKeys must be a list of keys, got ${JSON.stringify(retain)}`);
    for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  }

  for (const [k, v] of Object.entries(patch)) {
    if (!k.startsWith(DELETE_PRIMITIVE)) continue;
    const field = k.slice(DELETE_PRIMITIVE.length);
    if (!Array.isArray(v)) throw bad(`${k} must be a list, got ${JSON.stringify(v)}`);
    const cur = out[field];
    if (Array.isArray(cur)) out[field] = cur.filter((x) => !v.some((d) => d === x));
  }

  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    const p = join(path, k);
    if (v === null) {
      delete out[k];
    } else if (isRecord(v)) {
      const r = mergeMap(isRecord(out[k]) ? (out[k] as Obj) : {}, v, p, meta);
      if (r === DELETE) delete out[k];
      else out[k] = r;
    } else if (Array.isArray(v)) {
      const key = meta(p);
      out[k] = key === undefined ? clean(v, p, meta) : mergeList(Array.isArray(out[k]) ? (out[k] as unknown[]) : [], v, key, p, meta);
    } else {
      out[k] = v;
    }
  }

  for (const [k, v] of Object.entries(patch)) {
    if (!k.startsWith(SET_ORDER)) continue;
    const field = k.slice(SET_ORDER.length);
    if (!Array.isArray(v)) throw bad(`${k} must be a list, got ${JSON.stringify(v)}`);
    const cur = out[field];
    if (Array.isArray(cur)) out[field] = reorder(cur, v, meta(join(path, field)) ?? '');
  }
  return out;
}

function mergeList(original: unknown[], patch: unknown[], key: MergeKey, path: string, meta: Lookup): unknown[] {
  // A lone {"$patch":"replace"} item: the rest of the patch list is the whole new list.
  if (patch.some((x) => isRecord(x) && x.$patch === 'replace' && Object.keys(x).length === 1)) {
    return clean(patch, path, meta) as unknown[];
  }
  if (key === '') {
    // A set of primitives: the union, original order first.
    const out = [...original];
    for (const x of patch) if (!out.some((o) => o === x)) out.push(x);
    return out;
  }
  const out = [...original];
  for (const item of patch) {
    if (!isRecord(item)) throw bad(`a list merged by "${key}" at ${path} holds ${JSON.stringify(item)}, which is not an object`);
    const kv = item[key];
    if (kv === undefined) {
      if (item.$patch !== undefined && Object.keys(item).length === 1) continue;
      throw bad(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`);
    }
    const at = out.findIndex((o) => isRecord(o) && o[key] === kv);
    if (item.$patch === 'delete') {
      for (let i = out.length - 1; i >= 0; i--) if (isRecord(out[i]) && (out[i] as Obj)[key] === kv) out.splice(i, 1);
      continue;
    }
    if (at >= 0) {
      const r = mergeMap(out[at] as Obj, item, path, meta);
      if (r === DELETE) out.splice(at, 1);
      else out[at] = r;
    } else {
      const r = mergeMap({}, item, path, meta);
      if (r !== DELETE) out.push(r);
    }
  }
  return out;
}

/**
 * $setElementOrder: the items the order names take the positions such items hold, in the
 * order given; items it does not name (only on the server) keep their places.
 */
function reorder(list: unknown[], order: unknown[], key: MergeKey): unknown[] {
  const id = (x: unknown): unknown => (key !== '' && isRecord(x) ? x[key] : x);
  const wanted = order.map((o) => (key !== '' && isRecord(o) ? o[key] : o));
  const rank = (x: unknown): number => wanted.findIndex((w) => w === id(x));
  const named = list.filter((x) => rank(x) >= 0).sort((a, b) => rank(a) - rank(b));
  let i = 0;
  return list.map((x) => (rank(x) >= 0 ? named[i++] : x));
}

/** Apply a strategic merge patch to an object of `kind`. */
export function strategicMergePatch(kind: string, original: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) throw bad('a strategic merge patch must be a JSON object');
  const r = mergeMap(isRecord(original) ? original : {}, patch, '', patchMetaFor(kind));
  if (r === DELETE) throw bad('a strategic merge patch may not delete the whole object');
  return r;
}
