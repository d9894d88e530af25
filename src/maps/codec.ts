// Binary codecs for map keys and values. Every offset and size comes from the generated
// layouts (BTF of the compiled datapath), never from hand-written numbers.
import { endianness } from 'node:os';
import { PodwireError } from '../errors/index.js';
import { enums, structs } from './generated/layouts.js';

/** One pod interface on this node, as the datapath sees it. */
export interface Endpoint {
  /** Pod IPv4 address, dotted quad. */
  ip: string;
  /** ifindex of the host-side veth. */
  ifindex: number;
  /** MAC of the pod's interface, "aa:bb:cc:dd:ee:ff". */
  podMac: string;
  /** MAC of the host-side veth. */
  hostMac: string;
  flags: number;
  endpointId: number;
}

// Host-order integer fields (ifindex, flags, ids) are written in the machine's byte order,
// like the kernel reads them; addresses and MACs are byte strings.
const LE = endianness() === 'LE';

export function writeU32(buf: Buffer, offset: number, v: number): void {
  if (LE) buf.writeUInt32LE(v >>> 0, offset);
  else buf.writeUInt32BE(v >>> 0, offset);
}

export function readU32(buf: Buffer, offset: number): number {
  return LE ? buf.readUInt32LE(offset) : buf.readUInt32BE(offset);
}

export function readU64(buf: Buffer, offset: number): bigint {
  return LE ? buf.readBigUInt64LE(offset) : buf.readBigUInt64BE(offset);
}

export function ipv4Bytes(ip: string): Buffer {
  const parts = ip.split('.');
  const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  if (bytes.length !== 4 || bytes.some((b) => !(b >= 0 && b <= 255))) {
    throw new PodwireError('CONFIG_INVALID', `invalid IPv4 address ${JSON.stringify(ip)}`);
  }
  return Buffer.from(bytes);
}

export function macBytes(mac: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) {
    throw new PodwireError('CONFIG_INVALID', `invalid MAC address ${JSON.stringify(mac)}: want aa:bb:cc:dd:ee:ff`);
  }
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}

export function formatMac(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

const K = structs.pw_endpoint_key;
const V = structs.pw_endpoint;
const AF_INET = enums.pw_family.values.INET;

export function encodeEndpointKey(ip: string): Buffer {
  const key = Buffer.alloc(K.size); // zeroed: unused address words and padding are part of the hash key
  ipv4Bytes(ip).copy(key, K.fields.addr.offset);
  key.writeUInt8(AF_INET, K.fields.family.offset);
  return key;
}

export function decodeEndpointKey(key: Buffer): string {
  const family = key.readUInt8(K.fields.family.offset);
  if (family !== AF_INET) throw new PodwireError('MAP_LAYOUT_MISMATCH', `endpoint key has unsupported address family ${family}`);
  const o = K.fields.addr.offset;
  return [...key.subarray(o, o + 4)].join('.');
}

export function encodeEndpoint(ep: Endpoint): Buffer {
  const v = Buffer.alloc(V.size);
  writeU32(v, V.fields.ifindex.offset, ep.ifindex);
  macBytes(ep.podMac).copy(v, V.fields.pod_mac.offset);
  macBytes(ep.hostMac).copy(v, V.fields.host_mac.offset);
  writeU32(v, V.fields.flags.offset, ep.flags);
  writeU32(v, V.fields.endpoint_id.offset, ep.endpointId);
  return v;
}

export function decodeEndpoint(ip: string, v: Buffer): Endpoint {
  const mac = (f: { offset: number; size: number }) => formatMac(v.subarray(f.offset, f.offset + f.size));
  return {
    ip,
    ifindex: readU32(v, V.fields.ifindex.offset),
    podMac: mac(V.fields.pod_mac),
    hostMac: mac(V.fields.host_mac),
    flags: readU32(v, V.fields.flags.offset),
    endpointId: readU32(v, V.fields.endpoint_id.offset),
  };
}

/** Names of an enum indexed by value (the *_MAX sentinel excluded). */
export function enumNames(e: { values: Record<string, number> }): string[] {
  const names: string[] = [];
  for (const [name, value] of Object.entries(e.values)) if (name !== 'MAX') names[value] = name;
  return names;
}
