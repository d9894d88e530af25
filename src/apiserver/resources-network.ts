// discovery.k8s.io/v1 EndpointSlice and networking.k8s.io/v1 NetworkPolicy: registry strategies
// (the defaults the real server fills in, validation of what the lab's controllers, kube-proxy
// and the policy engine read, with the real server's messages). Neither has a status
// subresource (NetworkPolicy's status was removed upstream).
import { isIPv4, isIPv6 } from 'node:net';
import { cidrContains, parseIpv4, parseIpv4Cidr } from '../ipam/index.js';
import { dotted, validateName, VERBS, type ResourceDef } from './resource-common.js';
import type { FieldError } from './status.js';
import { isRecord, type KubeObject } from './types.js';

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const protocolError = (field: string, v: unknown): FieldError => ({ field, type: 'Unsupported value', value: v, detail: 'supported values: "SCTP", "TCP", "UDP"' });
const records = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isRecord) : []);

function validateSlice(obj: KubeObject, old?: KubeObject): FieldError[] {
  const errs = validateName(obj, false);
  const type = obj.addressType;
  if (type === undefined || type === '') errs.push({ field: 'addressType', type: 'Required value', detail: '' });
  else if (type !== 'IPv4' && type !== 'IPv6' && type !== 'FQDN') {
    errs.push({ field: 'addressType', type: 'Unsupported value', value: type, detail: 'supported values: "FQDN", "IPv4", "IPv6"' });
  }
  if (old && old.addressType !== type) errs.push({ field: 'addressType', type: 'Invalid value', value: type, detail: 'field is immutable' });
  if (obj.endpoints !== undefined && obj.endpoints !== null && !Array.isArray(obj.endpoints)) {
    errs.push({ field: 'endpoints', type: 'Invalid value', value: obj.endpoints, detail: 'must be a list' });
  }
  records(obj.endpoints).forEach((ep, i) => {
    const addrs = Array.isArray(ep.addresses) ? ep.addresses : [];
    if (addrs.length !== 1) {
      errs.push({ field: `endpoints[${i}].addresses`, type: 'Invalid value', value: addrs.length, detail: 'must contain exactly 1 address' });
    }
    addrs.forEach((a, j) => {
      const ok = type === 'IPv4' ? typeof a === 'string' && isIPv4(a) : type === 'IPv6' ? typeof a === 'string' && isIPv6(a) : typeof a === 'string' && a !== '';
      if (!ok) errs.push({ field: `endpoints[${i}].addresses[${j}]`, type: 'Invalid value', value: a, detail: `must be a valid ${String(type)} address` });
    });
  });
  records(obj.ports).forEach((p, i) => {
    if (p.protocol !== undefined && !PROTOCOLS.includes(String(p.protocol))) errs.push(protocolError(`ports[${i}].protocol`, p.protocol));
    if (p.port !== undefined && p.port !== null && (!Number.isInteger(p.port) || (p.port as number) < 1 || (p.port as number) > 65535)) {
      errs.push({ field: `ports[${i}].port`, type: 'Invalid value', value: p.port, detail: 'must be between 1 and 65535, inclusive' });
    }
  });
  return errs;
}

export const endpointslices: ResourceDef = {
  name: 'endpointslices',
  group: 'discovery.k8s.io',
  version: 'v1',
  apiVersion: 'discovery.k8s.io/v1',
  singular: 'endpointslice',
  kind: 'EndpointSlice',
  listKind: 'EndpointSliceList',
  namespaced: true,
  shortNames: [],
  verbs: VERBS,
  jsonPrefix: '{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1",',
  fieldLabels: new Set(['metadata.name', 'metadata.namespace', 'addressType']),
  field(obj, label) {
    if (label === 'addressType') return typeof obj.addressType === 'string' ? obj.addressType : '';
    return dotted(obj, label);
  },
  prepareForCreate(obj) {
    for (const p of records(obj.ports)) p.protocol ??= 'TCP';
    obj.endpoints ??= [];
  },
  prepareForUpdate(obj) {
    for (const p of records(obj.ports)) p.protocol ??= 'TCP';
    obj.endpoints ??= [];
  },
  validate: validateSlice,
  returnDeletedObject: false,
  statusSubresource: false,
};

function validCidr(text: unknown): { network: number; prefix: number } | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^([^/]+)\/([0-9]{1,3})$/.exec(text);
  if (!m) return undefined;
  if (isIPv6(m[1]!)) return Number(m[2]) <= 128 ? { network: -1, prefix: Number(m[2]) } : undefined;
  const c = parseIpv4Cidr(text);
  if (!('error' in c)) return c;
  // A CIDR with host bits set ("10.0.0.1/24") is accepted and means its network, as upstream parses it.
  const ip = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ip & mask) >>> 0, prefix };
}

