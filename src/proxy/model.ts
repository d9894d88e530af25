// What the proxy needs from Services and EndpointSlices, as plain data: one ServicePort per
// (service, port) with its resolved, ready endpoints. Extracted once, so the rule renderers are
// pure functions of this model (unit tests need no API server). IPv4 only, like the datapath.
// Anything malformed is skipped with a reason (reported through `skip`), never thrown: one bad
// object must not stop the rules for every other Service.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface Endpoint {
  ip: string;
  port: number;
  /** On this proxy's node (EndpointSlice endpoints[].nodeName); used by the Local traffic policies. */
  local?: true;
}

export interface ServicePort {
  namespace: string;
  name: string;
  /** spec.ports[].name ('' for a single unnamed port). */
  portName: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  /** 0 = none. */
  nodePort: number;
  /** spec.externalIPs (IPv4): answered like NodePorts, through the external chain. */
  externalIPs?: string[];
  /** sessionAffinity ClientIP: the timeout in seconds; undefined = no affinity. */
  affinitySeconds?: number;
  /** externalTrafficPolicy Local (NodePort traffic only to this node's endpoints, source kept). */
  externalLocal?: true;
  /** internalTrafficPolicy Local (ClusterIP traffic only to this node's endpoints). */
  internalLocal?: true;
  /** Ready endpoints (falling back to serving-and-terminating ones, as kube-proxy does), sorted. */
  endpoints: Endpoint[];
}

export type Skip = (what: string, reason: string) => void;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);
const DEFAULT_AFFINITY_SECONDS = 10800;

export function isIPv4(s: unknown): s is string {
  return typeof s === 'string' && IPV4.test(s);
}

const isPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536;

/** "namespace/name:port" as kube-proxy prints a ServicePortName (no ":" for an unnamed port). */
export function servicePortName(sp: Pick<ServicePort, 'namespace' | 'name' | 'portName'>): string {
  return `${sp.namespace}/${sp.name}${sp.portName === '' ? '' : `:${sp.portName}`}`;
}

export function ipToNumber(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  return ipToNumber(a.ip) - ipToNumber(b.ip) || a.port - b.port;
}

interface SliceEndpoint {
  ip: string;
  port: number;
  local: boolean;
  ready: boolean;
  servingTerminating: boolean;
}

/** Endpoints of the slices of one service, keyed by "portName/PROTOCOL". */
function sliceEndpoints(slices: readonly V1EndpointSlice[], nodeName: string | undefined, skip: Skip): Map<string, Map<string, SliceEndpoint>> {
  const byPort = new Map<string, Map<string, SliceEndpoint>>();
  for (const s of slices) {
    const what = `endpointslice ${s.metadata?.namespace ?? '?'}/${s.metadata?.name ?? '?'}`;
    if (s.addressType !== 'IPv4') continue; // IPv6/FQDN slices are not ours (IPv4-only proxy)
    if (!Array.isArray(s.endpoints)) {
      if (s.endpoints !== undefined && s.endpoints !== null) skip(what, 'endpoints is not a list');
      continue;
    }
    for (const p of Array.isArray(s.ports) ? s.ports : []) {
      if (typeof p !== 'object' || p === null || !isPort(p.port)) {
        skip(what, `port ${JSON.stringify(p)} has no valid port number`);
        continue;
      }
      const proto = p.protocol ?? 'TCP';
      if (!PROTOCOLS.has(proto)) {
        skip(what, `port protocol ${JSON.stringify(proto)} is not TCP, UDP or SCTP`);
        continue;
      }
      const key = `${p.name ?? ''}/${proto}`;
      let m = byPort.get(key);
      if (!m) byPort.set(key, (m = new Map()));
      for (const e of s.endpoints) {
        if (typeof e !== 'object' || e === null || !Array.isArray(e.addresses) || !isIPv4(e.addresses[0])) {
          skip(what, `endpoint ${JSON.stringify(e?.addresses ?? e)} has no IPv4 address`);
          continue;
        }
        const c = e.conditions ?? {};
        // ready unset means ready (the API's documented default); serving unset follows ready
        const ready = c.ready !== false;
        const serving = c.serving ?? ready;
        const local = nodeName !== undefined && e.nodeName === nodeName;
        const ep: SliceEndpoint = { ip: e.addresses[0], port: p.port, local, ready, servingTerminating: serving && c.terminating === true };
        const id = `${ep.ip}:${ep.port}`;
        const old = m.get(id);
        // the same address in two slices (mid-move): ready wins
        if (!old || (!old.ready && ep.ready)) m.set(id, ep);
      }
    }
  }
  return byPort;
}

