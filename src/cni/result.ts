// CNI results: one internal shape (the 1.x one), read from any supported version's prevResult
// and written in the shape of the version the runtime asked for.
import { PodwireError } from '../errors/index.js';
import { versionAtLeast } from './version.js';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  interfaces: CniInterface[];
  ips: CniIp[];
  routes: CniRoute[];
  dns: CniDns;
}

function arr(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new PodwireError('CONFIG_INVALID', `prevResult.${what} must be an array`);
  return v;
}

/** Read a prevResult of any supported version (0.3.x/0.4.0 ips carry "version"; 1.x do not). */
export function readResult(raw: unknown): CniResult {
  if (raw === null || typeof raw !== 'object') throw new PodwireError('CONFIG_INVALID', 'prevResult must be a JSON object');
  const r = raw as Record<string, unknown>;
  const interfaces = arr(r['interfaces'], 'interfaces').map((x) => {
    const o = x as Record<string, unknown>;
    if (typeof o?.['name'] !== 'string') throw new PodwireError('CONFIG_INVALID', 'prevResult.interfaces[] entries need a "name"');
    return { ...o } as unknown as CniInterface;
  });
  const ips = arr(r['ips'], 'ips').map((x) => {
    const o = { ...(x as Record<string, unknown>) };
    if (typeof o['address'] !== 'string') throw new PodwireError('CONFIG_INVALID', 'prevResult.ips[] entries need an "address"');
    delete o['version'];
    return o as unknown as CniIp;
  });
  const routes = arr(r['routes'], 'routes').map((x) => ({ ...(x as Record<string, unknown>) }) as unknown as CniRoute);
  const dns = (r['dns'] && typeof r['dns'] === 'object' ? { ...(r['dns'] as object) } : {}) as CniDns;
  return { interfaces, ips, routes, dns };
}

/** Append our attachment to a previous result, re-basing our ips' interface indexes. */
export function mergeResults(prev: CniResult, ours: CniResult): CniResult {
  const base = prev.interfaces.length;
  return {
    interfaces: [...prev.interfaces, ...ours.interfaces],
    ips: [...prev.ips, ...ours.ips.map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + base }))],
    routes: [...prev.routes, ...ours.routes],
    dns: { ...prev.dns, ...ours.dns },
  };
}

/** The JSON object a runtime of `cniVersion` expects on stdout. */
export function shapeResult(r: CniResult, cniVersion: string): Record<string, unknown> {
  const v11 = versionAtLeast(cniVersion, '1.1.0');
  const v1 = versionAtLeast(cniVersion, '1.0.0');
  // mtu/socketPath/pciID on interfaces and the extra route attributes are 1.1.0 additions.
  const interfaces = r.interfaces.map(({ mtu, socketPath, pciID, ...rest }) =>
    v11 ? { ...rest, ...(mtu === undefined ? {} : { mtu }), ...(socketPath ? { socketPath } : {}), ...(pciID ? { pciID } : {}) } : rest,
  );
  const ips = r.ips.map((ip) => (v1 ? { ...ip } : { version: ip.address.includes(':') ? '6' : '4', ...ip }));
  const routes = r.routes.map(({ dst, gw, ...extra }) => ({ dst, ...(gw === undefined ? {} : { gw }), ...(v11 ? extra : {}) }));
  return { cniVersion, interfaces, ips, routes, dns: r.dns };
}