function validatePeers(peers: unknown, f: string, errs: FieldError[]): void {
  records(peers).forEach((peer, k) => {
    const pf = `${f}[${k}]`;
    const sel = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
    if (!sel && peer.ipBlock === undefined) {
      errs.push({ field: pf, type: 'Required value', detail: 'must specify a peer' });
    }
    if (sel && peer.ipBlock !== undefined) {
      errs.push({ field: pf, type: 'Forbidden', detail: 'may not specify both ipBlock and another peer' });
    }
    if (isRecord(peer.ipBlock)) {
      const cidr = validCidr(peer.ipBlock.cidr);
      if (!cidr) {
        errs.push({ field: `${pf}.ipBlock.cidr`, type: 'Invalid value', value: peer.ipBlock.cidr ?? '', detail: 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)' });
        return;
      }
      const except = Array.isArray(peer.ipBlock.except) ? peer.ipBlock.except : [];
      except.forEach((e, x) => {
        const ec = validCidr(e);
        if (!ec) {
          errs.push({ field: `${pf}.ipBlock.except[${x}]`, type: 'Invalid value', value: e, detail: 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)' });
        } else if (cidr.network >= 0 && ec.network >= 0) {
          const within = ec.prefix > cidr.prefix && cidrContains({ network: cidr.network, prefix: cidr.prefix, text: '' }, ec.network);
          if (!within) errs.push({ field: `${pf}.ipBlock.except[${x}]`, type: 'Invalid value', value: e, detail: 'must be a strict subset of `cidr`' });
        }
      });
    }
  });
}

function validatePorts(ports: unknown, f: string, errs: FieldError[]): void {
  records(ports).forEach((p, j) => {
    const pf = `${f}[${j}]`;
    if (p.protocol !== undefined && !PROTOCOLS.includes(String(p.protocol))) errs.push(protocolError(`${pf}.protocol`, p.protocol));
    const port = p.port;
    if (typeof port === 'number' && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      errs.push({ field: `${pf}.port`, type: 'Invalid value', value: port, detail: 'must be between 1 and 65535, inclusive' });
    }
    if (typeof port === 'string' && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(port)) {
      errs.push({ field: `${pf}.port`, type: 'Invalid value', value: port, detail: "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)" });
    }
    if (p.endPort !== undefined && p.endPort !== null) {
      if (typeof port === 'string') errs.push({ field: `${pf}.endPort`, type: 'Invalid value', value: p.endPort, detail: 'may not be specified when `port` is non-numeric' });
      else if (port === undefined) errs.push({ field: `${pf}.endPort`, type: 'Required value', detail: 'may not be specified when `port` is not specified' });
      else if (typeof p.endPort !== 'number' || typeof port !== 'number' || p.endPort < port) errs.push({ field: `${pf}.endPort`, type: 'Invalid value', value: p.endPort, detail: 'must be greater than or equal to `port`' });
    }
  });
}

function defaultPolicy(obj: KubeObject): void {
  const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
  spec.podSelector ??= {};
  // SetDefaults_NetworkPolicy: Ingress always, Egress when egress rules are present.
  if (!Array.isArray(spec.policyTypes) || spec.policyTypes.length === 0) {
    spec.policyTypes = Array.isArray(spec.egress) && spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  }
  for (const dir of ['ingress', 'egress']) {
    for (const rule of records(spec[dir])) for (const p of records(rule.ports)) p.protocol ??= 'TCP';
  }
}

function validatePolicy(obj: KubeObject): FieldError[] {
  const errs = validateName(obj, false);
  const spec = obj.spec ?? {};
  if (spec.podSelector !== undefined && !isRecord(spec.podSelector)) {
    errs.push({ field: 'spec.podSelector', type: 'Invalid value', value: spec.podSelector, detail: 'must be a label selector' });
  }
  const types = Array.isArray(spec.policyTypes) ? spec.policyTypes : [];
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') errs.push({ field: `spec.policyTypes[${i}]`, type: 'Unsupported value', value: t, detail: 'supported values: "Egress", "Ingress"' });
  });
  records(spec.ingress).forEach((r, i) => {
    validatePorts(r.ports, `spec.ingress[${i}].ports`, errs);
    validatePeers(r.from, `spec.ingress[${i}].from`, errs);
  });
  records(spec.egress).forEach((r, i) => {
    validatePorts(r.ports, `spec.egress[${i}].ports`, errs);
    validatePeers(r.to, `spec.egress[${i}].to`, errs);
  });
  return errs;
}

export const networkpolicies: ResourceDef = {
  name: 'networkpolicies',
  group: 'networking.k8s.io',
  version: 'v1',
  apiVersion: 'networking.k8s.io/v1',
  singular: 'networkpolicy',
  kind: 'NetworkPolicy',
  listKind: 'NetworkPolicyList',
  namespaced: true,
  shortNames: ['netpol'],
  verbs: VERBS,
  jsonPrefix: '{"kind":"NetworkPolicy","apiVersion":"networking.k8s.io/v1",',
  fieldLabels: new Set(['metadata.name', 'metadata.namespace']),
  field: dotted,
  prepareForCreate(obj) {
    delete obj.status;
    defaultPolicy(obj);
  },
  prepareForUpdate(obj) {
    delete obj.status;
    defaultPolicy(obj);
  },
  validate: validatePolicy,
  returnDeletedObject: false,
  statusSubresource: false,
};
