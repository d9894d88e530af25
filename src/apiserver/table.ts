// The meta.k8s.io/v1 Table format kubectl asks for when no -o is given (Accept …;as=Table): the
// columns `kubectl get` prints for pods, nodes and namespaces, one row per object with its
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
};

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
