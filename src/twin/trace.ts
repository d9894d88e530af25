// `podwire trace`: build the frame a pod (or the underlay) would send, run it through the twin
// against the node's maps (live or a snapshot), and explain every step and the verdict. The FIB
// step of a native-routing verdict is answered by the node's kernel routes when the node is live.
import { PodwireError } from '../errors/index.js';
import { decodeEndpoint, encodeEndpointKey, type Endpoint } from '../maps/codec.js';
import type { NodeNames } from '../maps/names.js';
import { explain, type PolicyNames, type TraceStep } from './explain.js';
import { type Fib, noFib, routeGet, tableFib, type FibAnswer } from './fib.js';
import { buildFrame, type L4Proto } from './packet.js';
import type { MapSource } from './sources.js';
import { Twin, type TwinRun } from './wasm.js';

export interface TraceRequest {
  src: string;
  dst: string;
  proto?: L4Proto;
  sport?: number;
  dport?: number;
  ttl?: number;
  srcMac?: string;
  /** Device the packet arrives on (name or ifindex); default: the source endpoint's host veth. */
  ingressIf?: string;
  /** BPF program to run; default from the ingress device (uplink → from_uplink, vxlan → from_vxlan, else from_pod). */
  program?: string;
}

export interface TraceTarget {
  source: MapSource;
  names: NodeNames;
  /** The node's uplink name, if known. */
  uplink?: string;
  /** Live node: answer the FIB with `ip route get` in this namespace (undefined path = ours). */
  liveFib?: { netnsPath?: string };
  /** The agent's policy model: names the policies and rules behind the maps' ids. */
  policy?: PolicyNames;
}

export interface TraceReport {
  source: string;
  program: string;
  ingress: { ifindex: number; name?: string };
  packet: { src: string; dst: string; proto: L4Proto; sport?: number; dport?: number; ttl: number; srcMac: string; dstMac: string; bytes: number };
  steps: TraceStep[];
  verdict: { action: string; reason: string; ifindex: number; nhAddr?: string; tunnelId?: number; summary: string };
  notes: string[];
}

const DEFAULT_SRC_MAC = '02:00:00:00:00:01';

function sourceEndpoint(source: MapSource, ip: string): Endpoint | undefined {
  const v = source.lookup('endpoints', encodeEndpointKey(ip));
  return v === undefined ? undefined : decodeEndpoint(ip, Buffer.from(v));
}

function resolveIngress(req: TraceRequest, target: TraceTarget, srcEp: Endpoint | undefined): { ifindex: number; name?: string } {
  if (req.ingressIf !== undefined) {
    const link = target.names.linkByName(req.ingressIf);
    if (link) return { ifindex: link.ifindex, name: link.name };
    if (/^\d+$/.test(req.ingressIf)) {
      const ifindex = Number(req.ingressIf);
      const name = target.names.link(ifindex)?.name;
      return name ? { ifindex, name } : { ifindex };
    }
    const known = target.names.links.map((l) => l.name).join(', ') || 'none known';
    throw new PodwireError('USAGE', `--ingress-if ${req.ingressIf}: no such interface on the node (${known}); give a name or an ifindex`);
  }
  if (srcEp) {
    const name = target.names.link(srcEp.ifindex)?.name;
    return name ? { ifindex: srcEp.ifindex, name } : { ifindex: srcEp.ifindex };
  }
  throw new PodwireError('USAGE', `${req.src} is not a pod on this node, so the packet's way in is unknown: say where it arrives with --ingress-if NAME (a pod's host veth, the uplink, the VXLAN device)`);
}

function pickProgram(req: TraceRequest, target: TraceTarget, ingress: { ifindex: number; name?: string }, twin: Twin): string {
  const want = req.program ?? (() => {
    const link = target.names.link(ingress.ifindex);
    if (link?.kind === 'vxlan') return 'from_vxlan';
    if (target.uplink !== undefined && ingress.name === target.uplink) return 'from_uplink';
    return 'from_pod';
  })();
  if (!twin.programs.includes(want)) throw new PodwireError('USAGE', `--program ${want}: the twin has ${twin.programs.join(', ')}`);
  return want;
}

export async function tracePacket(req: TraceRequest, target: TraceTarget): Promise<TraceReport> {
  const notes: string[] = [];
  const srcEp = sourceEndpoint(target.source, req.src);
  const ingress = resolveIngress(req, target, srcEp);
  const twin = await Twin.load(target.source, noFib);
  const program = pickProgram(req, target, ingress, twin);
  const srcMac = req.srcMac ?? srcEp?.podMac ?? DEFAULT_SRC_MAC;
  if (req.srcMac === undefined && !srcEp) notes.push(`source MAC ${DEFAULT_SRC_MAC} (not a local pod; set it with --src-mac)`);
  const dstMac = srcEp?.hostMac ?? target.names.link(ingress.ifindex)?.mac ?? 'ff:ff:ff:ff:ff:ff';
  const proto = req.proto ?? 'tcp';
  const ttl = req.ttl ?? 64;
  const frame = buildFrame({
    src: req.src,
    dst: req.dst,
    srcMac,
    dstMac,
    proto,
    ttl,
    ...(req.sport === undefined ? {} : { sport: req.sport }),
    ...(req.dport === undefined ? {} : { dport: req.dport }),
  });
  const ctx = { ifindex: ingress.ifindex, ingressIfindex: ingress.ifindex };

  let run: TwinRun = twin.run(program, frame, ctx);
  let fibNote: string | undefined;
  if (run.fib && run.fib.rc === undefined) {
    if (target.liveFib) {
      // the twin asks the FIB synchronously: answer this one destination, then run again
      const a = await routeGet({ dst: run.fib.dst, ...(ingress.name ? { ingressIfname: ingress.name } : {}), ...(target.liveFib.netnsPath ? { netnsPath: target.liveFib.netnsPath } : {}) });
      fibNote = a.note;
      const fib: Fib = tableFib(new Map<string, FibAnswer>([[run.fib.dst, a]]));
      twin.setFib(fib);
      run = twin.run(program, frame, ctx);
    } else {
      fibNote = 'a snapshot holds no kernel routes';
    }
  }
  const ex = explain(run, frame, target.names, {
    ...(fibNote === undefined ? {} : { fibNote }),
    // live maps: conntrack idle times are relative to this machine's monotonic clock
    ...(target.liveFib ? { nowNs: process.hrtime.bigint() } : {}),
    ...(target.policy ? { policy: target.policy } : {}),
  });
  const packet: TraceReport['packet'] = {
    src: req.src,
    dst: req.dst,
    proto,
    ...(proto === 'icmp' ? { sport: req.sport ?? 1 } : { sport: req.sport ?? 40000, dport: req.dport ?? (proto === 'tcp' ? 80 : 53) }),
    ttl,
    srcMac,
    dstMac,
    bytes: frame.length,
  };
  const v = run.verdict;
  return {
    source: target.source.description,
    program,
    ingress,
    packet,
    steps: ex.steps,
    verdict: {
      action: run.actionName,
      reason: run.reasonName,
      ifindex: run.core.ifindex,
      ...(run.actionName === 'REDIRECT_NEIGH' || run.actionName === 'REDIRECT_TUNNEL' || run.actionName === 'ENCAP_NEIGH' ? { nhAddr: String(v['nh_addr']) } : {}),
      ...(run.actionName === 'REDIRECT_TUNNEL' || run.actionName === 'ENCAP_NEIGH' ? { tunnelId: run.core.tunnelId } : {}),
      summary: ex.summary,
    },
    notes,
  };
}
