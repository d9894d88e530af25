// core/v1 Service: the registry strategy (defaults, allocated values kept across updates,
// validation with the real server's messages). Allocation of ClusterIPs and NodePorts needs
// cluster state and lives in service-alloc.ts; this file only shapes and checks the object.
import { isRecord, type KubeObject } from './types.js';
import { dotted, VERBS, withStatusOf, type ResourceDef } from './resource-common.js';
import type { FieldError } from './status.js';

const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const DNS_LABEL_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

export type ServicePort = Record<string, unknown>;

export function servicePorts(obj: KubeObject): ServicePort[] {
  const p = obj.spec?.ports;
  return Array.isArray(p) ? p.filter(isRecord) : [];
}

export function serviceType(obj: KubeObject): string {
  const t = obj.spec?.type;
  return typeof t === 'string' && t !== '' ? t : 'ClusterIP';
}

/** NodePort and LoadBalancer services (unless allocateLoadBalancerNodePorts is false) carry nodePorts. */
export function needsNodePorts(obj: KubeObject): boolean {
  const t = serviceType(obj);
  if (t === 'NodePort') return true;
  return t === 'LoadBalancer' && obj.spec?.allocateLoadBalancerNodePorts !== false;
}

/** Every type but ExternalName has a cluster IP (or "None": headless). */
export const needsClusterIP = (obj: KubeObject): boolean => serviceType(obj) !== 'ExternalName';

function applyDefaults(spec: Record<string, unknown>): void {
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  const t = spec.type;
  if (t !== 'ExternalName') {
    spec.internalTrafficPolicy ??= 'Cluster';
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
  }
  if (t === 'NodePort' || t === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
  if (t === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports) {
      if (!isRecord(p)) continue;
      p.protocol ??= 'TCP';
      // SetDefaults_ServicePort: an unset (or 0) targetPort is the port itself.
      if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
    }
  }
  if (typeof spec.clusterIP === 'string' && spec.clusterIP !== '' && !Array.isArray(spec.clusterIPs)) spec.clusterIPs = [spec.clusterIP];
  if (Array.isArray(spec.clusterIPs) && typeof spec.clusterIPs[0] === 'string' && (spec.clusterIP ?? '') === '') spec.clusterIP = spec.clusterIPs[0];
}

/**
 * patchAllocatedValues: an update that leaves clusterIP or a nodePort empty keeps the allocated
 * one (kubectl apply and replace send objects without them), matched by port number.
 */
