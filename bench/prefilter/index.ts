// The prefilter benchmark (issue 13 item 6): a 64-byte UDP flood from a listed source into a
// node's veth uplink, dropped three ways on the same uplink in one run, repetitions interleaved:
//   prefilter-xdp       podwire's xdp_prefilter as the agent attaches it (auto: native XDP on a veth)
//   prefilter-xdp-generic  the same program in generic (skb) XDP mode, for comparison
//   prefilter-tc        the same decision and maps at tc ingress (bench/prefilter/tc_prefilter.c)
//   prefilter-iptables  `iptables -t raw -A PREROUTING -s CIDR -j DROP` (the earliest netfilter hook)
// drop_pps = packets the filter dropped (its own counter) / flood duration. The flooder
// (sockperf throughput, -m 64, bound to the listed source) runs on CPU 0; on a veth pair the
// receiving side runs in the sender's softirq on that same CPU, so the figure is the whole path's
// cost per dropped packet: the cheaper the drop, the more packets the core pushes.
// The TCP cost of an attached prefilter on unlisted traffic is a forwarding row
// (podwire-native-prefilter, bench/forwarding/cross-node.ts).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bpfSourceDir, packageRoot } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { loadDatapath, unloadDatapath, xdpAttach, xdpDetach, tcxAttach, tcxDetach } from '../../src/loader/index.js';
import { openCounters, openPrefilter } from '../../src/maps/index.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { registerCleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { Collector, MetricInfo } from '../results.js';

export const PREFILTER_TOPOLOGIES = ['prefilter-xdp', 'prefilter-xdp-generic', 'prefilter-tc', 'prefilter-iptables'] as const;
type Filter = (typeof PREFILTER_TOPOLOGIES)[number];

export const PREFILTER_METRICS: Record<string, MetricInfo> = {
  drop_pps: {
    unit: 'pps',
    better: 'higher',
    describe: '64-byte UDP datagrams from a listed source dropped per second on a veth uplink (sockperf tp flood on CPU 0; receive path in the same softirq)',
  },
};

const NODE_IP = '172.31.250.1';
const LISTED_SRC = '172.31.250.66';
const LISTED_CIDR = '172.31.250.64/26';
const FLOOD_PORT = 11111;

export interface PrefilterBenchOptions {
  reps: number;
  seconds: number;
}

function dropCounter(pinDir: string): bigint {
  const c = openCounters(pinDir);
  try {
    return c.read().find((r) => r.reason === 'DROP_PREFILTER' && r.direction === 'INGRESS')?.packets ?? 0n;
  } finally {
    c.close();
  }
}

async function iptablesDrops(node: Netns): Promise<bigint> {
  const out = (await node.exec('iptables', ['-t', 'raw', '-L', 'PREROUTING', '-v', '-x', '-n'])).stdout;
  const line = out.split('\n').find((l) => l.includes('DROP') && l.includes(LISTED_CIDR));
  return BigInt(line?.trim().split(/\s+/)[0] ?? '0');
}

