// Host-namespace routes to other nodes' pod CIDRs, so the node itself and its hostNetwork pods
// reach remote pods (pod traffic never uses them: from_pod forwards it in BPF). Our routes and
// nexthops carry proto ROUTE_PROTO; a sync lists exactly those, and adds, replaces and deletes by
// diff in one `ip -batch` exec, so an unchanged cluster costs two lists and no writes.
//
// Every remote node is one kernel NEXTHOP OBJECT (id = its IPv4 address as a number) and its pod
// CIDR a route `nhid ID`. Plain `CIDR via NODE_IP` routes made the kernel keep one fib_info per
// node, all hashed by the same output device into one bucket that every insert walks: 20,000
// routes took 13 s, 65,000 never finished within the agent's 60 s exec timeout (measured,
// bench/report/findings.md). With nexthop objects 65,000 nodes take ~2.5 s.
//
// native: nexthop id ID via NODE_IP dev UPLINK;                route CIDR nhid ID
// vxlan:  nexthop id ID encap ip id VNI dst NODE_IP ttl 64 dev pwvxlan0;
//         route CIDR nhid ID [src NODE_IP_OF_THIS_NODE]
//         pwvxlan0 is NOARP, so the neighbour layer uses the device's own MAC as destination
//         and no gateway, neighbour or FDB entry is needed; the receiving node's from_vxlan
//         rewrites the inner MACs anyway. The lwtunnel metadata tells the collect-metadata
//         device where to send.
// A nexthop id another program already uses (another proto) is left alone: that node's CIDR gets
// a plain route (`via NODE_IP` / `dev pwvxlan0 encap …`) instead, as before.
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
  /**
   * native: the device the nexthops leave by (a nexthop object needs one). Default: the device
   * of the kernel's route to the first remote node.
   */
  uplink?: string;
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
  /** The nexthop object the route uses (`nhid`); its gateway/dev/encap are printed beside it. */
  nhid?: number;
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

/** Attributes after the prefix (routes) or the id (nexthops), as `ip` prints them. */
function parseAttrs(t: readonly string[], from: number, r: RouteSpec & { proto?: string }): void {
  let inEncap = false;
  for (let i = from; i < t.length; i++) {
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
    if (w === 'nhid') r.nhid = Number(next);
    else if (w === 'via') r.gateway = next;
    else if (w === 'dev') r.dev = next;
    else if (w === 'src') r.prefsrc = next;
    else if (w === 'proto') r.proto = next;
    else continue;
    i++;
  }
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
    parseAttrs(t, 1, r);
    out.push(r);
  }
  return out;
}

/** A nexthop object as `ip nexthop show` prints it ("id 7 via 10.0.0.2 dev eth0 scope link proto 210"). */
export interface NexthopSpec {
  id: number;
  gateway?: string;
  dev?: string;
  encapId?: number;
  encapDst?: string;
  /** As printed: a number, or a name from /etc/iproute2/rt_protos. */
  proto?: string;
}

export function parseNexthopLines(text: string): NexthopSpec[] {
  const out: NexthopSpec[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t[0] !== 'id' || t[1] === undefined) continue;
    const r: RouteSpec & { proto?: string } = { cidr: '' };
    parseAttrs(t, 2, r);
    out.push({ id: Number(t[1]), ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.dev ? { dev: r.dev } : {}), ...(r.encapId === undefined ? {} : { encapId: r.encapId }), ...(r.encapDst ? { encapDst: r.encapDst } : {}), ...(r.proto ? { proto: r.proto } : {}) });
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

/** What must match for our nexthop to count as unchanged. */
function nhKey(n: { gateway?: string; dev?: string; encapId?: number; encapDst?: string }): string {
  return JSON.stringify([n.gateway ?? '', n.dev ?? '', n.encapId ?? '', n.encapDst ?? '']);
}

/** The nexthop id of a node: its IPv4 address as a number (unique per node, stable across restarts). */
export function nexthopIdOf(nodeIp: string): number {
  const n = parseIpv4(nodeIp);
  if (n === undefined || n === 0) throw new PodwireError('CONFIG_INVALID', `node IP ${JSON.stringify(nodeIp)} cannot name a nexthop`);
  return n;
}

interface Plan {
  nexthop: { id: number; spec: NexthopSpec; line: string };
  /** The route through the nexthop, and the plain route used when the id belongs to someone else. */
  viaNexthop: { spec: RouteSpec; line: string };
  plain: { spec: RouteSpec; line: string };
}

