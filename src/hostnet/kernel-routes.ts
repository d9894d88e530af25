// Host-namespace routes to other nodes' pod CIDRs, so the node itself and its hostNetwork pods
// reach remote pods (pod traffic never uses them: from_pod forwards it in BPF). Our routes carry
// proto ROUTE_PROTO; a sync lists exactly those, and adds, replaces and deletes by diff in one
// `ip -batch` exec, so an unchanged cluster costs one list and no writes.
//
// native: CIDR via NODE_IP            (the kernel resolves the uplink from the gateway)
// vxlan:  CIDR dev pwvxlan0 encap ip id VNI dst NODE_IP ttl 64 [src NODE_IP_OF_THIS_NODE]
//         pwvxlan0 is NOARP, so the neighbour layer uses the device's own MAC as destination
//         and no gateway, neighbour or FDB entry is needed; the receiving node's from_vxlan
//         rewrites the inner MACs anyway. The lwtunnel metadata tells the collect-metadata
//         device where to send.
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';
import { parseIpv4, parseIpv4Cidr } from '../ipam/cidr.js';
import type { DatapathMode } from '../maps/node-config.js';
import { DEFAULT_VNI, ROUTE_PROTO, VXLAN_DEVICE } from './constants.js';

export interface RemoteCidr {
  cidr: string;
  nodeIp: string;
}

export interface SyncKernelRoutesOptions {
  mode: DatapathMode;
  /** Every other node's pod CIDR and underlay IP (this node's own CIDR must not be in it). */
  remote: readonly RemoteCidr[];
  netns?: string;
  /** vxlan: the VNI given to setupNode (default DEFAULT_VNI). */
  vni?: number;
  /** vxlan: this node's IP as the source of host-originated packets (default: kernel's choice). */
  nodeIp?: string;
}

export interface SyncKernelRoutesResult {
  added: number;
  replaced: number;
  deleted: number;
  unchanged: number;
  /**
   * Routes the kernel refused, with its reason (e.g. native mode toward a node that is not on
   * the uplink's link: "Nexthop has invalid gateway" — such nodes need vxlan mode). The others
   * were applied; the pod datapath itself does not depend on these host routes.
   */
  failed: string[];
}

/** A route as we compare it: everything that must match for a route to count as unchanged. */
interface RouteSpec {
  cidr: string;
  gateway?: string;
  dev?: string;
  encapId?: number;
  encapDst?: string;
  prefsrc?: string;
}

/** What must match for a route to count as unchanged. Native routes name no device (the kernel
 * derives it from the gateway), so their device is not compared. */
function key(r: RouteSpec, mode: DatapathMode): string {
  if (mode === 'native') return JSON.stringify(['native', r.gateway ?? '', r.encapId ?? '', r.encapDst ?? '', r.prefsrc ?? '']);
  return JSON.stringify(['vxlan', r.gateway ?? '', r.dev ?? '', r.encapId ?? '', r.encapDst ?? '', r.prefsrc ?? '']);
}

/**
 * Parse `ip route show proto N` text. (JSON is unusable for encap routes: iproute2 6.1 prints
 * "dst" twice in one object — the prefix and the tunnel destination — and JSON.parse keeps the last.)
 */
export function parseRouteLines(text: string): RouteSpec[] {
  const out: RouteSpec[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t.length === 0 || t[0] === '') continue;
    const first = t[0]!;
    const r: RouteSpec = { cidr: first.includes('/') ? first : `${first}/32` };
    let inEncap = false;
    for (let i = 1; i < t.length; i++) {
      const w = t[i]!;
      const next = t[i + 1];
      if (w === 'encap') {
        inEncap = true;
        i++; // encap type ("ip")
        continue;
      }
      if (w === 'dev') inEncap = false;
      if (next === undefined) break;
      if (inEncap) {
        if (w === 'id') r.encapId = Number(next);
        else if (w === 'dst') r.encapDst = next;
        i++;
        continue;
      }
      if (w === 'via') r.gateway = next;
      else if (w === 'dev') r.dev = next;
      else if (w === 'src') r.prefsrc = next;
      else continue;
      i++;
    }
    out.push(r);
  }
  return out;
}