export async function runPrefilterBench(o: PrefilterBenchOptions, col: Collector, progress: Progress): Promise<void> {
  for (const [k, v] of Object.entries(PREFILTER_METRICS)) col.metricInfo.set(k, v);
  for (const t of PREFILTER_TOPOLOGIES) col.limits.set(t, 'prefilter-iptables');
  const tag = randomBytes(3).toString('hex');
  const pinDir = `/sys/fs/bpf/pwbpf-${tag}`;
  const tcProg = join(pinDir, 'bench', 'tc_prefilter');
  const tcLink = join(pinDir, 'bench', 'tc-link');
  let node: Netns | undefined;
  let sender: Netns | undefined;
  let work: string | undefined;
  const teardown = async () => {
    await tcxDetach(tcLink).catch(() => {});
    await unloadDatapath({ pinDir, ...(node ? { netns: node.path } : {}) }).catch(() => {});
    await rm(pinDir, { recursive: true, force: true }).catch(() => {});
    await node?.remove();
    await sender?.remove();
    if (work) await rm(work, { recursive: true, force: true });
  };
  const unregister = registerCleanup(teardown);
  try {
    node = await createNetns('pwbpfn');
    sender = await createNetns('pwbpfs');
    await node.exec('ip', ['-batch', '-'], {
      input: [`link add up0 type veth peer name pf${tag}`, `link set pf${tag} netns ${sender.name}`, `addr add ${NODE_IP}/24 dev up0`, 'link set up0 up', ''].join('\n'),
    });
    await sender.exec('ip', ['-batch', '-'], { input: [`link set pf${tag} name up1`, `addr add ${LISTED_SRC}/24 dev up1`, 'link set up1 up', ''].join('\n') });
    await loadDatapath({ pinDir });
    const m = openPrefilter(pinDir);
    m.add(LISTED_CIDR);
    m.close();
    // the tc row's program: the same decision, the same pinned maps
    work = await mkdtemp(join(tmpdir(), 'pwbpf-'));
    const obj = join(work, 'tc_prefilter.o');
    await run('clang-16', ['-O2', '-g', '-Wall', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-I', bpfSourceDir(), '-c', join(packageRoot(), 'bench', 'prefilter', 'tc_prefilter.c'), '-o', obj]);
    await run('mkdir', ['-p', join(pinDir, 'bench')]);
    const reuse = ['endpoints', 'routes', 'node_cfg', 'counters', 'ct', 'prefilter', 'prefilter_safe'].flatMap((n) => ['map', 'name', n, 'pinned', join(pinDir, 'maps', n)]);
    await run('bpftool', ['prog', 'load', obj, tcProg, 'type', 'classifier', ...reuse]);
    // neighbours resolved once, before any filter drops ARP-triggering traffic
    await sender.exec('ping', ['-c', '1', '-W', '2', NODE_IP], { reject: false });

    const install: Record<Filter, () => Promise<string>> = {
      'prefilter-xdp': async () => (await xdpAttach('up0', pinDir, 'auto', { netns: node!.path })).mode ?? '?',
      'prefilter-xdp-generic': async () => (await xdpAttach('up0', pinDir, 'generic', { netns: node!.path })).mode ?? '?',
      'prefilter-tc': async () => {
        await tcxAttach({ prog: tcProg, dev: 'up0', dir: 'ingress', pin: tcLink, netns: node!.path });
        return 'tcx ingress';
      },
      'prefilter-iptables': async () => {
        await node!.exec('iptables', ['-t', 'raw', '-A', 'PREROUTING', '-i', 'up0', '-s', LISTED_CIDR, '-j', 'DROP']);
        return 'raw PREROUTING';
      },
    };
    const remove: Record<Filter, () => Promise<unknown>> = {
      'prefilter-xdp': () => xdpDetach('up0', { netns: node!.path }),
      'prefilter-xdp-generic': () => xdpDetach('up0', { netns: node!.path }),
      'prefilter-tc': () => tcxDetach(tcLink),
      'prefilter-iptables': () => node!.exec('iptables', ['-t', 'raw', '-F', 'PREROUTING']),
    };
    const counter: Record<Filter, () => Promise<bigint>> = {
      'prefilter-xdp': async () => dropCounter(pinDir),
      'prefilter-xdp-generic': async () => dropCounter(pinDir),
      'prefilter-tc': async () => dropCounter(pinDir),
      'prefilter-iptables': () => iptablesDrops(node!),
    };
    progress.total += o.reps * PREFILTER_TOPOLOGIES.length;
    for (let rep = 0; rep < o.reps; rep++) {
      const order = PREFILTER_TOPOLOGIES.map((_, i) => PREFILTER_TOPOLOGIES[(i + rep) % PREFILTER_TOPOLOGIES.length]!);
      for (const f of order) {
        try {
          const how = await install[f]();
          const before = await counter[f]();
          const t0 = performance.now();
          const r = await sender.exec('taskset', ['-c', '0', 'sockperf', 'tp', '-i', NODE_IP, '-p', String(FLOOD_PORT), '-m', '64', '-t', String(o.seconds), '--client_ip', LISTED_SRC], {
            timeoutMs: (o.seconds + 30) * 1000,
          });
          const secs = (performance.now() - t0) / 1000;
          const dropped = Number((await counter[f]()) - before);
          await remove[f]();
          const sent = Number(/Total of (\d+) messages sent/.exec(r.stdout + r.stderr)?.[1] ?? NaN);
          const sockperfSecs = Number(/sent in ([0-9.]+) sec/.exec(r.stdout + r.stderr)?.[1] ?? NaN);
          const duration = Number.isFinite(sockperfSecs) && sockperfSecs > 0 ? sockperfSecs : secs;
          const pps = dropped / duration;
          col.add({ section: 'prefilter', topology: f, metric: 'drop_pps', unit: 'pps', value: pps, rep, extra: { sent, dropped, seconds: duration, hook: how } });
          progress.step(`rep ${rep + 1}/${o.reps} ${f.padEnd(18)} ${Math.round(pps).toLocaleString('en')} pps dropped (${how}; sent ${sent.toLocaleString('en')}, dropped ${dropped.toLocaleString('en')})`);
        } catch (e) {
          await remove[f]().catch(() => {});
          progress.step(`rep ${rep + 1}/${o.reps} ${f.padEnd(18)} FAILED`);
          progress.warn(`${f}: ${(e as Error).message}`);
          col.error({ section: 'prefilter', topology: f, stage: 'flood', message: (e as Error).message });
        }
      }
    }
  } catch (e) {
    progress.warn(`prefilter: setup failed: ${(e as Error).message}`);
    col.error({ section: 'prefilter', topology: 'prefilter-xdp', stage: 'setup', message: (e as Error).message });
  } finally {
    unregister();
    await teardown();
  }
}



