// Frames for `podwire trace`: Ethernet + IPv4 (valid checksum) + a minimal L4 header, so the
// twin parses exactly what a pod would send.
import { PodwireError } from '../errors/index.js';
import { ipv4Bytes, macBytes } from '../maps/codec.js';

export type L4Proto = 'tcp' | 'udp' | 'icmp';

export const PROTO_NUMBERS: Record<L4Proto, number> = { icmp: 1, tcp: 6, udp: 17 };

export interface FrameSpec {
  src: string;
  dst: string;
  srcMac: string;
  dstMac: string;
  proto?: L4Proto;
  sport?: number;
  dport?: number;
  ttl?: number;
  tos?: number;
}

/** RFC 1071 one's-complement checksum. */
export function inetChecksum(buf: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += ((buf[i] ?? 0) << 8) | (buf[i + 1] ?? 0);
  if (buf.length % 2) sum += (buf[buf.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function port(name: string, v: number | undefined, dflt: number): number {
  const p = v ?? dflt;
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new PodwireError('USAGE', `--${name} ${p} is not a port: use 0..65535`);
  return p;
}

export function buildFrame(s: FrameSpec): Buffer {
  const proto = s.proto ?? 'tcp';
  const payload = Buffer.from('podwire-trace');
  let l4: Buffer;
  if (proto === 'tcp') {
    l4 = Buffer.alloc(20);
    l4.writeUInt16BE(port('sport', s.sport, 40000), 0);
    l4.writeUInt16BE(port('dport', s.dport, 80), 2);
    l4.writeUInt8(5 << 4, 12); // data offset 5 words
    l4.writeUInt8(0x02, 13); // SYN
    l4.writeUInt16BE(64240, 14);
  } else if (proto === 'udp') {
    l4 = Buffer.alloc(8);
    l4.writeUInt16BE(port('sport', s.sport, 40000), 0);
    l4.writeUInt16BE(port('dport', s.dport, 53), 2);
    l4.writeUInt16BE(8 + payload.length, 4);
  } else {
    l4 = Buffer.alloc(8);
    l4.writeUInt8(8, 0); // echo request
    l4.writeUInt16BE(port('sport', s.sport, 1), 4); // echo id: conntrack's "port" for ICMP
    l4.writeUInt16BE(1, 6);
  }
  const ttl = s.ttl ?? 64;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 255) throw new PodwireError('USAGE', `--ttl ${ttl} is not a TTL: use 0..255`);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt8(s.tos ?? 0, 1);
  ip.writeUInt16BE(20 + l4.length + payload.length, 2);
  ip.writeUInt16BE(0x4000, 6); // DF, like most pod traffic
  ip.writeUInt8(ttl, 8);
  ip.writeUInt8(PROTO_NUMBERS[proto], 9);
  ipv4Bytes(s.src).copy(ip, 12);
  ipv4Bytes(s.dst).copy(ip, 16);
  ip.writeUInt16BE(inetChecksum(ip), 10);
  const eth = Buffer.alloc(14);
  macBytes(s.dstMac).copy(eth, 0);
  macBytes(s.srcMac).copy(eth, 6);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip, l4, payload]);
}
