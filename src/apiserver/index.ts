// The lab's embedded Kubernetes API server: core/v1 Nodes, Pods, Namespaces and Services,
// discovery.k8s.io/v1 EndpointSlices and networking.k8s.io/v1 NetworkPolicies over the real
// REST protocol (CRUD with resourceVersion concurrency, strategic/merge/JSON patches, selectors,
// list paging, watch with replay, bookmarks and 410 Expired), ClusterIP/NodePort allocation,
// the controllers a lab needs in-process (node-IPAM, EndpointSlices, a tiny scheduler),
// discovery that kubectl accepts, optional bearer-token authentication, and fault injection
// for resilience tests. In-process (startApiServer) or as a background process
// (`podwire lab apiserver`).
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { PodwireError } from '../errors/index.js';
import { Faults, type FaultRequest, type FaultResult } from './faults.js';
import { createHandler } from './http.js';
import { Listener } from './listener.js';
import { NodeCidrAllocator, startNodeIpam } from './node-ipam.js';
import { RESOURCES } from './resources.js';
import { startEndpointSliceController } from './endpointslice-controller.js';
import { startScheduler } from './scheduler.js';
import { NodePortAllocator, ServiceAdmission, ServiceIpAllocator } from './service-alloc.js';
import { Store, type Entry } from './store.js';
import type { KubeObject, ResourceName } from './types.js';
import { WatchHub } from './watch.js';

export type { FaultRequest, FaultResult } from './faults.js';
export type { KubeObject, ResourceName } from './types.js';
export type { StatusObject } from './status.js';
export { parseLabelSelector, parseFieldSelector, matchLabels, matchFields } from './selectors.js';
export { NodeCidrAllocator } from './node-ipam.js';
export { strategicMergePatch } from './smp.js';
export { selfSignedCert, readTls, type TlsFiles } from './tls.js';
export { SERVICE_NAME_LABEL, MANAGED_BY_LABEL, CONTROLLER_NAME } from './endpointslice-controller.js';

export interface ApiServerOptions {
  host?: string;
  /** 0 = a free port chosen by the kernel. */
  port?: number;
  clusterCIDR?: string;
  nodeCIDRMaskSize?: number;
  /** Events kept for watch replay; older resourceVersions get 410 Expired. */
  historyLimit?: number;
  /** How often watches that allow bookmarks get one. */
  bookmarkIntervalMs?: number;
  /** A watcher whose unsent output exceeds this is closed (slow client). */
  maxWatchBufferBytes?: number;
  /**
   * Also serve the same API on this Unix socket: the lab orchestrator's control channel (it
   * runs in the root namespace, which has no route to the underlay). Faults do not apply to it,
   * so a test can still drive the server while the TCP port refuses connections.
   */
  socketPath?: string;
  /** Services' ClusterIPs come from here (default 10.96.0.0/12). */
  serviceCIDR?: string;
  /** NodePort range "MIN-MAX" (default 30000-32767). */
  serviceNodePortRange?: string;
  /**
   * Require `Authorization: Bearer <token>` on the TCP listener (health endpoints excepted).
   * The Unix socket stays unauthenticated: it is the orchestrator's 0600 channel.
   */
  token?: string;
  /**
   * Serve https on the TCP listener with this certificate and key (PEM). kubectl sends a bearer
   * token only over TLS, so a `token` server meant for kubectl needs it (see tls.ts).
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Bind unbound Pods to the Ready Node with the fewest pods (default true). */
  scheduler?: boolean;
}

export interface ApiServerFaults {
  /** End every open watch now; returns how many there were. */
  closeWatches(): number;
  /** Answer the next `n` watch requests with 500 InternalError. */
  failNextWatches(n: number): void;
  /** Compact history to now and end open watches with ERROR 410: clients must relist. */
  expireHistory(): number;
  /** Close the port and every connection; listen again after `ms`. */
  refuseConnections(ms: number): Promise<{ reopened: Promise<void> }>;
  /** The same faults from a JSON request (what POST /_podwire/faults does). */
  apply(req: FaultRequest): Promise<FaultResult>;
}

/** Direct store access for in-process callers (the lab, benchmarks): same rules as HTTP, no I/O. */
export interface ApiServerObjects {
  create(resource: ResourceName, obj: KubeObject, opts?: { keepStatus?: boolean }): KubeObject;
  /** Bulk create for seeding large clusters (benchmarks): no copies returned; returns how many were created. */
  load(resource: ResourceName, objs: Iterable<KubeObject>, opts?: { keepStatus?: boolean }): number;
  get(resource: ResourceName, namespace: string, name: string): KubeObject | undefined;
  update(resource: ResourceName, obj: KubeObject, opts?: { subresource?: 'status' }): KubeObject;
  delete(resource: ResourceName, namespace: string, name: string): KubeObject;
  count(resource: ResourceName): number;
}

export interface ApiServer {
  url: string;
  host: string;
  port: number;
  /** The current (global) resourceVersion. */
  readonly resourceVersion: number;
  faults: ApiServerFaults;
  objects: ApiServerObjects;
  stats(): {
    openWatches: number;
    resourceVersion: number;
    historySize: number;
    compactedResourceVersion: number;
    podCIDRsAllocated: number;
    clusterIPsAllocated: number;
    nodePortsAllocated: number;
  };
  stop(): Promise<void>;
}

