// Frames for BPF_PROG_TEST_RUN: an Ethernet + IPv4 + UDP frame with a valid header checksum.
import { ipv4Bytes, macBytes } from '../../src/maps/index.js';

function ipChecksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function udpFrame(o: { dmac: string; smac: string; saddr: string; daddr: string; ttl: number; payload?: number; sport?: number; dport?: number }): Buffer {
  const payload = Buffer.alloc(o.payload ?? 64, 0x61);
  const eth = Buffer.alloc(14);
  macBytes(o.dmac).copy(eth, 0);
  macBytes(o.smac).copy(eth, 6);
  eth.writeUInt16BE(0x0800, 12);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip.writeUInt8(o.ttl, 8);
  ip.writeUInt8(17, 9);
  ipv4Bytes(o.saddr).copy(ip, 12);
  ipv4Bytes(o.daddr).copy(ip, 16);
  ip.writeUInt16BE(ipChecksum(ip), 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(o.sport ?? 40000, 0);
  udp.writeUInt16BE(o.dport ?? 5201, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([eth, ip, udp, payload]);
}