function plan(o: SyncKernelRoutesOptions, r: RemoteCidr, uplink: string | undefined): Plan {
  const cidr = (parseIpv4Cidr(r.cidr) as { text: string }).text;
  const id = nexthopIdOf(r.nodeIp);
  if (o.mode === 'native') {
    const spec: NexthopSpec = { id, gateway: r.nodeIp, ...(uplink ? { dev: uplink } : {}) };
    return {
      nexthop: { id, spec, line: `nexthop replace id ${id} via ${r.nodeIp} dev ${uplink ?? ''} proto ${ROUTE_PROTO}` },
      viaNexthop: { spec: { cidr, nhid: id }, line: `route replace ${cidr} nhid ${id} proto ${ROUTE_PROTO}` },
      plain: { spec: { cidr, gateway: r.nodeIp }, line: `route replace ${cidr} via ${r.nodeIp} proto ${ROUTE_PROTO}` },
    };
  }
  const vni = o.vni ?? DEFAULT_VNI;
  const src = o.nodeIp ? ` src ${o.nodeIp}` : '';
  const prefsrc = o.nodeIp ? { prefsrc: o.nodeIp } : {};
  return {
    nexthop: { id, spec: { id, dev: VXLAN_DEVICE, encapId: vni, encapDst: r.nodeIp }, line: `nexthop replace id ${id} encap ip id ${vni} dst ${r.nodeIp} ttl 64 dev ${VXLAN_DEVICE} proto ${ROUTE_PROTO}` },
    viaNexthop: { spec: { cidr, nhid: id, ...prefsrc }, line: `route replace ${cidr} nhid ${id} proto ${ROUTE_PROTO}${src}` },
    plain: {
      spec: { cidr, dev: VXLAN_DEVICE, encapId: vni, encapDst: r.nodeIp, ...prefsrc },
      line: `route replace ${cidr} dev ${VXLAN_DEVICE} proto ${ROUTE_PROTO}${src} encap ip id ${vni} dst ${r.nodeIp} ttl 64`,
    },
  };
}

/** podwire's kernel routes in a namespace (proto ROUTE_PROTO, main table). */
export async function listKernelRoutes(netns?: string): Promise<RouteSpec[]> {
  const r = await run('ip', ['-4', 'route', 'show', 'proto', String(ROUTE_PROTO)], { netns, errorCode: 'IO_FAILED' });
  return parseRouteLines(r.stdout);
}

/** Every nexthop object in a namespace (ours carry proto ROUTE_PROTO). */
export async function listNexthops(netns?: string): Promise<NexthopSpec[]> {
  const r = await run('ip', ['-4', 'nexthop', 'show'], { netns, errorCode: 'IO_FAILED' });
  return parseNexthopLines(r.stdout);
}

/** The device of the kernel's route to `ip` (native mode without an explicit uplink). */
async function deviceToward(ip: string, netns?: string): Promise<string | undefined> {
  const r = await run('ip', ['-j', '-4', 'route', 'get', ip], { netns, reject: false });
  if (r.exitCode !== 0) return undefined;
  return (JSON.parse(r.stdout) as Array<{ dev?: string }>)[0]?.dev;
}

/** Lines of the batch built per chunk as `ip` reads them: at 65k nodes the first sync is 130k
 * lines (~9 MB of text); held as one string and a Step object per line they were most of the
 * agent's memory for the seconds the kernel takes. */
const LINES_PER_CHUNK = 1000;

// What one line of the batch does; its text is made again from the plan when needed.
const NH_WRITE = 0; // ref: index into remote (the first with that nexthop id)
const ROUTE_VIA_NH = 1; // ref: index into remote
const ROUTE_PLAIN = 2; // ref: index into remote
const DEL_ROUTE = 3; // ref: index into delCidrs
const DEL_NH = 4; // ref: the nexthop id

