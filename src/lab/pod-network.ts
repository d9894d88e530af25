// What a CRI runtime (containerd) hands the CNI chain for a Pod, derived from the Pod object:
// CNI_ARGS with the K8S_POD_* keys, runtimeConfig `portMappings` from the containers' hostPorts
// and `bandwidth` from the kubernetes.io/{ingress,egress}-bandwidth annotations. Pure functions,
// so the exact shapes are unit-tested without a cluster.
import type { V1Pod } from '@kubernetes/client-node';
import { PodwireError } from '../errors/index.js';
import type { ServePort } from './serve.js';

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: string;
  hostIP: string;
}

export interface BandwidthEntry {
  ingressRate: number;
  ingressBurst: number;
  egressRate: number;
  egressBurst: number;
}

/** CNI_ARGS exactly as containerd's CRI builds them for a pod sandbox. */
export function criCniArgs(pod: { namespace: string; name: string; uid: string }, sandboxId: string): string {
  return `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${sandboxId};K8S_POD_UID=${pod.uid}`;
}

/** containerd's toCNIPortMappings: ports with a hostPort, protocol lowercased, hostIP as given. */
export function portMappings(pod: V1Pod): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort || p.hostPort <= 0) continue;
      out.push({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: (p.protocol ?? 'TCP').toLowerCase(), hostIP: p.hostIP ?? '' });
    }
  }
  return out;
}

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** A Kubernetes resource quantity ("10M", "1Gi", "1.5e6") as Quantity.Value(): rounded up. */
export function parseQuantity(text: string): number {
  const m = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE]?)$/.exec(text.trim());
  if (!m) throw new PodwireError('CONFIG_INVALID', `${JSON.stringify(text)} is not a Kubernetes quantity (e.g. 10M, 1Gi, 500k)`);
  const num = Number(m[1]);
  const suffix = m[2]!;
  const mult = BINARY[suffix] ?? DECIMAL[suffix] ?? 10 ** Number(suffix.slice(1));
  // Round up like Quantity.Value(), without letting float noise (1.1*1e6 = 1100000.0000000002) add one.
  const v = num * mult;
  const r = Math.round(v);
  return Math.abs(v - r) < 1e-6 * Math.max(1, Math.abs(v)) ? r : Math.ceil(v);
}

const MIN_RATE = 1e3; // kubelet's bandwidth limits: 1k .. 1P bit/s
const MAX_RATE = 1e15;
const BURST = 2 ** 32 - 1; // containerd sends math.MaxUint32 for both bursts

/** containerd's toCNIBandWidth: undefined when neither annotation is set. */
export function bandwidth(pod: V1Pod): BandwidthEntry | undefined {
  const ann = pod.metadata?.annotations ?? {};
  const read = (key: string): number | undefined => {
    const v = ann[key];
    if (v === undefined) return undefined;
    const n = parseQuantity(v);
    if (n < MIN_RATE || n > MAX_RATE) throw new PodwireError('CONFIG_INVALID', `annotation ${key}=${v} is outside 1k..1P bit/s`);
    return n;
  };
  const ingress = read('kubernetes.io/ingress-bandwidth');
  const egress = read('kubernetes.io/egress-bandwidth');
  if (ingress === undefined && egress === undefined) return undefined;
  return {
    ingressRate: ingress ?? 0,
    ingressBurst: ingress === undefined ? 0 : BURST,
    egressRate: egress ?? 0,
    egressBurst: egress === undefined ? 0 : BURST,
  };
}

/** The capability arguments (runtimeConfig) the chain gets for this pod. */
export function capabilityArgs(pod: V1Pod): Record<string, unknown> {
  const bw = bandwidth(pod);
  return { portMappings: portMappings(pod), ...(bw ? { bandwidth: bw } : {}) };
}

/** The servers a lab pod runs: every TCP/UDP container port, once. */
export function servePorts(pod: V1Pod): ServePort[] {
  const seen = new Map<string, ServePort>();
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      const protocol = (p.protocol ?? 'TCP').toLowerCase();
      if (protocol !== 'tcp' && protocol !== 'udp') continue;
      seen.set(`${protocol}:${p.containerPort}`, { protocol, port: p.containerPort });
    }
  }
  return [...seen.values()];
}
