// Small builders for policy tests: API-shaped objects through the real parsers.
import { compilePolicy, namespaceRecord, parsePolicy, podRecord } from '../../src/policy/index.js';
import type { CompiledPolicy, NamespaceRecord, PodRecord, PolicyRecord } from '../../src/policy/index.js';

export interface PodSpec {
  ns: string;
  name: string;
  ip?: string;
  labels?: Record<string, string>;
  ports?: { name: string; containerPort: number; protocol?: string }[];
  hostNetwork?: boolean;
  phase?: string;
  node?: string;
}

export function pod(p: PodSpec): PodRecord {
  const r = podRecord({
    metadata: { namespace: p.ns, name: p.name, labels: p.labels ?? {} },
    spec: { nodeName: p.node ?? 'n1', hostNetwork: p.hostNetwork ?? false, containers: [{ name: 'c', ports: p.ports ?? [] }] },
    status: { phase: p.phase ?? 'Running', ...(p.ip ? { podIP: p.ip } : {}) },
  });
  if (!r) throw new Error('bad pod');
  return r;
}

export function ns(name: string, labels: Record<string, string> = {}): NamespaceRecord {
  return namespaceRecord({ metadata: { name, labels } })!;
}

export function policy(namespace: string, name: string, spec: Record<string, unknown>): PolicyRecord {
  const { policy: p, warnings } = parsePolicy({ metadata: { namespace, name }, spec });
  if (!p) throw new Error(`policy rejected: ${JSON.stringify(warnings)}`);
  return p;
}

export function compile(opts: { pods: PodRecord[]; namespaces?: NamespaceRecord[]; policies: PolicyRecord[]; local?: string[]; hostIps?: string[] }): CompiledPolicy {
  const nss = opts.namespaces ?? [...new Set(opts.pods.map((p) => p.namespace))].map((n) => ns(n));
  return compilePolicy({
    pods: new Map(opts.pods.map((p) => [`${p.namespace}/${p.name}`, p])),
    namespaces: new Map(nss.map((n) => [n.name, n])),
    policies: new Map(opts.policies.map((p) => [`${p.namespace}/${p.name}`, p])),
    localIps: new Set(opts.local ?? opts.pods.filter((p) => p.ip).map((p) => p.ip!)),
    hostIps: opts.hostIps ?? ['192.168.99.1'],
  });
}

export const TCP = 6;
export const UDP = 17;
export const SCTP = 132;
export const ICMP = 1;
