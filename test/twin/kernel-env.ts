// The kernel side of the differential test: a namespace whose devices give test_run real
// ifindexes and whose routes give bpf_fib_lookup() every answer the datapath handles (on-link,
// via a gateway, unreachable, blackhole, prohibit, no route, local), the same FIB written down as
// a model for the twin, and a runner that pushes hundreds of BPF_PROG_TEST_RUN cases through one
// `bpftool batch` exec.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runJson } from '../../src/exec/run.js';
import { structs } from '../../src/maps/generated/layouts.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { FIB_RC, type Fib, type FibAnswer } from '../../src/twin/index.js';

export interface Device {
  name: string;
  ifindex: number;
  forwarding: boolean;
}

export interface KernelEnv {
  ns: Netns;
  devices: Device[];
  /** Devices pods' host veths could be (programs from_pod). */
  podVeths: Device[];
  uplink: Device;
  vxlan: Device;
  /** Node IPs the routes map may name, chosen to cover every FIB outcome. */
  nodeIps: string[];
  /** The namespace's FIB as bpf_fib_lookup() answers it. */
  fib: Fib;
}

const UPLINK_NET = '192.168.77';
const ENODEV = -19;

export async function createKernelEnv(): Promise<KernelEnv> {
  const ns = await createNetns('pwdiff');
  try {
    await ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']); // first: writing it resets every device
    await ns.exec('ip', ['-batch', '-'], {
      input: [
        'link add hA type veth peer name pA',
        'link add hB type veth peer name pB',
        'link add hC type veth peer name pC',
        'link add hD type veth peer name pD',
        'link add up0 type veth peer name up1',
        'link add pwvxlan0 type vxlan external dstport 8472',
        ...['hA', 'pA', 'hB', 'pB', 'hC', 'pC', 'hD', 'pD', 'up0', 'up1', 'pwvxlan0'].map((d) => `link set ${d} up`),
        `addr add ${UPLINK_NET}.1/24 dev up0`,
        `route add 10.99.0.0/16 via ${UPLINK_NET}.254 dev up0`,
        'route add unreachable 10.98.0.0/16',
        'route add blackhole 10.97.0.0/16',
        'route add prohibit 10.96.0.0/16',
        '',
      ].join('\n'),
    });
    // a pod veth and a peer with forwarding off: FWD_DISABLED
    await ns.exec('sysctl', ['-qw', 'net.ipv4.conf.hD.forwarding=0', 'net.ipv4.conf.pC.forwarding=0']);
    const links = JSON.parse((await ns.exec('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifindex: number; ifname: string }>;
    const devices: Device[] = [];
    for (const l of links) {
      const fw = (await ns.exec('sysctl', ['-n', `net.ipv4.conf.${l.ifname}.forwarding`])).stdout.trim() === '1';
      devices.push({ name: l.ifname, ifindex: l.ifindex, forwarding: fw });
    }
    const dev = (n: string) => devices.find((d) => d.name === n)!;
    const byIndex = new Map(devices.map((d) => [d.ifindex, d]));
    const up0 = dev('up0');

    // The routes above, as bpf_ipv4_fib_lookup() maps them: a missing ingress device is -ENODEV,
    // forwarding off on it FWD_DISABLED, fib_lookup errors EINVAL/EHOSTUNREACH/EACCES become
    // BLACKHOLE/UNREACHABLE/PROHIBIT, no route and non-unicast (local) NOT_FWDED; a unicast route
    // names its device and its gateway (or the destination itself, on-link). NO_NEIGH and
    // SUCCESS give the same verdict, so SUCCESS stands for both.
    const fib: Fib = (q) => {
      const ingress = byIndex.get(q.ingressIfindex);
      const fail = (rc: number): FibAnswer => ({ rc, ifindex: 0, nexthop: '0.0.0.0' });
      if (!ingress) return fail(ENODEV);
      if (!ingress.forwarding) return fail(FIB_RC.FWD_DISABLED);
      const [a, b] = q.dst.split('.').map(Number) as [number, number];
      if (a === 127 || q.dst === `${UPLINK_NET}.1`) return fail(FIB_RC.NOT_FWDED);
      if (q.dst.startsWith(`${UPLINK_NET}.`)) return { rc: FIB_RC.SUCCESS, ifindex: up0.ifindex, nexthop: q.dst };
      if (a === 10 && b === 99) return { rc: FIB_RC.SUCCESS, ifindex: up0.ifindex, nexthop: `${UPLINK_NET}.254` };
      if (a === 10 && b === 98) return fail(FIB_RC.UNREACHABLE);
      if (a === 10 && b === 97) return fail(FIB_RC.BLACKHOLE);
      if (a === 10 && b === 96) return fail(FIB_RC.PROHIBIT);
      return fail(FIB_RC.NOT_FWDED);
    };
    return {
      ns,
      devices,
      podVeths: ['hA', 'hB', 'hC', 'hD'].map(dev),
      uplink: up0,
      vxlan: dev('pwvxlan0'),
      nodeIps: [`${UPLINK_NET}.2`, `${UPLINK_NET}.3`, `${UPLINK_NET}.1`, '10.99.1.1', '10.99.200.7', '10.98.0.1', '10.97.0.1', '10.96.0.1', '172.31.5.5', '127.0.0.1'],
      fib,
    };
  } catch (e) {
    await ns.remove();
    throw e;
  }
}

export interface KernelCase {
  progPin: string;
  frame: Buffer;
  ifindex: number;
  ingressIfindex: number;
  /** skb_shinfo(skb)->gso_size: non-zero makes test_run's skb a GSO aggregate (BIG TCP cases). */
  gsoSize?: number;
}

export interface KernelResult {
  retval: number;
  /** skb->cb[0..4]: reason, action, ifindex, next hop / tunnel endpoint, tunnel id. */
  cb: number[];
  dataOut: Buffer;
}

/** Runs every case once through BPF_PROG_TEST_RUN, in one `bpftool -j batch file` per call. */
export async function runKernelBatch(env: KernelEnv, dir: string, tag: string, cases: KernelCase[]): Promise<KernelResult[]> {
  const skb = structs.__sk_buff;
  const ctxFiles = new Map<string, string>();
  const lines: string[] = [];
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i]!;
    const ctxKey = `${c.ifindex}-${c.ingressIfindex}-${c.gsoSize ?? 0}`;
    let ctxFile = ctxFiles.get(ctxKey);
    if (!ctxFile) {
      const ctx = Buffer.alloc(skb.size);
      ctx.writeUInt32LE(c.ifindex, skb.fields.ifindex.offset);
      ctx.writeUInt32LE(c.ingressIfindex, skb.fields.ingress_ifindex.offset);
      if (c.gsoSize) ctx.writeUInt32LE(c.gsoSize, skb.fields.gso_size.offset);
      ctxFile = join(dir, `ctx-${ctxKey}`);
      await writeFile(ctxFile, ctx);
      ctxFiles.set(ctxKey, ctxFile);
    }
    const dataFile = join(dir, `${tag}-${i}`);
    await writeFile(dataFile, c.frame);
    lines.push(`prog run pinned ${c.progPin} data_in ${dataFile} ctx_in ${ctxFile} data_out - ctx_out - repeat 1`);
  }
  const batch = join(dir, `${tag}.batch`);
  await writeFile(batch, `${lines.join('\n')}\n`);
  type Out = { output: { retval?: number; ctx_out?: number[]; data_out?: number[]; error?: string } };
  const outs = await runJson<Out[]>('bpftool', ['-j', 'batch', 'file', batch], { netns: env.ns.path, reject: false, timeoutMs: 120_000 });
  return cases.map((c, i) => {
    const o = outs[i]?.output;
    if (!o || o.error !== undefined || o.retval === undefined) {
      throw new Error(`test_run refused case ${i} (${c.frame.length}-byte frame ${c.frame.subarray(0, 40).toString('hex')}): ${o?.error ?? 'no output (the batch stopped earlier)'}`);
    }
    const ctx = Buffer.from(o.ctx_out!);
    const cb = Array.from({ length: 5 }, (_, k) => ctx.readUInt32LE(skb.fields.cb.offset + 4 * k));
    return { retval: o.retval, cb, dataOut: Buffer.from(o.data_out!) };
  });
}

/**
 * Frames BPF_PROG_TEST_RUN rejects with EINVAL before the program runs (measured on this
 * kernel): 14 bytes or less, and an IPv4/IPv6 ethertype with a truncated base header.
 */
export function kernelAccepts(frame: Buffer): boolean {
  if (frame.length <= 14) return false;
  const ethertype = frame.readUInt16BE(12);
  if (ethertype === 0x0800 && frame.length < 14 + 20) return false;
  if (ethertype === 0x86dd && frame.length < 14 + 40) return false;
  return true;
}
