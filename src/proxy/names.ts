// Chain, set and map names exactly as kube-proxy derives them, so that the lab's rules look like
// (and can be compared with) a real node's: iptables uses a 16-character base32 prefix of
// sha256("ns/name:port" + protocol [+ "ip:port"]); nftables prefixes a readable name with an
// 8-character hash of itself.
import { createHash } from 'node:crypto';
import { servicePortName, type Endpoint, type ServicePort } from './model.js';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (standard alphabet, the same as Go's base32.StdEncoding, padding dropped). */
export function base32(buf: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

function hash(text: string): string {
  return base32(createHash('sha256').update(text).digest());
}

const proto = (sp: Pick<ServicePort, 'protocol'>) => sp.protocol.toLowerCase();
const epString = (ep: Endpoint) => `${ep.ip}:${ep.port}`;

/** The 16-character hash kube-proxy's iptables mode puts after KUBE-SVC-/KUBE-EXT-. */
export function portProtoHash(sp: Pick<ServicePort, 'namespace' | 'name' | 'portName' | 'protocol'>): string {
  return hash(servicePortName(sp) + proto(sp)).slice(0, 16);
}

export const iptSvcChain = (sp: ServicePort) => `KUBE-SVC-${portProtoHash(sp)}`;
export const iptSvlChain = (sp: ServicePort) => `KUBE-SVL-${portProtoHash(sp)}`;
export const iptExtChain = (sp: ServicePort) => `KUBE-EXT-${portProtoHash(sp)}`;
export const iptSepChain = (sp: ServicePort, ep: Endpoint) => `KUBE-SEP-${hash(servicePortName(sp) + proto(sp) + epString(ep)).slice(0, 16)}`;

/** The chains of one service or endpoint (those we create and garbage-collect) in iptables mode. */
export function isIptServiceChain(name: string): boolean {
  return /^KUBE-(SVC|SVL|EXT|FW|SEP)-/.test(name);
}

function hashAndTruncate(name: string): string {
  const n = `${hash(name).slice(0, 8)}-${name}`;
  // nftables names are limited to 256 bytes; kube-proxy keeps room for a 16-byte prefix
  return n.length > 240 ? `${n.slice(0, 237)}...` : n;
}

const nftBase = (sp: ServicePort) => `${sp.namespace}/${sp.name}/${proto(sp)}/${sp.portName}`;
const nftSvcBase = (sp: ServicePort) => hashAndTruncate(nftBase(sp));
const nftEpBase = (sp: ServicePort, ep: Endpoint) => hashAndTruncate(`${nftBase(sp)}__${ep.ip}/${ep.port}`);

export const nftSvcChain = (sp: ServicePort) => `service-${nftSvcBase(sp)}`;
export const nftLocalChain = (sp: ServicePort) => `local-${nftSvcBase(sp)}`;
export const nftExtChain = (sp: ServicePort) => `external-${nftSvcBase(sp)}`;
export const nftEpChain = (sp: ServicePort, ep: Endpoint) => `endpoint-${nftEpBase(sp, ep)}`;
export const nftAffinitySet = (sp: ServicePort, ep: Endpoint) => `affinity-${nftEpBase(sp, ep)}`;

/** Per-service chains carry a "/" (ns/name/...); kube-proxy's fixed chains never do. */
export const isNftServiceChain = (name: string) => name.includes('/');
export const isNftAffinitySet = (name: string) => name.startsWith('affinity-');