export async function syncKernelRoutes(o: SyncKernelRoutesOptions): Promise<SyncKernelRoutesResult> {
  if (o.mode !== 'native' && o.mode !== 'vxlan') throw new PodwireError('CONFIG_INVALID', `mode ${JSON.stringify(o.mode)}: use 'native' or 'vxlan'`);
  checkRemote(o.remote);
  const [routes, nexthops] = await Promise.all([listKernelRoutes(o.netns), listNexthops(o.netns)]);
  const have = new Map(routes.map((r) => [r.cidr, r]));
  const proto = String(ROUTE_PROTO);
  const ours = new Map(nexthops.filter((n) => n.proto === proto).map((n) => [n.id, n]));
  const foreign = new Set(nexthops.filter((n) => n.proto !== proto).map((n) => n.id));
  const uplink = o.mode === 'native' && o.remote.length > 0 ? (o.uplink ?? (await deviceToward(o.remote[0]!.nodeIp, o.netns))) : o.uplink;

  const res: SyncKernelRoutesResult = { added: 0, replaced: 0, deleted: 0, unchanged: 0, failed: [] };
  // the batch, in order: nexthop writes, route writes, route deletes, nexthop deletes
  const nhWrites: number[] = [];
  const nhWritten = new Map<number, boolean>(); // per nexthop id: written (true) or unchanged (false)
  const routeWrites: number[] = []; // remote index × 2 + (1: through its nexthop, 0: plain)
  const delCidrs: string[] = [];
  const wantCidrs = new Set<string>();
  const wantNh = new Set<number>();
  for (let i = 0; i < o.remote.length; i++) {
    const r = o.remote[i]!;
    const p = plan(o, r, uplink);
    const cidr = p.plain.spec.cidr;
    wantCidrs.add(cidr);
    const h = have.get(cidr);
    let routeSame: boolean;
    let nhSame = true;
    let viaNh: boolean;
    if (foreign.has(p.nexthop.id) || (o.mode === 'native' && !uplink)) {
      // someone else's nexthop id (or no device to hang a nexthop on): a plain route
      routeSame = h !== undefined && h.nhid === undefined && key(h, o.mode) === key(p.plain.spec, o.mode);
      viaNh = false;
    } else {
      wantNh.add(p.nexthop.id);
      let written = nhWritten.get(p.nexthop.id);
      if (written === undefined) {
        const cur = ours.get(p.nexthop.id);
        written = !(cur && nhKey(cur) === nhKey(p.nexthop.spec));
        if (written) nhWrites.push(i);
        nhWritten.set(p.nexthop.id, written);
      }
      if (written) nhSame = false;
      routeSame = h !== undefined && h.nhid === p.nexthop.id && (h.prefsrc ?? '') === (p.viaNexthop.spec.prefsrc ?? '');
      viaNh = true;
    }
    if (routeSame && nhSame) {
      res.unchanged++;
      continue;
    }
    if (!routeSame) routeWrites.push(i * 2 + (viaNh ? 1 : 0));
    // replace turns a plain route into one through a nexthop, a native one into an encap one and back, atomically per route
    if (h) res.replaced++;
    else res.added++;
  }
  for (const cidr of have.keys()) {
    if (wantCidrs.has(cidr)) continue;
    delCidrs.push(cidr);
    res.deleted++;
  }
  // a nexthop goes after the routes through it (deleting it first would take them along unreported)
  const delNhs: number[] = [];
  for (const id of ours.keys()) if (!wantNh.has(id)) delNhs.push(id);

  const count = nhWrites.length + routeWrites.length + delCidrs.length + delNhs.length;
  /** Step n (0-based) of the batch: what it does and its reference. */
  const stepAt = (n: number): [number, number] => {
    if (n < nhWrites.length) return [NH_WRITE, nhWrites[n]!];
    n -= nhWrites.length;
    if (n < routeWrites.length) return [routeWrites[n]! & 1 ? ROUTE_VIA_NH : ROUTE_PLAIN, routeWrites[n]! >>> 1];
    n -= routeWrites.length;
    if (n < delCidrs.length) return [DEL_ROUTE, n];
    return [DEL_NH, delNhs[n - delCidrs.length]!];
  };
  const lineOf = (n: number): string => {
    const [kind, ref] = stepAt(n);
    if (kind === DEL_ROUTE) return `route del ${delCidrs[ref]} proto ${ROUTE_PROTO}`;
    if (kind === DEL_NH) return `nexthop del id ${ref}`;
    const p = plan(o, o.remote[ref]!, uplink);
    return kind === NH_WRITE ? p.nexthop.line : kind === ROUTE_VIA_NH ? p.viaNexthop.line : p.plain.line;
  };
  /** The routes a failure of step n fails: a nexthop write fails every route through it. */
  const cidrsOf = (n: number): string[] => {
    const [kind, ref] = stepAt(n);
    if (kind === DEL_ROUTE || kind === DEL_NH) return [];
    const p = plan(o, o.remote[ref]!, uplink);
    if (kind !== NH_WRITE) return [p.plain.spec.cidr];
    const out: string[] = [];
    for (const r of o.remote) {
      const q = plan(o, r, uplink);
      if (q.nexthop.id === p.nexthop.id && !foreign.has(q.nexthop.id)) out.push(q.plain.spec.cidr);
    }
    return out;
  };
  function* chunks(): Generator<string> {
    for (let n = 0; n < count; n += LINES_PER_CHUNK) {
      const lines: string[] = [];
      for (let m = n; m < Math.min(count, n + LINES_PER_CHUNK); m++) lines.push(lineOf(m));
      yield `${lines.join('\n')}\n`;
    }
  }

  if (count > 0) {
    // -force: one bad route (e.g. a gateway not on any link yet) must not block the others
    const r = await run('ip', ['-force', '-batch', '-'], { input: chunks(), netns: o.netns, reject: false });
    if (r.exitCode !== 0) {
      // ip -batch prints the kernel's reason, then "Command failed -:N" naming the line. A failed
      // nexthop fails its routes (their own lines then fail too: reported once, with the cause).
      const failed = new Map<string, string>();
      const other: string[] = [];
      let why = '';
      for (const l of r.stderr.split('\n').map((x) => x.trim()).filter(Boolean)) {
        const m = /^Command failed -:(\d+)$/.exec(l);
        if (!m) {
          why = l.replace(/^Error: /, '');
          continue;
        }
        const n = Number(m[1]) - 1;
        if (!(n >= 0 && n < count)) {
          other.push(`line ${m[1]}: ${why}`);
          continue;
        }
        const line = lineOf(n);
        const cidrs = cidrsOf(n);
        if (cidrs.length === 0) other.push(`${line}: ${why}`);
        else for (const c of cidrs) if (!failed.has(c)) failed.set(c, `${line}: ${why}`);
      }
      res.failed.push(...failed.values(), ...other);
      if (res.failed.length === 0) throw new PodwireError('IO_FAILED', `syncing kernel routes failed (exit ${r.exitCode})`, { details: [...chunks()].join('') });
    }
  }
  return res;
}