function checkRemote(remote: readonly RemoteCidr[]): void {
  const seen = new Set<string>();
  for (const r of remote) {
    const c = parseIpv4Cidr(r.cidr);
    if ('error' in c) throw new PodwireError('CONFIG_INVALID', `remote pod CIDR ${JSON.stringify(r.cidr)} ${c.error}`);
    if (parseIpv4(r.nodeIp) === undefined) throw new PodwireError('CONFIG_INVALID', `node IP ${JSON.stringify(r.nodeIp)} for ${r.cidr} is not an IPv4 address`);
    if (seen.has(c.text)) throw new PodwireError('CONFIG_INVALID', `remote pod CIDR ${c.text} is listed twice: each CIDR belongs to one node`);
    seen.add(c.text);
  }
}

function desired(o: SyncKernelRoutesOptions, r: RemoteCidr): { spec: RouteSpec; line: string } {
  const cidr = (parseIpv4Cidr(r.cidr) as { text: string }).text;
  if (o.mode === 'native') {
    return { spec: { cidr, gateway: r.nodeIp }, line: `route replace ${cidr} via ${r.nodeIp} proto ${ROUTE_PROTO}` };
  }
  const vni = o.vni ?? DEFAULT_VNI;
  const src = o.nodeIp ? ` src ${o.nodeIp}` : '';
  return {
    spec: { cidr, dev: VXLAN_DEVICE, encapId: vni, encapDst: r.nodeIp, ...(o.nodeIp ? { prefsrc: o.nodeIp } : {}) },
    line: `route replace ${cidr} dev ${VXLAN_DEVICE} proto ${ROUTE_PROTO}${src} encap ip id ${vni} dst ${r.nodeIp} ttl 64`,
  };
}

/** podwire's kernel routes in a namespace (proto ROUTE_PROTO, main table). */
export async function listKernelRoutes(netns?: string): Promise<RouteSpec[]> {
  const r = await run('ip', ['-4', 'route', 'show', 'proto', String(ROUTE_PROTO)], { netns, errorCode: 'IO_FAILED' });
  return parseRouteLines(r.stdout);
}

export async function syncKernelRoutes(o: SyncKernelRoutesOptions): Promise<SyncKernelRoutesResult> {
  if (o.mode !== 'native' && o.mode !== 'vxlan') throw new PodwireError('CONFIG_INVALID', `mode ${JSON.stringify(o.mode)}: use 'native' or 'vxlan'`);
  checkRemote(o.remote);
  const have = new Map((await listKernelRoutes(o.netns)).map((r) => [r.cidr, r]));
  const lines: string[] = [];
  const res: SyncKernelRoutesResult = { added: 0, replaced: 0, deleted: 0, unchanged: 0, failed: [] };
  const want = new Set<string>();
  for (const r of o.remote) {
    const d = desired(o, r);
    want.add(d.spec.cidr);
    const h = have.get(d.spec.cidr);
    if (h && key(h, o.mode) === key(d.spec, o.mode)) {
      res.unchanged++;
      continue;
    }
    // replace turns a native route into an encap one and back, atomically per route
    lines.push(d.line);
    if (h) res.replaced++;
    else res.added++;
  }
  for (const cidr of have.keys()) {
    if (want.has(cidr)) continue;
    lines.push(`route del ${cidr} proto ${ROUTE_PROTO}`);
    res.deleted++;
  }
  if (lines.length > 0) {
    // -force: one bad route (e.g. a gateway not on any link yet) must not block the others
    const r = await run('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n`, netns: o.netns, reject: false });
    if (r.exitCode !== 0) {
      // ip -batch prints the kernel's reason, then "Command failed -:N" naming the line.
      let why = '';
      for (const l of r.stderr.split('\n').map((x) => x.trim()).filter(Boolean)) {
        const m = /^Command failed -:(\d+)$/.exec(l);
        if (m) res.failed.push(`${lines[Number(m[1]) - 1] ?? `line ${m[1]}`}: ${why.replace(/^Error: /, '')}`);
        else why = l;
      }
      if (res.failed.length === 0) throw new PodwireError('IO_FAILED', `syncing kernel routes failed (exit ${r.exitCode})`, { details: lines.join('\n') });
    }
  }
  return res;
}
