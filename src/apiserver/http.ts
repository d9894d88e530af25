// HTTP routing: URL → (resource, namespace, name, subresource) → verb, with the real server's
// paths under /api/v1 and /apis/GROUP/VERSION (including the legacy …/watch/… prefix),
// discovery, health, bearer-token authentication, and the lab-only /_podwire endpoints. Every
// failure leaves as a Status object with the right code.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PodwireError } from '../errors/index.js';
import { bindPod } from './binding.js';
import { apiGroup, apiGroupList, apiVersions, groupResources, versionInfo } from './discovery.js';
import type { FaultRequest, Faults } from './faults.js';
import { candidates, serveList, type Query } from './list.js';
import { openapiGroupVersion, openapiRoot } from './openapi.js';
import { applyPatch, checkPatchType } from './patch.js';
import { resourceByName, type ResourceDef } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { ApiError, badRequest, methodNotAllowed, successStatus, type StatusObject } from './status.js';
import type { Preconditions, Store } from './store.js';
import { wantsTable, serveTableList, serveTableWatch, tableForObject } from './table.js';
import { isRecord } from './types.js';
import type { WatchHub } from './watch.js';

export interface RouterDeps {
  store: Store;
  hub: WatchHub;
  faults: Faults;
  address(): string;
  /**
   * When set, every request but GET /healthz, /livez and /readyz must carry
   * `Authorization: Bearer <token>` (the TCP listener of `--token-file`); the Unix socket
   * handler is built without it.
   */
  token?: string;
}

const unauthorized = (): ApiError => new ApiError(401, 'Unauthorized', 'Unauthorized');

function authorized(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) return false;
  const got = Buffer.from(m[1]!);
  const want = Buffer.from(token);
  return got.length === want.length && timingSafeEqual(got, want);
}

const MAX_BODY = 3 * 1024 * 1024;

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: ServerResponse, s: StatusObject): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, s.code, s);
}

const notFoundPath = (): ApiError => new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(c);
  }
  if (size === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    // YAML is not accepted; kubectl always sends JSON.
    throw badRequest(`the body of the request could not be decoded as JSON: ${(e as Error).message}`);
  }
}

interface Target {
  def: ResourceDef;
  namespace: string | undefined;
  name?: string;
  status?: boolean;
  /** POST …/pods/NAME/binding */
  binding?: boolean;
  watch: boolean;
}

/** Parse the path segments after /api/v1 or /apis/GROUP/VERSION. Returns undefined for paths that do not exist. */
function resolve(segs: string[], group: string, version: string): Target | undefined {
  let watch = false;
  if (segs[0] === 'watch') {
    watch = true;
    segs = segs.slice(1);
  }
  const tail = (def: ResourceDef, namespace: string | undefined, rest: string[]): Target | undefined => {
    if (rest.length === 0) return { def, namespace, watch };
    if (rest.length === 1) return { def, namespace, name: rest[0], watch };
    if (rest.length === 2 && rest[1] === 'status' && !watch && def.statusSubresource) return { def, namespace, name: rest[0], status: true, watch };
    if (rest.length === 2 && rest[1] === 'binding' && !watch && def.name === 'pods') return { def, namespace, name: rest[0], binding: true, watch };
    return undefined;
  };
  if (segs[0] === 'namespaces' && segs.length >= 3 && segs[2] !== 'status') {
    const def = resourceByName(segs[2]!, group, version);
    if (!def || !def.namespaced) return undefined;
    return tail(def, segs[1], segs.slice(3));
  }
  const def = resourceByName(segs[0] ?? '', group, version);
  if (!def) return undefined;
  // Namespaced resources are reachable without a namespace only as an all-namespaces collection.
  if (def.namespaced) return segs.length === 1 ? { def, namespace: undefined, watch } : undefined;
  return tail(def, undefined, segs.slice(1));
}

function flag(v: string | null): boolean {
  return v === 'true' || v === '1';
}

function intParam(q: URLSearchParams, key: string): number | undefined {
  const v = q.get(key);
  if (v === null || v === '') return undefined;
  if (!/^[0-9]+$/.test(v)) throw badRequest(`${key}: Invalid value: "${v}": must be a non-negative integer`);
  return Number(v);
}

