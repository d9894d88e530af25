// The EndpointSlice controller, run inside the API server process like node-IPAM: for every
// Service with a selector it keeps the Service's slices equal to the Pods the selector picks in
// the Service's namespace. Per pod, each Service port's targetPort is resolved (a named
// targetPort → that pod's container port of that name and protocol; a pod without it is left
// out of that port, as upstream), and pods are grouped into slices by their resolved port set
// (≤ 100 endpoints each). Pods without an IP or in a terminal phase are not listed; conditions
// come from the Ready condition and deletionTimestamp. Services and Pods that change mark their
// Services dirty; dirty Services are reconciled together on the next turn of the event loop
// (so a burst of pod writes costs one pass per Service).
import { isIPv4 } from 'node:net';
import type { StoreEvent } from './history.js';
import { RESOURCES } from './resources.js';
import { servicePorts, serviceType } from './resources-service.js';
import type { Entry, Store } from './store.js';
import { isRecord, type KubeObject } from './types.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const CONTROLLER_NAME = 'endpointslice-controller.k8s.io';
const MAX_ENDPOINTS = 100;

type Obj = Record<string, unknown>;

function selectorOf(svc: KubeObject): Record<string, string> | undefined {
  const sel = svc.spec?.selector;
  if (!isRecord(sel) || Object.keys(sel).length === 0) return undefined;
  return sel as Record<string, string>;
}

function selects(sel: Record<string, string>, obj: KubeObject | undefined): boolean {
  if (!obj) return false;
  const labels = obj.metadata.labels ?? {};
  for (const k in sel) if (labels[k] !== sel[k]) return false;
  return true;
}

/** FindPort: a numeric targetPort as is; a name → the pod's container port of that name and protocol. */
function resolvePort(pod: KubeObject, svcPort: Obj): number | undefined {
  const tp = svcPort.targetPort ?? svcPort.port;
  if (typeof tp === 'number') return tp;
  if (typeof tp !== 'string') return undefined;
  if (/^[0-9]+$/.test(tp)) return Number(tp);
  const proto = svcPort.protocol ?? 'TCP';
  const containers = Array.isArray(pod.spec?.containers) ? pod.spec.containers.filter(isRecord) : [];
  for (const c of containers) {
    for (const p of Array.isArray(c.ports) ? c.ports.filter(isRecord) : []) {
      if (p.name === tp && (p.protocol ?? 'TCP') === proto && typeof p.containerPort === 'number') return p.containerPort;
    }
  }
  return undefined;
}

function podReady(pod: KubeObject): boolean {
  const conds = pod.status?.conditions;
  return Array.isArray(conds) && conds.some((c) => isRecord(c) && c.type === 'Ready' && c.status === 'True');
}

function endpointFor(svc: KubeObject, pod: KubeObject, ip: string): Obj {
  const terminating = pod.metadata.deletionTimestamp !== undefined;
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const serving = publishNotReady || podReady(pod);
  const ep: Obj = {
    addresses: [ip],
    conditions: { ready: serving && !terminating, serving, terminating },
  };
  if (typeof pod.spec?.nodeName === 'string' && pod.spec.nodeName !== '') ep.nodeName = pod.spec.nodeName;
  ep.targetRef = { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
  return ep;
}

interface Group {
  ports: Obj[];
  endpoints: Obj[];
}

/** The desired endpoint groups of a Service, keyed by their port set. */
function desired(store: Store, svc: KubeObject, sel: Record<string, string>): Map<string, Group> {
  const ns = svc.metadata.namespace ?? '';
  const groups = new Map<string, Group>();
  const pods = [...(store.tables.pods.byNamespace.get(ns)?.values() ?? [])]
    .map((e) => e.obj)
    .filter((p) => selects(sel, p))
    .sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1));
  for (const pod of pods) {
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const ip = pod.status?.podIP;
    if (typeof ip !== 'string' || !isIPv4(ip)) continue;
    const ports: Obj[] = [];
    for (const sp of servicePorts(svc)) {
      const port = resolvePort(pod, sp);
      if (port === undefined) continue;
      const p: Obj = { name: typeof sp.name === 'string' ? sp.name : '', protocol: sp.protocol ?? 'TCP', port };
      if (sp.appProtocol !== undefined) p.appProtocol = sp.appProtocol;
      ports.push(p);
    }
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, endpoints: [] }));
    g.endpoints.push(endpointFor(svc, pod, ip));
  }
  return groups;
}

