// API JSON (V1NetworkPolicy, V1Pod, V1Namespace shapes) -> the compact records of types.ts.
// Never throws: malformed input becomes a warning and, where the meaning is unknowable, the
// narrowest reading (a peer or port that cannot be read admits nothing; a rule all of whose
// peers or ports are unreadable is dropped — never widened to "every peer/port").
import { formatIpv4, parseIpv4 } from './cidr.js';
import { internLabels, internList, internString } from './intern.js';
import type { LabelSelector, NamedPort, NamespaceRecord, PodRecord, PolicyPeer, PolicyPort, PolicyRecord, PolicyRule, PolicyWarning, Protocol } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function labelsOf(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObj(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/** A selector that matches nothing (for a selector that cannot be read). */
export const MATCH_NOTHING: LabelSelector = { matchExpressions: [{ key: 'podwire.invalid/selector', operator: 'In', values: [] }] };

export function parseSelector(v: unknown, where: string, warn: (w: Omit<PolicyWarning, 'policy'>) => void): LabelSelector | undefined {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) {
    warn({ code: 'INVALID_SELECTOR', message: `${where}: not an object (${JSON.stringify(v)}): it matches nothing` });
    return undefined;
  }
  const sel: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[] } = {};
  if (v.matchLabels !== undefined && v.matchLabels !== null) {
    if (!isObj(v.matchLabels) || Object.values(v.matchLabels).some((x) => typeof x !== 'string')) {
      warn({ code: 'INVALID_SELECTOR', message: `${where}.matchLabels: want a map of strings, got ${JSON.stringify(v.matchLabels)}: it matches nothing` });
      return undefined;
    }
    sel.matchLabels = labelsOf(v.matchLabels);
  }
  if (v.matchExpressions !== undefined && v.matchExpressions !== null) {
    if (!Array.isArray(v.matchExpressions)) {
      warn({ code: 'INVALID_SELECTOR', message: `${where}.matchExpressions: want a list, got ${JSON.stringify(v.matchExpressions)}: it matches nothing` });
      return undefined;
    }
    sel.matchExpressions = [];
    for (const [i, e] of v.matchExpressions.entries()) {
      const op = isObj(e) ? str(e.operator) : undefined;
      const key = isObj(e) ? str(e.key) : undefined;
      const values = isObj(e) ? e.values : undefined;
      const okValues = values === undefined || values === null || (Array.isArray(values) && values.every((x) => typeof x === 'string'));
      const needValues = op === 'In' || op === 'NotIn';
      if (!key || !op || !OPERATORS.has(op) || !okValues || (needValues && !(Array.isArray(values) && values.length > 0))) {
        warn({
          code: 'INVALID_SELECTOR',
          message: `${where}.matchExpressions[${i}]: ${JSON.stringify(e)} is not {key, operator: In|NotIn|Exists|DoesNotExist, values (non-empty for In/NotIn)}: the selector matches nothing`,
        });
        return undefined;
      }
      sel.matchExpressions.push({ key, operator: op as 'In', ...(needValues ? { values: values as string[] } : {}) });
    }
  }
  return sel;
}

function parseProtocol(v: unknown): Protocol | undefined {
  if (v === undefined || v === null) return 'TCP';
  return v === 'TCP' || v === 'UDP' || v === 'SCTP' ? v : undefined;
}

function parsePort(v: unknown, where: string, warn: (w: Omit<PolicyWarning, 'policy'>) => void): PolicyPort | undefined {
  if (!isObj(v)) {
    warn({ code: 'INVALID_POLICY', message: `${where}: not an object: this port admits nothing` });
    return undefined;
  }
  const protocol = parseProtocol(v.protocol);
  if (!protocol) {
    warn({ code: 'INVALID_POLICY', message: `${where}.protocol: ${JSON.stringify(v.protocol)} is not TCP, UDP or SCTP: this port admits nothing` });
    return undefined;
  }
  let port: number | string | undefined;
  if (typeof v.port === 'number') port = v.port;
  else if (typeof v.port === 'string') port = /^\d+$/.test(v.port) ? Number(v.port) : v.port;
  else if (v.port !== undefined && v.port !== null) {
    warn({ code: 'INVALID_POLICY', message: `${where}.port: ${JSON.stringify(v.port)} is neither a number nor a name: this port admits nothing` });
    return undefined;
  }
  if (typeof port === 'number' && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    warn({ code: 'INVALID_POLICY', message: `${where}.port: ${port} is not 1-65535: this port admits nothing` });
    return undefined;
  }
  if (typeof port === 'string' && !/^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/.test(port)) {
    warn({ code: 'INVALID_POLICY', message: `${where}.port: ${JSON.stringify(port)} is not a valid port name (IANA_SVC_NAME): this port admits nothing` });
    return undefined;
  }
  const out: { protocol: Protocol; port?: number | string; endPort?: number } = { protocol };
  if (port !== undefined) out.port = port;
  if (v.endPort !== undefined && v.endPort !== null) {
    if (typeof port !== 'number' || typeof v.endPort !== 'number' || !Number.isInteger(v.endPort) || v.endPort < port || v.endPort > 65535) {
      warn({ code: 'INVALID_POLICY', message: `${where}.endPort: ${JSON.stringify(v.endPort)} needs a numeric port <= endPort <= 65535: this port admits nothing` });
      return undefined;
    }
    out.endPort = v.endPort;
  }
  return out;
}

