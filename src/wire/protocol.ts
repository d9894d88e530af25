// The frames pw-wire (bpf/tools/pw-wire.c) reads and writes; its header comment is the contract.
// Every field is a length-prefixed byte string: a runtime's interface name or netns path travels
// as its bytes and is never parsed as a command or a line.

export const WireOp = {
  vethAdd: 1,
  podConfig: 2,
  tcxAttach: 3,
  mapUpdate: 4,
  mapDelete: 5,
  linkDel: 6,
  route: 7,
  poolMake: 8,
  poolTake: 9,
  poolPut: 10,
} as const;
export type WireOp = (typeof WireOp)[keyof typeof WireOp];

/** The helper's answer: err is an errno (0 = done), step the failed step, value the op's number. */
export interface WireReply {
  id: number;
  err: number;
  step: number;
  value: number;
  message: string;
}

/** Largest request frame the helper accepts (it refuses and exits on a larger one). */
export const MAX_FRAME = 64 * 1024;

export type Field = string | Buffer | number;

function fieldBytes(f: Field): Buffer {
  if (typeof f === 'string') return Buffer.from(f, 'utf8');
  if (typeof f === 'number') {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(f >>> 0);
    return b;
  }
  return f;
}

export function encodeRequest(id: number, op: WireOp, fields: readonly Field[]): Buffer {
  const parts = fields.map(fieldBytes);
  const len = 12 + parts.reduce((n, p) => n + 4 + p.length, 0);
  if (len > MAX_FRAME) throw new RangeError(`pw-wire request of ${len} bytes exceeds ${MAX_FRAME}`);
  const out = Buffer.alloc(4 + len);
  out.writeUInt32LE(len, 0);
  out.writeUInt32LE(id, 4);
  out.writeUInt32LE(op, 8);
  out.writeUInt32LE(parts.length, 12);
  let pos = 16;
  for (const p of parts) {
    out.writeUInt32LE(p.length, pos);
    p.copy(out, pos + 4);
    pos += 4 + p.length;
  }
  return out;
}

/** Take every complete reply off the front of `buf`; returns them and the unread rest. */
export function decodeReplies(buf: Buffer): { replies: WireReply[]; rest: Buffer } {
  const replies: WireReply[] = [];
  let pos = 0;
  while (buf.length - pos >= 4) {
    const len = buf.readUInt32LE(pos);
    if (len < 16) throw new RangeError(`pw-wire reply frame of ${len} bytes`);
    if (buf.length - pos - 4 < len) break;
    const b = pos + 4;
    replies.push({
      id: buf.readUInt32LE(b),
      err: buf.readUInt32LE(b + 4),
      step: buf.readUInt32LE(b + 8),
      value: buf.readUInt32LE(b + 12),
      message: buf.subarray(b + 16, b + len).toString('utf8'),
    });
    pos = b + len;
  }
  return { replies, rest: buf.subarray(pos) };
}

/** "aa:bb:cc:dd:ee:ff" → 6 bytes. */
export function macBytes(mac: string): Buffer {
  const b = Buffer.from(mac.split(':').map((x) => parseInt(x, 16)));
  if (b.length !== 6 || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new RangeError(`not a MAC address: ${mac}`);
  return b;
}

/** "a.b.c.d" → 4 bytes in network order. */
export function ipv4Bytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new RangeError(`not an IPv4 address: ${ip}`);
  return Buffer.from(parts);
}
