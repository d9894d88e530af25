// Crafting test frames and running the pinned program on them with BPF_PROG_TEST_RUN.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJson } from '../../src/exec/run.js';
import { macBytes, ipv4Bytes } from '../../src/maps/index.js';
import { structs } from '../../src/maps/generated/layouts.js';

export const ETH_HLEN = 14;

/** RFC 1071 checksum over a buffer (even length). */
export function ipChecksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i += 2) sum += buf.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface Ipv4FrameOpts {
  dmac: string;
  smac: string;
  saddr: string;
  daddr: string;
  ttl?: number;
  protocol?: number;
  id?: number;
  payload?: Buffer;
  /** Override the header's total length (to fake a truncated packet). */
  totLen?: number;
  /** Override version/IHL byte. */
  versionIhl?: number;
  /** Flags + fragment offset word (e.g. 0x2000 = MF, 0x4000 = DF). */
  fragWord?: number;
}

/** The first bytes of a TCP/UDP header: ports (the rest zero). */
export function l4Ports(sport: number, dport: number, len = 20): Buffer {
  const b = Buffer.alloc(len);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  return b;
}

/** An ICMP header: type, code, checksum 0, id, sequence (+ padding). */
export function icmpHeader(type: number, code: number, id = 0, seq = 1, len = 16): Buffer {
  const b = Buffer.alloc(len);
  b.writeUInt8(type, 0);
  b.writeUInt8(code, 1);
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  return b;
}

export function ethHeader(dmac: string, smac: string, ethertype: number): Buffer {
  const h = Buffer.alloc(ETH_HLEN);
  macBytes(dmac).copy(h, 0);
  macBytes(smac).copy(h, 6);
  h.writeUInt16BE(ethertype, 12);
  return h;
}

export function ipv4Frame(o: Ipv4FrameOpts): Buffer {
  const payload = o.payload ?? Buffer.from('podwire-test-payload-0123456789');
  const ip = Buffer.alloc(20);
  ip.writeUInt8(o.versionIhl ?? 0x45, 0);
  ip.writeUInt16BE(o.totLen ?? 20 + payload.length, 2);
  ip.writeUInt16BE(o.id ?? 0x1234, 4);
  ip.writeUInt16BE(o.fragWord ?? 0, 6);
  ip.writeUInt8(o.ttl ?? 64, 8);
  ip.writeUInt8(o.protocol ?? 17, 9);
  ipv4Bytes(o.saddr).copy(ip, 12);
  ipv4Bytes(o.daddr).copy(ip, 16);
  ip.writeUInt16BE(ipChecksum(ip), 10);
  return Buffer.concat([ethHeader(o.dmac, o.smac, 0x0800), ip, payload]);
}

export function arpRequest(smac: string, sip: string, tip: string): Buffer {
  const arp = Buffer.alloc(28);
  arp.writeUInt16BE(1, 0); // Ethernet
  arp.writeUInt16BE(0x0800, 2);
  arp.writeUInt8(6, 4);
  arp.writeUInt8(4, 5);
  arp.writeUInt16BE(1, 6); // request
  macBytes(smac).copy(arp, 8);
  ipv4Bytes(sip).copy(arp, 14);
  ipv4Bytes(tip).copy(arp, 24);
  return Buffer.concat([ethHeader('ff:ff:ff:ff:ff:ff', smac, 0x0806), arp]);
}

export interface TestRunResult {
  retval: number;
  /** skb->cb[0..4] after the run: [reason, action, redirect ifindex, ...]. */
  cb: number[];
  /** skb->ifindex as the program saw it. */
  ifindex: number;
  dataOut: Buffer;
}

/**
 * BPF_PROG_TEST_RUN through bpftool, inside `netns` so that ctx.ifindex names a device there
 * (test_run looks the ifindex up in the caller's namespace and fails with ENODEV otherwise).
 */
export async function testRun(
  progPin: string,
  data: Buffer,
  opts: {
    ifindex?: number;
    netns?: string;
    /** skb_iif (what bpf_fib_lookup routes from); default: ifindex */
    ingressIfindex?: number;
    /** skb_shinfo gso_size: non-zero makes the skb a GSO aggregate (skb->gso_size in the program) */
    gsoSize?: number;
    /** run on this CPU only (taskset): per-CPU state seen by consecutive runs */
    cpu?: number;
  } = {},
): Promise<TestRunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'pwtestrun-'));
  try {
    const skb = structs.__sk_buff;
    const ctx = Buffer.alloc(skb.size);
    if (opts.ifindex !== undefined) ctx.writeUInt32LE(opts.ifindex, skb.fields.ifindex.offset);
    const iif = opts.ingressIfindex ?? opts.ifindex;
    if (iif !== undefined) ctx.writeUInt32LE(iif, skb.fields.ingress_ifindex.offset);
    if (opts.gsoSize !== undefined) {
      ctx.writeUInt32LE(opts.gsoSize, skb.fields.gso_size.offset);
      ctx.writeUInt32LE(2, skb.fields.gso_segs.offset);
    }
    const f = (n: string) => join(dir, n);
    await writeFile(f('data_in'), data);
    await writeFile(f('ctx_in'), ctx);
    const args = ['-j', 'prog', 'run', 'pinned', progPin, 'data_in', f('data_in'), 'data_out', f('data_out'), 'ctx_in', f('ctx_in'), 'ctx_out', f('ctx_out'), 'repeat', '1'];
    const r = opts.cpu === undefined
      ? await runJson<{ retval: number }>('bpftool', args, { netns: opts.netns })
      : await runJson<{ retval: number }>('taskset', ['-c', String(opts.cpu), 'bpftool', ...args], { netns: opts.netns });
    const ctxOut = await readFile(f('ctx_out'));
    const cb: number[] = [];
    for (let i = 0; i < (skb.fields.cb.count ?? 5); i++) cb.push(ctxOut.readUInt32LE(skb.fields.cb.offset + 4 * i));
    return { retval: r.retval, cb, ifindex: ctxOut.readUInt32LE(skb.fields.ifindex.offset), dataOut: await readFile(f('data_out')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