function parsePeer(v: unknown, where: string, warn: (w: Omit<PolicyWarning, 'policy'>) => void): PolicyPeer | undefined {
  if (!isObj(v)) {
    warn({ code: 'INVALID_POLICY', message: `${where}: not an object: this peer matches nothing` });
    return undefined;
  }
  const hasSel = (v.podSelector !== undefined && v.podSelector !== null) || (v.namespaceSelector !== undefined && v.namespaceSelector !== null);
  if (v.ipBlock !== undefined && v.ipBlock !== null) {
    const b = v.ipBlock;
    if (hasSel || !isObj(b) || typeof b.cidr !== 'string' || (b.except !== undefined && b.except !== null && !(Array.isArray(b.except) && b.except.every((x) => typeof x === 'string')))) {
      warn({ code: 'INVALID_POLICY', message: `${where}: ipBlock must be {cidr, except?: [cidr]} alone in its peer: this peer matches nothing` });
      return undefined;
    }
    return { ipBlock: { cidr: b.cidr, ...(Array.isArray(b.except) && b.except.length ? { except: b.except as string[] } : {}) } };
  }
  if (!hasSel) {
    warn({ code: 'INVALID_POLICY', message: `${where}: a peer needs podSelector, namespaceSelector or ipBlock: this peer matches nothing` });
    return undefined;
  }
  const out: { podSelector?: LabelSelector; namespaceSelector?: LabelSelector } = {};
  if (v.podSelector !== undefined && v.podSelector !== null) {
    const s = parseSelector(v.podSelector, `${where}.podSelector`, warn);
    if (!s) return undefined;
    out.podSelector = s;
  }
  if (v.namespaceSelector !== undefined && v.namespaceSelector !== null) {
    const s = parseSelector(v.namespaceSelector, `${where}.namespaceSelector`, warn);
    if (!s) return undefined;
    out.namespaceSelector = s;
  }
  return out;
}

/** Marks a rule that admits nothing (its peers/ports were all unreadable). */
export const DEAD = Object.freeze({ dead: true as const });
export function isDeadRule(r: PolicyRule): boolean {
  return (r as { dead?: boolean }).dead === true;
}

function parseRules(v: unknown, dir: 'ingress' | 'egress', warn: (w: Omit<PolicyWarning, 'policy'>) => void): PolicyRule[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    warn({ code: 'INVALID_POLICY', message: `spec.${dir}: not a list: no ${dir} rule admits anything` });
    return [];
  }
  const peerKey = dir === 'ingress' ? 'from' : 'to';
  const rules: PolicyRule[] = [];
  for (const [i, r] of v.entries()) {
    const where = `spec.${dir}[${i}]`;
    if (!isObj(r)) {
      warn({ code: 'INVALID_POLICY', message: `${where}: not an object: the rule admits nothing` });
      rules.push({ ports: [], ...DEAD });
      continue;
    }
    const rule: { peers?: PolicyPeer[]; ports?: PolicyPort[] } = {};
    let dead = false;
    const rawPeers = r[peerKey];
    if (Array.isArray(rawPeers) && rawPeers.length) {
      rule.peers = rawPeers.map((p, j) => parsePeer(p, `${where}.${peerKey}[${j}]`, warn)).filter((p): p is PolicyPeer => !!p);
      if (!rule.peers.length) dead = true;
    }
    if (Array.isArray(r.ports) && r.ports.length) {
      rule.ports = r.ports.map((p, j) => parsePort(p, `${where}.ports[${j}]`, warn)).filter((p): p is PolicyPort => !!p);
      if (!rule.ports.length) dead = true;
    }
    // a rule whose every peer or port was unreadable keeps its index (trace names rule indexes)
    // but admits nothing
    rules.push(dead ? { ...rule, ...DEAD } : rule);
  }
  return rules;
}