function keepAllocated(obj: KubeObject, old: KubeObject): void {
  const spec = obj.spec!;
  if (needsClusterIP(old) && needsClusterIP(obj)) {
    if ((spec.clusterIP ?? '') === '') spec.clusterIP = old.spec?.clusterIP;
    if (!Array.isArray(spec.clusterIPs) || spec.clusterIPs.length === 0) spec.clusterIPs = old.spec?.clusterIPs;
    if (spec.clusterIP === undefined) delete spec.clusterIP;
    if (spec.clusterIPs === undefined) delete spec.clusterIPs;
  }
  if (needsNodePorts(old) && needsNodePorts(obj)) {
    const oldPorts = servicePorts(old);
    for (const p of servicePorts(obj)) {
      if (p.nodePort !== undefined && p.nodePort !== 0) continue;
      const match = oldPorts.find((o) => o.port === p.port && (o.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
      if (match && typeof match.nodePort === 'number') p.nodePort = match.nodePort;
    }
  }
  // Changing the type away from NodePort/LoadBalancer drops the nodePorts (released by the allocator).
  if (!needsNodePorts(obj)) for (const p of servicePorts(obj)) if (needsNodePorts(old)) delete p.nodePort;
  if (serviceType(obj) === 'ExternalName') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
}

function validatePort(p: ServicePort, i: number, multi: boolean, type: string): FieldError[] {
  const f = `spec.ports[${i}]`;
  const errs: FieldError[] = [];
  const name = p.name ?? '';
  if (multi && name === '') errs.push({ field: `${f}.name`, type: 'Required value', detail: '' });
  else if (name !== '' && (typeof name !== 'string' || !DNS_LABEL_NAME.test(name))) {
    errs.push({ field: `${f}.name`, type: 'Invalid value', value: name, detail: "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')" });
  }
  if (!Number.isInteger(p.port) || (p.port as number) < 1 || (p.port as number) > 65535) {
    errs.push({ field: `${f}.port`, type: 'Invalid value', value: p.port ?? 0, detail: 'must be between 1 and 65535, inclusive' });
  }
  if (!PROTOCOLS.includes(String(p.protocol))) {
    errs.push({ field: `${f}.protocol`, type: 'Unsupported value', value: p.protocol, detail: 'supported values: "SCTP", "TCP", "UDP"' });
  }
  const tp = p.targetPort;
  if (typeof tp === 'number') {
    if (!Number.isInteger(tp) || tp < 1 || tp > 65535) errs.push({ field: `${f}.targetPort`, type: 'Invalid value', value: tp, detail: 'must be between 1 and 65535, inclusive' });
  } else if (typeof tp === 'string') {
    if (tp.length > 15 || !IANA_SVC_NAME.test(tp) || !/[a-z]/.test(tp) || tp.includes('--')) {
      errs.push({ field: `${f}.targetPort`, type: 'Invalid value', value: tp, detail: 'must contain only lowercase alphanumeric characters or \'-\', at most 15 characters, at least one letter, no "--", and start and end with an alphanumeric character' });
    }
  }
  if (p.nodePort !== undefined && p.nodePort !== 0) {
    if (type === 'ClusterIP' || type === 'ExternalName') {
      errs.push({ field: `${f}.nodePort`, type: 'Forbidden', detail: `may not be used when \`type\` is '${type}'` });
    } else if (!Number.isInteger(p.nodePort) || (p.nodePort as number) < 1 || (p.nodePort as number) > 65535) {
      errs.push({ field: `${f}.nodePort`, type: 'Invalid value', value: p.nodePort, detail: 'must be between 1 and 65535, inclusive' });
    }
  }
  return errs;
}

function validateService(obj: KubeObject, old?: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const name = obj.metadata.name ?? '';
  if (name === '') errs.push({ field: 'metadata.name', type: 'Required value', detail: 'name or generateName is required' });
  else if (!DNS_1035.test(name) || name.length > 63) {
    errs.push({
      field: 'metadata.name', type: 'Invalid value', value: name,
      detail: "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    });
  }
  const spec = obj.spec ?? {};
  const type = serviceType(obj);
  if (!SERVICE_TYPES.includes(type)) {
    errs.push({ field: 'spec.type', type: 'Unsupported value', value: type, detail: 'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"' });
  }
  const ports = servicePorts(obj);
  const headless = spec.clusterIP === 'None';
  if (type === 'ExternalName') {
    if (typeof spec.externalName !== 'string' || spec.externalName === '') errs.push({ field: 'spec.externalName', type: 'Required value', detail: '' });
  } else if (ports.length === 0 && !headless) {
    errs.push({ field: 'spec.ports', type: 'Required value', detail: '' });
  }
  if (headless && (type === 'NodePort' || type === 'LoadBalancer')) {
    errs.push({ field: 'spec.clusterIPs[0]', type: 'Invalid value', value: 'None', detail: `may not be set to 'None' for ${type} services` });
  }
  const seen = new Map<string, number>();
  const names = new Set<string>();
  ports.forEach((p, i) => {
    errs.push(...validatePort(p, i, ports.length > 1, type));
    const key = `${String(p.port)}/${String(p.protocol)}`;
    if (seen.has(key)) errs.push({ field: `spec.ports[${i}]`, type: 'Duplicate value', value: { port: p.port, protocol: p.protocol }, detail: '' });
    seen.set(key, i);
    const n = typeof p.name === 'string' ? p.name : '';
    if (n !== '' && names.has(n)) errs.push({ field: `spec.ports[${i}].name`, type: 'Duplicate value', value: n, detail: '' });
    names.add(n);
  });
  const sa = spec.sessionAffinity;
  if (sa !== 'None' && sa !== 'ClientIP') {
    errs.push({ field: 'spec.sessionAffinity', type: 'Unsupported value', value: sa, detail: 'supported values: "ClientIP", "None"' });
  }
  if (type !== 'ExternalName') {
    const fams = spec.ipFamilies;
    if (!Array.isArray(fams) || fams.length !== 1 || fams[0] !== 'IPv4') {
      errs.push({ field: 'spec.ipFamilies', type: 'Invalid value', value: fams, detail: 'the podwire lab serves a single-stack IPv4 cluster; use ["IPv4"] or leave it unset' });
    }
    const pol = spec.ipFamilyPolicy;
    if (pol !== 'SingleStack' && pol !== 'PreferDualStack' && pol !== 'RequireDualStack') {
      errs.push({ field: 'spec.ipFamilyPolicy', type: 'Unsupported value', value: pol, detail: 'supported values: "PreferDualStack", "RequireDualStack", "SingleStack"' });
    } else if (pol === 'RequireDualStack') {
      errs.push({ field: 'spec.ipFamilyPolicy', type: 'Invalid value', value: pol, detail: 'this cluster is not configured for dual-stack services' });
    }
    const itp = spec.internalTrafficPolicy;
    if (itp !== 'Cluster' && itp !== 'Local') {
      errs.push({ field: 'spec.internalTrafficPolicy', type: 'Unsupported value', value: itp, detail: 'supported values: "Cluster", "Local"' });
    }
  }
  if (old && needsClusterIP(old) && needsClusterIP(obj)) {
    const was = JSON.stringify(old.spec?.clusterIPs ?? []);
    const now = JSON.stringify(spec.clusterIPs ?? []);
    if (was !== '[]' && was !== now) {
      errs.push({ field: 'spec.clusterIPs[0]', type: 'Invalid value', value: spec.clusterIPs, detail: 'may not change once set' });
    }
  }
  return errs;
}

export const services: ResourceDef = {
  name: 'services',
  group: '',
  version: 'v1',
  apiVersion: 'v1',
  categories: ['all'],
  singular: 'service',
  kind: 'Service',
  listKind: 'ServiceList',
  namespaced: true,
  shortNames: ['svc'],
  verbs: VERBS,
  jsonPrefix: '{"kind":"Service","apiVersion":"v1",',
  fieldLabels: new Set(['metadata.name', 'metadata.namespace', 'spec.clusterIP', 'spec.type']),
  field(obj, label) {
    if (label === 'spec.type') return serviceType(obj);
    return dotted(obj, label);
  },
  prepareForCreate(obj) {
    const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
    applyDefaults(spec);
    obj.status = { loadBalancer: {} };
  },
  prepareForUpdate(obj, old) {
    withStatusOf(obj, old);
    const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
    applyDefaults(spec);
    keepAllocated(obj, old);
  },
  validate: validateService,
  returnDeletedObject: true,
  statusSubresource: true,
};