function sliceLabels(svc: KubeObject): Record<string, string> {
  const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  labels[SERVICE_NAME_LABEL] = svc.metadata.name ?? '';
  labels[MANAGED_BY_LABEL] = CONTROLLER_NAME;
  if (svc.spec?.clusterIP === 'None') labels['service.kubernetes.io/headless'] = '';
  return labels;
}

function managedSlices(store: Store, ns: string, svcName: string): Entry[] {
  const out: Entry[] = [];
  for (const e of store.tables.endpointslices.byNamespace.get(ns)?.values() ?? []) {
    const l = e.obj.metadata.labels ?? {};
    if (l[SERVICE_NAME_LABEL] === svcName && l[MANAGED_BY_LABEL] === CONTROLLER_NAME) out.push(e);
  }
  return out;
}

export function reconcileService(store: Store, ns: string, name: string): void {
  const svcEntry = store.get(RESOURCES.services, ns, name);
  const existing = managedSlices(store, ns, name);
  const svc = svcEntry?.obj;
  const sel = svc ? selectorOf(svc) : undefined;
  if (!svc || !sel || serviceType(svc) === 'ExternalName') {
    for (const e of existing) store.delete(RESOURCES.endpointslices, ns, e.obj.metadata.name ?? '');
    return;
  }
  const want: Group[] = [];
  for (const g of desired(store, svc, sel).values()) {
    for (let i = 0; i < g.endpoints.length; i += MAX_ENDPOINTS) want.push({ ports: g.ports, endpoints: g.endpoints.slice(i, i + MAX_ENDPOINTS) });
  }
  // No endpoints at all: one empty placeholder slice, as upstream keeps.
  if (want.length === 0) want.push({ ports: [], endpoints: [] });
  const labels = sliceLabels(svc);
  const owner = [{ apiVersion: 'v1', kind: 'Service', name, uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true }];
  const left = [...existing];
  for (const g of want) {
    const portsKey = JSON.stringify(g.ports);
    let at = left.findIndex((e) => JSON.stringify(e.obj.ports ?? []) === portsKey);
    if (at < 0) at = left.length > 0 ? 0 : -1;
    const body = (base: KubeObject | undefined): KubeObject => ({
      ...(base ?? {}),
      metadata: { ...(base?.metadata ?? { generateName: `${name}-`, namespace: ns }), labels, ownerReferences: owner },
      addressType: 'IPv4',
      endpoints: g.endpoints,
      ports: g.ports,
    });
    if (at < 0) {
      store.create(RESOURCES.endpointslices, ns, body(undefined));
      continue;
    }
    const cur = left.splice(at, 1)[0]!;
    const next = body(cur.obj);
    next.metadata.resourceVersion = undefined;
    store.update(RESOURCES.endpointslices, ns, cur.obj.metadata.name ?? '', next);
  }
  for (const e of left) store.delete(RESOURCES.endpointslices, ns, e.obj.metadata.name ?? '');
}

export function startEndpointSliceController(store: Store): { stop(): void } {
  const dirty = new Set<string>(); // "namespace/name" of Services
  let scheduled = false;
  let stopped = false;

  const mark = (ns: string, name: string): void => {
    dirty.add(`${ns}/${name}`);
    if (scheduled || stopped) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (stopped) return;
      const keys = [...dirty];
      dirty.clear();
      for (const k of keys) {
        const slash = k.indexOf('/');
        try {
          reconcileService(store, k.slice(0, slash), k.slice(slash + 1));
        } catch {
          // A concurrent write (e.g. the namespace is going away): the next event retries.
        }
      }
    });
  };

  store.onEvent((ev: StoreEvent) => {
    switch (ev.def.name) {
      case 'services':
        mark(ev.namespace, ev.obj.metadata.name ?? '');
        break;
      case 'pods': {
        const svcs = store.tables.services.byNamespace.get(ev.namespace);
        if (!svcs) break;
        for (const e of svcs.values()) {
          const sel = selectorOf(e.obj);
          if (sel && (selects(sel, ev.obj) || selects(sel, ev.prev))) mark(ev.namespace, e.obj.metadata.name ?? '');
        }
        break;
      }
      case 'endpointslices': {
        // Someone else changed or deleted a slice this controller manages: put it back.
        const l = ev.obj.metadata.labels ?? {};
        const svc = l[SERVICE_NAME_LABEL];
        if (svc !== undefined && l[MANAGED_BY_LABEL] === CONTROLLER_NAME) mark(ev.namespace, svc);
        break;
      }
    }
  });
  return {
    stop: () => {
      stopped = true;
    },
  };
}
