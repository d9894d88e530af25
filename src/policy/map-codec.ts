// Byte layouts of the pol_* map keys and values, every offset from the generated layouts (BTF).
// Host-order integers in the machine's order; addresses and ports in network order.
import { endianness } from 'node:os';
import { readU32, readU64, writeU32 } from '../maps/codec.js';
import { structs } from '../maps/generated/layouts.js';
import { formatIpv4, parseIpv4 } from './cidr.js';

const LE = endianness() === 'LE';
const SK = structs.pw_pol_set_key;
const SM = structs.pw_pol_member;
const PK = structs.pw_pol_port_key;
const PV = structs.pw_pol_ports;
const LK = structs.pw_pol_slot_key;
const LV = structs.pw_pol_slot;
const EV = structs.pw_pol_endpoint;
const ST = structs.pw_pol_state;
const XK = structs.pw_pol_stat_key;

export function writeU64(buf: Buffer, offset: number, v: bigint): void {
  if (LE) buf.writeBigUInt64LE(v, offset);
  else buf.writeBigUInt64BE(v, offset);
}

export function encodeSetKey(set: number, cidr: string): Buffer {
  const [ip, len] = cidr.split('/');
  const k = Buffer.alloc(SK.size);
  writeU32(k, SK.fields.prefixlen.offset, 32 + Number(len));
  writeU32(k, SK.fields.set.offset, set);
  k.writeUInt32BE(parseIpv4(ip!)!, SK.fields.addr.offset);
  return k;
}

export function decodeSetKey(k: Buffer): { set: number; cidr: string } {
  const len = readU32(k, SK.fields.prefixlen.offset) - 32;
  return { set: readU32(k, SK.fields.set.offset), cidr: `${formatIpv4(k.readUInt32BE(SK.fields.addr.offset))}/${len}` };
}

export function encodeMember(include: boolean): Buffer {
  const v = Buffer.alloc(SM.size);
  writeU32(v, SM.fields.include.offset, include ? 1 : 0);
  return v;
}

export const decodeMember = (v: Buffer): boolean => readU32(v, SM.fields.include.offset) !== 0;

export function encodePortKey(ruleset: number, prefixlen: number, proto: number, port: number): Buffer {
  const k = Buffer.alloc(PK.size);
  writeU32(k, PK.fields.prefixlen.offset, prefixlen);
  writeU32(k, PK.fields.ruleset.offset, ruleset);
  k.writeUInt8(proto, PK.fields.proto.offset);
  k.writeUInt16BE(port, PK.fields.port.offset);
  return k;
}

export function decodePortKey(k: Buffer): { ruleset: number; prefixlen: number; proto: number; port: number } {
  return {
    prefixlen: readU32(k, PK.fields.prefixlen.offset),
    ruleset: readU32(k, PK.fields.ruleset.offset),
    proto: k.readUInt8(PK.fields.proto.offset),
    port: k.readUInt16BE(PK.fields.port.offset),
  };
}

export function encodePorts(slots: bigint): Buffer {
  const v = Buffer.alloc(PV.size);
  writeU64(v, PV.fields.slots.offset, slots);
  return v;
}

export const decodePorts = (v: Buffer): bigint => readU64(v, PV.fields.slots.offset);

export function encodeSlotKey(ruleset: number, slot: number): Buffer {
  const k = Buffer.alloc(LK.size);
  writeU32(k, LK.fields.ruleset.offset, ruleset);
  writeU32(k, LK.fields.slot.offset, slot);
  return k;
}

export const decodeSlotKey = (k: Buffer): { ruleset: number; slot: number } => ({ ruleset: readU32(k, LK.fields.ruleset.offset), slot: readU32(k, LK.fields.slot.offset) });

export interface SlotValue {
  set: number;
  flags: number;
  policy: number;
  rule: number;
}

export function encodeSlot(s: SlotValue): Buffer {
  const v = Buffer.alloc(LV.size);
  writeU32(v, LV.fields.set.offset, s.set);
  writeU32(v, LV.fields.flags.offset, s.flags);
  writeU32(v, LV.fields.policy.offset, s.policy);
  writeU32(v, LV.fields.rule.offset, s.rule);
  return v;
}

export const decodeSlot = (v: Buffer): SlotValue => ({
  set: readU32(v, LV.fields.set.offset),
  flags: readU32(v, LV.fields.flags.offset),
  policy: readU32(v, LV.fields.policy.offset),
  rule: readU32(v, LV.fields.rule.offset),
});

export function encodePolEndpoint(ingress: number, egress: number): Buffer {
  const v = Buffer.alloc(EV.size);
  writeU32(v, EV.fields.ingress.offset, ingress);
  writeU32(v, EV.fields.egress.offset, egress);
  return v;
}

export const decodePolEndpoint = (v: Buffer): { ingress: number; egress: number } => ({ ingress: readU32(v, EV.fields.ingress.offset), egress: readU32(v, EV.fields.egress.offset) });

export function encodeState(revision: number, egressIsolated: number): Buffer {
  const v = Buffer.alloc(ST.size);
  writeU32(v, ST.fields.revision.offset, revision);
  writeU32(v, ST.fields.egress_isolated.offset, egressIsolated);
  return v;
}

export const decodeState = (v: Buffer): { revision: number; egressIsolated: number } => ({
  revision: readU32(v, ST.fields.revision.offset),
  egressIsolated: readU32(v, ST.fields.egress_isolated.offset),
});

export const decodeStatKey = (k: Buffer): { ifindex: number; ruleset: number; dir: number; slot: number } => ({
  ifindex: readU32(k, XK.fields.ifindex.offset),
  ruleset: readU32(k, XK.fields.ruleset.offset),
  dir: k.readUInt8(XK.fields.dir.offset),
  slot: k.readUInt8(XK.fields.slot.offset),
});