export function parsePolicy(obj: unknown): { policy?: PolicyRecord; warnings: PolicyWarning[] } {
  const warnings: PolicyWarning[] = [];
  const meta = isObj(obj) && isObj(obj.metadata) ? obj.metadata : undefined;
  const namespace = str(meta?.namespace);
  const name = str(meta?.name);
  if (!namespace || !name) {
    warnings.push({ code: 'INVALID_POLICY', message: 'a NetworkPolicy without metadata.namespace and metadata.name: ignored' });
    return { warnings };
  }
  const policyName = `${namespace}/${name}`;
  const warn = (w: Omit<PolicyWarning, 'policy'>): void => void warnings.push({ policy: policyName, ...w });
  const spec = isObj(obj) && isObj(obj.spec) ? obj.spec : undefined;
  if (!spec) {
    warn({ code: 'INVALID_POLICY', message: 'no spec: ignored' });
    return { warnings };
  }
  const podSelector = parseSelector(spec.podSelector ?? {}, 'spec.podSelector', warn);
  if (!podSelector) {
    // which pods it isolates is unknowable: ignored (the API server never admits such a policy)
    return { warnings };
  }
  const ingress = parseRules(spec.ingress, 'ingress', warn);
  const egress = parseRules(spec.egress, 'egress', warn);
  let policyTypes: ('Ingress' | 'Egress')[];
  if (Array.isArray(spec.policyTypes) && spec.policyTypes.length) {
    policyTypes = [];
    for (const t of spec.policyTypes) {
      if (t === 'Ingress' || t === 'Egress') {
        if (!policyTypes.includes(t)) policyTypes.push(t);
      } else warn({ code: 'INVALID_POLICY', message: `spec.policyTypes: ${JSON.stringify(t)} is not Ingress or Egress: skipped` });
    }
  } else {
    policyTypes = ['Ingress'];
    if (Array.isArray(spec.egress) && spec.egress.length) policyTypes.push('Egress');
  }
  const policy: PolicyRecord = {
    namespace,
    name,
    podSelector,
    ...(ingress ? { ingress } : {}),
    ...(egress ? { egress } : {}),
    policyTypes,
  };
  return { policy, warnings };
}

function portsOf(spec: Obj | undefined): NamedPort[] {
  const out: NamedPort[] = [];
  for (const list of [spec?.containers, spec?.initContainers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      if (!isObj(c) || !Array.isArray(c.ports)) continue;
      for (const p of c.ports) {
        if (!isObj(p) || typeof p.name !== 'string' || !p.name || typeof p.containerPort !== 'number') continue;
        const protocol = parseProtocol(p.protocol);
        if (protocol) out.push({ name: p.name, protocol, port: p.containerPort });
      }
    }
  }
  return out;
}

/** A V1Pod as policy needs it; undefined without namespace/name. Pods in phase Succeeded/Failed
 * get no ip: they are members of no set. */
export function podRecord(obj: unknown): PodRecord | undefined {
  if (!isObj(obj) || !isObj(obj.metadata)) return undefined;
  const namespace = str(obj.metadata.namespace);
  const name = str(obj.metadata.name);
  if (!namespace || !name) return undefined;
  const spec = isObj(obj.spec) ? obj.spec : undefined;
  const status = isObj(obj.status) ? obj.status : undefined;
  const phase = str(status?.phase);
  let ip: string | undefined;
  if (phase !== 'Succeeded' && phase !== 'Failed') {
    const candidates: unknown[] = [status?.podIP];
    if (Array.isArray(status?.podIPs)) for (const p of status.podIPs) if (isObj(p)) candidates.push(p.ip);
    const found = candidates.find((c): c is string => typeof c === 'string' && parseIpv4(c) !== undefined);
    // canonical (no leading zeros): the columnar PodStore keeps the number and writes it back so
    if (found !== undefined) ip = formatIpv4(parseIpv4(found)!);
  }
  const node = str(spec?.nodeName);
  // namespace, node, labels and ports are shared with the other records that repeat them (intern.ts)
  return {
    namespace: internString(namespace),
    name,
    ...(ip ? { ip } : {}),
    ...(node ? { node: internString(node) } : {}),
    hostNetwork: spec?.hostNetwork === true,
    labels: internLabels(labelsOf(obj.metadata.labels)),
    ports: internList(portsOf(spec)),
  };
}

/** A V1Namespace; the API server's kubernetes.io/metadata.name label is added when missing. */
export function namespaceRecord(obj: unknown): NamespaceRecord | undefined {
  if (!isObj(obj) || !isObj(obj.metadata)) return undefined;
  const name = str(obj.metadata.name);
  if (!name) return undefined;
  return { name, labels: { 'kubernetes.io/metadata.name': name, ...labelsOf(obj.metadata.labels) } };
}