/**
 * The ServicePorts the proxy programs. Headless (clusterIP None) and ExternalName services,
 * and non-IPv4 ClusterIPs, are skipped silently: kube-proxy writes nothing for them either.
 */
export function buildServicePorts(services: readonly V1Service[], slices: readonly V1EndpointSlice[], skip: Skip = () => {}, nodeName?: string): ServicePort[] {
  const slicesBySvc = new Map<string, V1EndpointSlice[]>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    const ns = s.metadata?.namespace;
    if (typeof svc !== 'string' || typeof ns !== 'string') continue;
    const k = `${ns}/${svc}`;
    const l = slicesBySvc.get(k);
    if (l) l.push(s);
    else slicesBySvc.set(k, [s]);
  }

  const out: ServicePort[] = [];
  for (const svc of services) {
    const namespace = svc.metadata?.namespace;
    const name = svc.metadata?.name;
    if (typeof namespace !== 'string' || typeof name !== 'string' || namespace === '' || name === '') {
      skip('service', 'metadata.name or metadata.namespace is missing');
      continue;
    }
    const what = `service ${namespace}/${name}`;
    const spec = svc.spec;
    if (typeof spec !== 'object' || spec === null) {
      skip(what, 'spec is missing');
      continue;
    }
    if (spec.type === 'ExternalName') continue;
    const clusterIP = spec.clusterIP;
    if (clusterIP === undefined || clusterIP === '' || clusterIP === 'None') continue; // headless / not allocated
    if (!isIPv4(clusterIP)) {
      if (!String(clusterIP).includes(':')) skip(what, `spec.clusterIP ${JSON.stringify(clusterIP)} is not an IPv4 address`);
      continue;
    }
    let affinitySeconds: number | undefined;
    if (spec.sessionAffinity === 'ClientIP') {
      const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
      affinitySeconds = typeof t === 'number' && Number.isInteger(t) && t > 0 && t <= 86400 ? t : DEFAULT_AFFINITY_SECONDS;
    }
    const eps = sliceEndpoints(slicesBySvc.get(`${namespace}/${name}`) ?? [], nodeName, (w, r) => skip(w, r));
    const hasNodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
    const externalIPs = (Array.isArray(spec.externalIPs) ? spec.externalIPs : []).filter(isIPv4);
    const ports = Array.isArray(spec.ports) ? spec.ports : [];
    for (const p of ports) {
      if (typeof p !== 'object' || p === null || !isPort(p.port)) {
        skip(what, `port ${JSON.stringify(p)} has no valid port number`);
        continue;
      }
      const protocol = p.protocol ?? 'TCP';
      if (!PROTOCOLS.has(protocol)) {
        skip(what, `port protocol ${JSON.stringify(protocol)} is not TCP, UDP or SCTP`);
        continue;
      }
      const portName = typeof p.name === 'string' ? p.name : '';
      const all = [...(eps.get(`${portName}/${protocol}`)?.values() ?? [])];
      // kube-proxy uses ready endpoints; only when none is ready, the serving terminating ones
      const ready = all.filter((e) => e.ready);
      const chosen = ready.length > 0 ? ready : all.filter((e) => e.servingTerminating);
      const nodePort = isPort(p.nodePort) && hasNodePorts ? p.nodePort : 0;
      out.push({
        namespace,
        name,
        portName,
        protocol: protocol as Protocol,
        clusterIP,
        port: p.port,
        nodePort,
        ...(affinitySeconds === undefined ? {} : { affinitySeconds }),
        // the API ignores externalTrafficPolicy on services without external addresses
        ...(externalIPs.length > 0 ? { externalIPs } : {}),
        ...(spec.externalTrafficPolicy === 'Local' && (nodePort > 0 || externalIPs.length > 0) ? { externalLocal: true as const } : {}),
        ...(spec.internalTrafficPolicy === 'Local' ? { internalLocal: true as const } : {}),
        endpoints: chosen.map((e) => ({ ip: e.ip, port: e.port, ...(e.local ? { local: true as const } : {}) })).sort(compareEndpoints),
      });
    }
  }
  // a stable order makes the rendered text (and so "did anything change?") deterministic
  return out.sort((a, b) => servicePortName(a).localeCompare(servicePortName(b)) || a.protocol.localeCompare(b.protocol));
}