export function createHandler(deps: RouterDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    route(deps, req, res).catch((e: unknown) => {
      if (e instanceof ApiError) return sendStatus(res, e.status);
      if (e instanceof PodwireError && e.code === 'USAGE') return sendStatus(res, badRequest(e.message).status);
      const msg = e instanceof Error ? e.message : String(e);
      sendStatus(res, new ApiError(500, 'InternalError', `Internal error occurred: ${msg}`, { causes: [{ message: msg }] }).status);
    });
  };
}

async function route(deps: RouterDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://lab');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  const segs = path.split('/').filter((s) => s !== '').map(decodeURIComponent);

  const health = method === 'GET' && (path === '/healthz' || path === '/livez' || path === '/readyz');
  if (deps.token !== undefined && !health && !authorized(req, deps.token)) {
    req.resume(); // drain an unread body so the connection can be reused
    throw unauthorized();
  }
  if (segs[0] === '_podwire') return podwireRoute(deps, segs.slice(1), method, req, res);
  if (method === 'GET') {
    switch (path) {
      case '/version':
        return sendJson(res, 200, versionInfo());
      case '/api':
        return sendJson(res, 200, apiVersions(deps.address()));
      case '/apis':
        return sendJson(res, 200, apiGroupList());
      case '/openapi/v3':
        return sendJson(res, 200, openapiRoot());
      case '/healthz':
      case '/livez':
      case '/readyz':
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        return void res.end('ok');
    }
    const doc =
      path === '/api/v1' ? groupResources('', 'v1')
      : segs[0] === 'apis' && segs.length === 2 ? apiGroup(segs[1]!)
      : segs[0] === 'apis' && segs.length === 3 ? groupResources(segs[1]!, segs[2]!)
      : segs[0] === 'openapi' && segs[1] === 'v3' && segs.length > 2 ? openapiGroupVersion(segs.slice(2).join('/'))
      : undefined;
    if (doc !== undefined) return sendJson(res, 200, doc);
  }
  let t: Target | undefined;
  if (segs[0] === 'api' && segs[1] === 'v1') t = resolve(segs.slice(2), '', 'v1');
  else if (segs[0] === 'apis' && segs.length > 3) t = resolve(segs.slice(3), segs[1]!, segs[2]!);
  if (!t) throw notFoundPath();
  const q = url.searchParams;
  if (q.get('dryRun')) throw badRequest('dryRun is not supported by the podwire lab API server');
  const { store, hub } = deps;
  const ns = t.namespace ?? '';
  const accept = req.headers.accept ?? '';

  if (t.name === undefined) {
    // Collection.
    if (method === 'GET') {
      const query: Query = {
        def: t.def,
        namespace: t.namespace,
        label: parseLabelSelector(q.get('labelSelector') ?? undefined),
        field: parseFieldSelector(q.get('fieldSelector') ?? undefined, t.def.fieldLabels),
      };
      if (t.watch || flag(q.get('watch'))) {
        const failure = deps.faults.takeWatchFailure();
        if (failure) return sendStatus(res, failure);
        const params = {
          resourceVersion: q.get('resourceVersion') ?? undefined,
          allowWatchBookmarks: flag(q.get('allowWatchBookmarks')),
          sendInitialEvents: flag(q.get('sendInitialEvents')),
          timeoutSeconds: intParam(q, 'timeoutSeconds'),
        };
        if (wantsTable(accept)) return serveTableWatch(hub, query, params, res);
        hub.serve(query, params, res);
        return;
      }
      const params = {
        resourceVersion: q.get('resourceVersion') ?? undefined,
        resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
        limit: intParam(q, 'limit'),
        continue: q.get('continue') ?? undefined,
      };
      if (wantsTable(accept)) return serveTableList(store, query, params, res);
      return serveList(store, query, params, res);
    }
    if (method === 'POST') {
      if (t.def.namespaced && t.namespace === undefined) throw methodNotAllowed();
      const entry = store.create(t.def, ns, await readBody(req));
      return sendJson(res, 201, entry.json);
    }
    if (method === 'DELETE' && t.def.verbs.includes('deletecollection') && !(t.def.namespaced && t.namespace === undefined)) {
      const label = parseLabelSelector(q.get('labelSelector') ?? undefined);
      const field = parseFieldSelector(q.get('fieldSelector') ?? undefined, t.def.fieldLabels);
      const victims = [...candidates(store, { def: t.def, namespace: t.namespace, label, field })];
      const cut = t.def.jsonPrefix.length;
      const items = victims.map((e) => {
        const d = store.delete(t.def, e.obj.metadata.namespace ?? '', e.obj.metadata.name ?? '');
        return `{${d.json.slice(cut)}`;
      });
      return sendJson(res, 200, `{"kind":"${t.def.listKind}","apiVersion":"${t.def.apiVersion}","metadata":{"resourceVersion":"${store.rv}"},"items":[${items.join(',')}]}`);
    }
    throw methodNotAllowed();
  }

  const name = t.name;
  if (t.watch) {
    // Legacy /api/v1/watch/…/NAME: a watch narrowed to one object.
    if (method !== 'GET') throw methodNotAllowed();
    const failure = deps.faults.takeWatchFailure();
    if (failure) return sendStatus(res, failure);
    hub.serve(
      { def: t.def, namespace: t.namespace, label: undefined, field: [{ field: 'metadata.name', neq: false, value: name }] },
      { resourceVersion: q.get('resourceVersion') ?? undefined, allowWatchBookmarks: flag(q.get('allowWatchBookmarks')), sendInitialEvents: false, timeoutSeconds: intParam(q, 'timeoutSeconds') },
      res,
    );
    return;
  }
  if (t.binding) {
    if (method !== 'POST') throw methodNotAllowed();
    return sendJson(res, 201, bindPod(store, ns, name, await readBody(req)));
  }
  const sub = t.status ? 'status' : undefined;
  switch (method) {
    case 'GET': {
      const e = store.mustGet(t.def, ns, name);
      if (wantsTable(accept)) return sendJson(res, 200, tableForObject(t.def, e, store.rv));
      return sendJson(res, 200, e.json);
    }
    case 'PUT':
      return sendJson(res, 200, store.update(t.def, ns, name, await readBody(req), sub).json);
    case 'PATCH': {
      checkPatchType(req.headers['content-type'] ?? '');
      const body = await readBody(req);
      const current = store.mustGet(t.def, ns, name);
      const patched = applyPatch(req.headers['content-type'] ?? '', t.def.kind, JSON.parse(current.json), body);
      if (!isRecord(patched)) throw badRequest('the patch did not produce an object');
      // A patch that names no resourceVersion applies to the current object unconditionally.
      const meta = isRecord(patched.metadata) ? patched.metadata : (patched.metadata = {});
      const patchMeta = isRecord(body) && isRecord(body.metadata) ? body.metadata : undefined;
      if (!patchMeta || patchMeta.resourceVersion === undefined) meta.resourceVersion = current.obj.metadata.resourceVersion;
      return sendJson(res, 200, store.update(t.def, ns, name, patched, sub).json);
    }
    case 'DELETE': {
      if (sub) throw methodNotAllowed();
      const body = await readBody(req);
      const pre: Preconditions = {};
      if (isRecord(body) && isRecord(body.preconditions)) {
        if (typeof body.preconditions.uid === 'string') pre.uid = body.preconditions.uid;
        if (typeof body.preconditions.resourceVersion === 'string') pre.resourceVersion = body.preconditions.resourceVersion;
      }
      const d = store.delete(t.def, ns, name, pre);
      if (t.def.returnDeletedObject) return sendJson(res, 200, d.json);
      return sendJson(res, 200, successStatus({ name, kind: t.def.name, uid: d.obj.metadata.uid }));
    }
  }
  throw methodNotAllowed();
}

async function podwireRoute(deps: RouterDeps, segs: string[], method: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (segs[0] === 'healthz' && method === 'GET') {
    return sendJson(res, 200, { ok: true, resourceVersion: deps.store.rv, openWatches: deps.hub.open });
  }
  if (segs[0] === 'faults' && method === 'GET') {
    return sendJson(res, 200, { failNextWatches: deps.faults.pendingWatchFailures, openWatches: deps.hub.open });
  }
  if (segs[0] === 'faults' && method === 'POST') {
    const body = await readBody(req);
    if (!isRecord(body)) throw badRequest('POST /_podwire/faults wants a JSON object such as {"closeWatches":true}');
    const known = new Set(['closeWatches', 'failNextWatches', 'expireHistory', 'refuseConnectionsMs']);
    const unknown = Object.keys(body).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw badRequest(`unknown fault ${unknown.join(', ')}; use closeWatches, failNextWatches, expireHistory or refuseConnectionsMs`);
    }
    const { result, after } = deps.faults.apply(body as FaultRequest);
    if (after) res.once('finish', () => void after().catch(() => undefined));
    return sendJson(res, 200, result);
  }
  throw notFoundPath();
}

