// The meta.k8s.io/v1 Table format kubectl asks for when no -o is given (Accept …;as=Table): the
// columns `kubectl get` prints for each served resource, one row per object with its
// metadata as a PartialObjectMetadata. Lists, single objects and watch events are supported.
import type { ServerResponse } from 'node:http';
import { serveList, type ListParams, type Query } from './list.js';
import type { ResourceDef } from './resources.js';
import type { Entry, Store } from './store.js';
import { isRecord, type EventType, type KubeObject } from './types.js';
import type { WatchHub, WatchParams } from './watch.js';

export function wantsTable(accept: string): boolean {
  return /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

const col = (name: string, type = 'string', format = '', priority = 0): Column => ({ name, type, format, description: name, priority });

const COLUMNS: Record<string, Column[]> = {
  pods: [col('Name', 'string', 'name'), col('Ready'), col('Status'), col('Restarts'), col('Age'), col('IP', 'string', '', 1), col('Node', 'string', '', 1)],
  nodes: [col('Name', 'string', 'name'), col('Status'), col('Roles'), col('Age'), col('Version'), col('Internal-IP', 'string', '', 1)],
  namespaces: [col('Name', 'string', 'name'), col('Status'), col('Age')],
  services: [col('Name', 'string', 'name'), col('Type'), col('Cluster-IP'), col('External-IP'), col('Port(s)'), col('Age'), col('Selector', 'string', '', 1)],
  endpointslices: [col('Name', 'string', 'name'), col('AddressType'), col('Ports'), col('Endpoints'), col('Age')],
  networkpolicies: [col('Name', 'string', 'name'), col('Pod-Selector'), col('Age')],
};

const recs = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isRecord) : []);

/** metav1.FormatLabelSelector, for matchLabels and simple expressions. */
function formatSelector(sel: unknown): string {
  if (!isRecord(sel)) return '<none>';
  const parts: string[] = [];
  if (isRecord(sel.matchLabels)) for (const [k, v] of Object.entries(sel.matchLabels)) parts.push(`${k}=${String(v)}`);
  for (const e of recs(sel.matchExpressions)) {
    const vals = Array.isArray(e.values) ? e.values.join(',') : '';
    const op = String(e.operator ?? '');
    if (op === 'Exists') parts.push(String(e.key));
    else if (op === 'DoesNotExist') parts.push(`!${String(e.key)}`);
    else parts.push(`${String(e.key)} ${op.toLowerCase()} (${vals})`);
  }
  return parts.length === 0 ? '<none>' : parts.join(',');
}

function serviceCells(o: KubeObject): unknown[] {
  const spec = o.spec ?? {};
  const type = String(spec.type ?? 'ClusterIP');
  const ports = recs(spec.ports).map((p) => `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${String(p.protocol ?? 'TCP')}`);
  const ingress = isRecord(o.status?.loadBalancer) ? recs(o.status.loadBalancer.ingress) : [];
  const external = Array.isArray(spec.externalIPs) ? spec.externalIPs.map(String) : [];
  let ext = external.join(',') || '<none>';
  if (type === 'ExternalName') ext = String(spec.externalName ?? '');
  if (type === 'LoadBalancer') ext = [...ingress.map((i) => String(i.ip ?? i.hostname ?? '')), ...external].join(',') || '<pending>';
  const sel = isRecord(spec.selector) ? Object.entries(spec.selector).map(([k, v]) => `${k}=${String(v)}`).join(',') : '';
  return [o.metadata.name ?? '', type, String(spec.clusterIP ?? '<none>'), ext, ports.join(',') || '<none>', age(o.metadata.creationTimestamp), sel || '<none>'];
}

function sliceCells(o: KubeObject): unknown[] {
  const ports = recs(o.ports).map((p) => String(p.port ?? ''));
  const addrs = recs(o.endpoints).flatMap((e) => (Array.isArray(e.addresses) ? e.addresses.map(String) : []));
  const shown = addrs.slice(0, 3).join(',');
  const eps = addrs.length === 0 ? '<unset>' : addrs.length > 3 ? `${shown} + ${addrs.length - 3} more...` : shown;
  return [o.metadata.name ?? '', String(o.addressType ?? ''), ports.length === 0 ? '<unset>' : ports.join(','), eps, age(o.metadata.creationTimestamp)];
}

