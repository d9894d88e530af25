// A test-only stand-in for the lab API server, serving exactly what the lab kube-proxy reads:
// list + watch of Services, EndpointSlices and Nodes (with a metadata.name field selector), with
// resourceVersions and a full event history so a watch from any listed version replays what it
// missed. It exists because the lab API server of this branch does not serve Services and
// EndpointSlices yet (issue 9 adds them on another branch); once it does, these tests should use
// startApiServer from src/apiserver instead. It listens on a Unix socket (the test process lives
// in the root namespace); a small TCP bridge inside the node namespace makes it reachable there.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rm } from 'node:fs/promises';

export type Kind = 'services' | 'endpointslices' | 'nodes';

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface Event {
  rv: number;
  kind: Kind;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
}

const ROUTES: Record<string, { kind: Kind; listKind: string; apiVersion: string }> = {
  '/api/v1/services': { kind: 'services', listKind: 'ServiceList', apiVersion: 'v1' },
  '/apis/discovery.k8s.io/v1/endpointslices': { kind: 'endpointslices', listKind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1' },
  '/api/v1/nodes': { kind: 'nodes', listKind: 'NodeList', apiVersion: 'v1' },
};

export class MiniApi {
  private rv = 1;
  private readonly store = new Map<string, Obj>();
  private readonly history: Event[] = [];
  private readonly watchers = new Set<{ kind: Kind; name?: string; res: ServerResponse }>();
  private constructor(
    private readonly server: Server,
    readonly socket: string,
  ) {}

  static async start(socket: string): Promise<MiniApi> {
    await rm(socket, { force: true });
    let api!: MiniApi;
    const server = createServer((req, res) => api.handle(req, res));
    api = new MiniApi(server, socket);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
    return api;
  }

  private key(kind: Kind, o: Obj): string {
    return `${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  }

  /** Create or replace an object; watchers get ADDED or MODIFIED. */
  put(kind: Kind, obj: Obj): void {
    const k = this.key(kind, obj);
    const type = this.store.has(k) ? 'MODIFIED' : 'ADDED';
    const o = structuredClone(obj);
    o.metadata.resourceVersion = String(++this.rv);
    this.store.set(k, o);
    this.emit({ rv: this.rv, kind, type, object: o });
  }

  delete(kind: Kind, namespace: string | undefined, name: string): void {
    const k = `${kind}/${namespace ?? ''}/${name}`;
    const o = this.store.get(k);
    if (!o) return;
    this.store.delete(k);
    const gone = structuredClone(o);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, kind, type: 'DELETED', object: gone });
  }

  private emit(e: Event): void {
    this.history.push(e);
    for (const w of this.watchers) this.send(w, e);
  }

  private send(w: { kind: Kind; name?: string; res: ServerResponse }, e: Event): void {
    if (e.kind !== w.kind || (w.name !== undefined && e.object.metadata.name !== w.name)) return;
    w.res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = ROUTES[url.pathname];
    if (!route || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' }));
      return;
    }
    const sel = /^metadata\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '');
    const name = sel?.[1];
    if (url.searchParams.get('watch') === 'true') {
      const from = Number(url.searchParams.get('resourceVersion') ?? '0');
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      // a real API server answers a watch with its headers at once, before any event
      res.flushHeaders();
      const w = { kind: route.kind, ...(name === undefined ? {} : { name }), res };
      for (const e of this.history) if (e.rv > from) this.send(w, e);
      this.watchers.add(w);
      const drop = () => this.watchers.delete(w);
      req.on('close', drop);
      res.on('close', drop);
      return;
    }
    const items = [...this.store.entries()].filter(([k, o]) => k.startsWith(`${route.kind}/`) && (name === undefined || o.metadata.name === name)).map(([, o]) => o);
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({ kind: route.listKind, apiVersion: route.apiVersion, metadata: { resourceVersion: String(this.rv) }, items }),
    );
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await rm(this.socket, { force: true });
  }
}
