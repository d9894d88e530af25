// Decoding the shared C structs (pw_pkt, pw_verdict, map values) from bytes with the generated
// layouts only, so a field the datapath adds shows up in `trace -o json` without code here.
import { readU32 } from '../maps/codec.js';

type FieldLayout = { readonly offset: number; readonly size: number; readonly count?: number };
export type StructLayout = { readonly size: number; readonly fields: Readonly<Record<string, FieldLayout>> };
export type FieldValue = number | string | number[];

/** Fields holding IPv4 addresses in network byte order (by naming convention in bpf/lib/common.h). */
const ADDRESS = /(^|_)(addr|saddr|daddr|ip|node_ip|nh_addr)$/;

export const formatIpv4Bytes = (b: Uint8Array, o = 0): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

export function formatMacBytes(b: Uint8Array, o = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((b[o + i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}

function scalar(buf: Buffer, offset: number, size: number): number {
  switch (size) {
    case 1:
      return buf.readUInt8(offset);
    case 2:
      return buf.readUInt16LE(offset); // host order on both targets (little-endian)
    case 4:
      return readU32(buf, offset);
    default:
      return Number(buf.readBigUInt64LE(offset));
  }
}

/** Every named field except padding: MACs as strings, addresses dotted, integers as numbers. */
export function decodeStruct(layout: StructLayout, bytes: Uint8Array): Record<string, FieldValue> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, FieldValue> = {};
  for (const [name, f] of Object.entries(layout.fields)) {
    if (name === 'pad' || name.startsWith('pad')) continue;
    if (f.count !== undefined) {
      const elem = f.size / f.count;
      if (elem === 1 && f.count === 6) out[name] = formatMacBytes(buf, f.offset);
      else if (elem === 4 && ADDRESS.test(name)) out[name] = formatIpv4Bytes(buf, f.offset);
      else out[name] = Array.from({ length: f.count }, (_, i) => scalar(buf, f.offset + i * elem, elem));
    } else if (f.size === 4 && ADDRESS.test(name)) {
      out[name] = formatIpv4Bytes(buf, f.offset);
    } else {
      out[name] = scalar(buf, f.offset, f.size);
    }
  }
  return out;
}