function positiveInt(key: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) {
    throw new PodwireError('CONFIG_INVALID', `apiserver ${key} ${JSON.stringify(v)} is not valid; use an integer ≥ ${min}`);
  }
  return v;
}

const copy = (e: Entry): KubeObject => JSON.parse(e.json) as KubeObject;

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new PodwireError('CONFIG_INVALID', `apiserver port ${port} is not valid; use 0 (any free port) to 65535`);
  }
  const historyLimit = positiveInt('historyLimit', opts.historyLimit ?? 1000, 0);
  const bookmarkIntervalMs = positiveInt('bookmarkIntervalMs', opts.bookmarkIntervalMs ?? 10_000, 1);
  const maxBufferBytes = positiveInt('maxWatchBufferBytes', opts.maxWatchBufferBytes ?? 256 * 1024 * 1024, 1024);
  const alloc = new NodeCidrAllocator(opts.clusterCIDR ?? '10.244.0.0/16', opts.nodeCIDRMaskSize ?? 24);

  const serviceIps = new ServiceIpAllocator(opts.serviceCIDR ?? '10.96.0.0/12');
  const nodePorts = new NodePortAllocator(opts.serviceNodePortRange ?? '30000-32767');
  if (opts.token !== undefined && !/^[\x21-\x7e]+$/.test(opts.token)) {
    throw new PodwireError('CONFIG_INVALID', 'apiserver token is empty or has spaces/control characters; use a printable token without whitespace');
  }

  const store = new Store(historyLimit);
  store.setAdmission(new ServiceAdmission(serviceIps, nodePorts));
  startNodeIpam(store, alloc);
  const slices = startEndpointSliceController(store);
  const scheduler = opts.scheduler === false ? undefined : startScheduler(store);
  const hub = new WatchHub(store, { bookmarkIntervalMs, maxBufferBytes });
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    store.create(RESOURCES.namespaces, '', { metadata: { name } });
  }

  // https.Server emits the same 'request' and 'connection' events; the listener only needs those.
  const server = (opts.tls ? createHttpsServer({ keepAlive: true, cert: opts.tls.cert, key: opts.tls.key }) : createServer({ keepAlive: true })) as Server;
  // Watches are long-lived; the defaults would cut them after 5 minutes.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  const listener = new Listener(server, host);
  const faults = new Faults(store, hub, listener);
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  const address = () => `${hostForUrl}:${listener.port}`;
  server.on('request', createHandler({ store, hub, faults, address, token: opts.token }));
  await listener.listen(port);
  const control = opts.socketPath ? await listenUnix(opts.socketPath, createHandler({ store, hub, faults, address })) : undefined;

  const def = (r: ResourceName) => {
    const d = RESOURCES[r];
    if (!d) throw new PodwireError('USAGE', `unknown resource ${String(r)}; use one of ${Object.keys(RESOURCES).join(', ')}`);
    return d;
  };
  const objects: ApiServerObjects = {
    create: (r, obj, o) => copy(store.create(def(r), obj.metadata?.namespace ?? 'default', structuredClone(obj), o)),
    load: (r, objs, o) => {
      const d = def(r);
      let n = 0;
      for (const obj of objs) {
        store.create(d, obj.metadata?.namespace ?? 'default', structuredClone(obj), o);
        n++;
      }
      return n;
    },
    get: (r, ns, name) => {
      const e = store.get(def(r), ns, name);
      return e && copy(e);
    },
    update: (r, obj, o) =>
      copy(store.update(def(r), obj.metadata.namespace ?? 'default', obj.metadata.name ?? '', structuredClone(obj), o?.subresource)),
    delete: (r, ns, name) => copy(store.delete(def(r), ns, name)),
    count: (r) => store.tables[def(r).name].byKey.size,
  };

  let stopped = false;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${hostForUrl}:${listener.port}`,
    host,
    port: listener.port,
    get resourceVersion() {
      return store.rv;
    },
    faults: {
      closeWatches: () => faults.closeWatches(),
      failNextWatches: (n) => faults.failNextWatches(n),
      expireHistory: () => faults.expireHistory(),
      refuseConnections: (ms) => faults.refuseConnections(ms),
      apply: async (req) => {
        const { result, after } = faults.apply(req);
        if (after) await after();
        return result;
      },
    },
    objects,
    stats: () => ({
      openWatches: hub.open,
      resourceVersion: store.rv,
      historySize: store.history.size,
      compactedResourceVersion: store.history.compactedRv,
      podCIDRsAllocated: alloc.allocated,
      clusterIPsAllocated: serviceIps.allocated,
      nodePortsAllocated: nodePorts.allocated,
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      slices.stop();
      scheduler?.stop();
      faults.stop();
      hub.stop();
      await listener.close();
      if (control) {
        const closed = new Promise<void>((resolve) => control.close(() => resolve()));
        control.closeAllConnections(); // idle keep-alive sockets would hold close() for seconds
        await closed;
      }
    },
  };
}

async function listenUnix(path: string, handler: Parameters<typeof createServer>[1]): Promise<ReturnType<typeof createServer>> {
  await rm(path, { force: true }); // a stale socket from a killed server
  const srv = createServer({ keepAlive: true }, handler);
  srv.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(path, () => resolve());
  });
  await chmod(path, 0o600); // only the orchestrator's user may talk to the unauthenticated channel
  return srv;
}