/** kubectl's duration.HumanDuration, enough of it for ages. */
function age(ts: string | undefined): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 === 0 ? '' : `${s % 60}s`}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

function cells(def: ResourceDef, o: KubeObject): unknown[] {
  const st = isRecord(o.status) ? o.status : {};
  const name = o.metadata.name ?? '';
  const created = age(o.metadata.creationTimestamp);
  if (def.name === 'pods') {
    const containers = Array.isArray(o.spec?.containers) ? o.spec.containers.length : 0;
    const statuses = Array.isArray(st.containerStatuses) ? st.containerStatuses : [];
    const ready = statuses.filter((c) => isRecord(c) && c.ready === true).length;
    const restarts = statuses.reduce<number>((n, c) => n + (isRecord(c) && typeof c.restartCount === 'number' ? c.restartCount : 0), 0);
    const phase = o.metadata.deletionTimestamp ? 'Terminating' : String(st.phase ?? '');
    return [name, `${ready}/${containers}`, phase, restarts, created, String(st.podIP ?? '<none>'), String(o.spec?.nodeName ?? '<none>')];
  }
  if (def.name === 'nodes') {
    const conds = Array.isArray(st.conditions) ? st.conditions : [];
    const ready = conds.find((c) => isRecord(c) && c.type === 'Ready');
    const status = isRecord(ready) && ready.status === 'True' ? 'Ready' : isRecord(ready) ? 'NotReady' : 'Unknown';
    const info = isRecord(st.nodeInfo) ? st.nodeInfo : {};
    const addrs = Array.isArray(st.addresses) ? st.addresses : [];
    const ip = addrs.find((a) => isRecord(a) && a.type === 'InternalIP');
    return [name, status, '<none>', created, String(info.kubeletVersion ?? ''), isRecord(ip) ? String(ip.address) : '<none>'];
  }
  if (def.name === 'services') return serviceCells(o);
  if (def.name === 'endpointslices') return sliceCells(o);
  if (def.name === 'networkpolicies') return [name, formatSelector(o.spec?.podSelector), created];
  return [name, String(st.phase ?? ''), created];
}

function row(def: ResourceDef, json: string): unknown {
  const o = JSON.parse(json) as KubeObject;
  return { cells: cells(def, o), object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } };
}

function table(def: ResourceDef, rv: number, rows: unknown[], meta: Record<string, unknown> = {}): Record<string, unknown> {
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: String(rv), ...meta }, columnDefinitions: COLUMNS[def.name], rows };
}

export function tableForObject(def: ResourceDef, e: Entry, rv: number): unknown {
  return table(def, rv, [row(def, e.json)]);
}

/** A Table list: the JSON list is produced by the normal path, then converted (Tables are for humans; sizes are small). */
export async function serveTableList(store: Store, q: Query, p: ListParams, res: ServerResponse): Promise<void> {
  const chunks: string[] = [];
  const sink = {
    writeHead: () => sink,
    write: (c: string) => (chunks.push(c), true),
    end: (c?: string) => void (c && chunks.push(c)),
    destroyed: false,
    on: () => sink,
    off: () => sink,
  };
  await serveList(store, q, p, sink as unknown as ServerResponse);
  const list = JSON.parse(chunks.join('')) as { metadata: Record<string, unknown>; items: KubeObject[] };
  const rows = list.items.map((it) => row(q.def, JSON.stringify(it)));
  const { resourceVersion: _rv, ...meta } = list.metadata;
  const text = JSON.stringify(table(q.def, store.rv, rows, meta));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function serveTableWatch(hub: WatchHub, q: Query, p: WatchParams, res: ServerResponse): void {
  const render = (type: EventType, json: string): string => {
    const rv = Number((JSON.parse(json) as KubeObject).metadata.resourceVersion ?? 0);
    return `${JSON.stringify({ type, object: table(q.def, rv, [row(q.def, json)]) })}\n`;
  };
  hub.serve(q, { ...p, render }, res);
}
