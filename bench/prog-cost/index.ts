// Per-packet program cost with BPF_PROG_TEST_RUN: podwire's programs on the hit (same-node
// redirect), miss (to the stack), cross-node (native FIB + redirect_neigh, and VXLAN tunnel
// key) and drop (spoofed source) paths, and the receive side (from_uplink hit), next to an empty
// tc program as the floor. Everything runs in a namespace and pin directory made here.
//
// test_run reuses ONE skb for all `repeat` runs, so a forwarding path sees its own writes again:
// TTL drops by one per run and the rewritten source MAC must still pass anti-spoofing. Hence
// every path runs with TTL 255 and repeat 250 (a forward stays a forward for all 250 runs; the
// verdict is checked after each batch), the destination endpoint's host MAC equals the source
// pod's MAC (so the rewritten frame is again a valid frame from that pod), and every path —
// the floor included — uses the same repeat so test_run's fixed overhead is identical.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { bpfSourceDir, monitorHelper, packageRoot } from '../../src/assets/index.js';
import { monitorTypeBit, readMonitorConfig, readMonitorStats } from '../../src/maps/monitor.js';
import { run, runJson } from '../../src/exec/run.js';
import { loadDatapath, pinPaths, unloadDatapath } from '../../src/loader/index.js';
import { monotonicNs, openConntrack, openEndpoints, openNodeConfig, openRoutes } from '../../src/maps/index.js';
import { enums, structs } from '../../src/maps/generated/layouts.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';
import { registerCleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';
import { POLICY_DENIED_PORT, writeProgCostPolicy } from './policy.js';
import { udpFrame } from './packets.js';

const REPEAT = 250;
const R = enums.pw_reason.values;

interface PathCase {
  name: string;
  prog: string;
  frame: Buffer;
  ifindex: number;
  ingressIfindex?: number;
  expect: number;
  /** node_cfg mode to set before this case. */
  mode?: 'native' | 'vxlan';
  /** Open the monitor gate for this case: a real pw-monitor draining the ring buffer to /dev/null. */
  monitor?: { types: number; sample: number; rate: number };
}

/** Runs pw-monitor (the `podwire monitor` reader) with its output to /dev/null until stop(). */
async function openGate(pinDir: string, m: NonNullable<PathCase['monitor']>): Promise<{ stop(): Promise<void> }> {
  const out = openSync('/dev/null', 'w');
  const child = spawn(monitorHelper(), ['--pin-dir', pinDir, '--types', String(m.types), '--sample', String(m.sample), '--rate', String(m.rate)], { stdio: ['pipe', out, 'inherit'] });
  closeSync(out);
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  const deadline = Date.now() + 10_000;
  while (readMonitorConfig(pinDir).leaseNs === 0n) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('prog-cost: pw-monitor did not open the monitor gate');
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    async stop() {
      child.stdin!.end();
      await exited;
    },
  };
}

async function ifindexOf(ns: Netns, dev: string): Promise<number> {
  const r = await ns.exec('ip', ['-j', 'link', 'show', 'dev', dev]);
  return (JSON.parse(r.stdout) as Array<{ ifindex: number }>)[0]!.ifindex;
}

const POD_A_MAC = '02:aa:00:00:00:02';
const HOST_A_MAC = '02:ee:00:00:00:01';

export async function runProgCost(o: { quick: boolean; bpfDir?: string; baselineBpfDir?: string }, col: Collector, progress: Progress): Promise<void> {
  col.metricInfo.set('ns_added', { unit: 'ns/pkt', better: 'lower', noRatio: true, describe: `this datapath minus --baseline-bpf-dir on the same frame, batches alternating in one bpftool batch (repeat ${REPEAT}, median of the paired differences)` });
  col.metricInfo.set('pct_of_hit', { unit: '%', better: 'lower', noRatio: true, describe: `policy row in % of its no-policy row, batches alternating in one bpftool batch (repeat ${REPEAT}, median of the per-pair ratios; the issue-10 goal is ≤ 115)` });
  col.metricInfo.set('ns_per_pkt', { unit: 'ns/pkt', better: 'lower', describe: `BPF_PROG_TEST_RUN duration per run (repeat ${REPEAT}, median over batches)` });
  const batches = o.quick ? 40 : 400;
  const ns = await createNetns('pwbc');
  const pinDir = `/sys/fs/bpf/${uniqueName('pwbc-')}`;
  const basePinDir = `/sys/fs/bpf/${uniqueName('pwbc-base-')}`;
  // the same datapath with the per-CPU FLOW copy never answering (lib/lookups.h PW_CT_CACHE_NS)
  const uncachedPinDir = `/sys/fs/bpf/${uniqueName('pwbc-nocache-')}`;
  const floorPin = `/sys/fs/bpf/${uniqueName('pwbc-empty-')}`;
  const work = await mkdtemp(join(tmpdir(), 'pwbc-'));
  const cleanup = async () => {
    await unloadDatapath({ pinDir, netns: ns.path }).catch(() => {});
    await unloadDatapath({ pinDir: basePinDir, netns: ns.path }).catch(() => {});
    await unloadDatapath({ pinDir: uncachedPinDir, netns: ns.path }).catch(() => {});
    await rm(floorPin, { force: true });
    await rm(work, { recursive: true, force: true });
    await ns.remove();
  };
  const unregister = registerCleanup(cleanup);
  try {
    // devices: two host veths (source and destination endpoints) and an uplink with a route
    // to the remote node, so the FIB lookup of the native path succeeds
    const [h1, h2, up] = [uniqueName('pwbch'), uniqueName('pwbch'), uniqueName('pwbcu')];
    await ns.exec('ip', ['-batch', '-'], {
      input:
        `link add ${h1} type veth peer name ${h1}p\nlink add ${h2} type veth peer name ${h2}p\nlink add ${up} address ${POD_A_MAC} type veth peer name ${up}p\n` +
        `link set ${h1} up\nlink set ${h1}p up\nlink set ${h2} up\nlink set ${h2}p up\nlink set ${up} up\nlink set ${up}p up\n` +
        // uplink MAC = pod A's, next hop's MAC = A's host veth: the frame native mode rewrites with
        // a cached next hop (lib/forward.h) is again a valid frame from A for the next repeat
        `addr add 172.29.0.11/24 dev ${up}\nneigh replace 172.29.0.12 lladdr ${HOST_A_MAC} dev ${up} nud permanent\n`,
    });
    await ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await ns.exec('sysctl', ['-qw', `net.ipv4.conf.${h1}.forwarding=1`]);
    const [i1, i2, iu] = [await ifindexOf(ns, h1), await ifindexOf(ns, h2), await ifindexOf(ns, up)];

    const podA = { ip: '10.90.1.2', mac: POD_A_MAC };
    const podB = { ip: '10.90.1.3', mac: '02:bb:00:00:00:03' };
    const fill = (dir: string) => {
      const eps = openEndpoints(dir);
      const routes = openRoutes(dir);
      const cfg = openNodeConfig(dir);
      try {
        eps.setBatch([
          { ip: podA.ip, ifindex: i1, podMac: podA.mac, hostMac: '02:ee:00:00:00:01', flags: 0, endpointId: 1 },
          // host MAC = pod A's MAC: the frame rewritten for B is again a valid frame from A
          { ip: podB.ip, ifindex: i2, podMac: podB.mac, hostMac: podA.mac, flags: 0, endpointId: 2 },
        ]);
        routes.setBatch([
          { cidr: '10.90.1.0/24', nodeIp: '172.29.0.11', kind: 'local' },
          { cidr: '10.90.2.0/24', nodeIp: '172.29.0.12', kind: 'remote' },
        ]);
        cfg.set({ mode: 'native', nodeIp: '172.29.0.11', uplinkIfindex: iu, vxlanIfindex: 0, vni: 0 });
      } finally {
        eps.close();
        routes.close();
        cfg.close();
      }
    };
    progress.info(`loading the datapath${o.bpfDir ? ` from ${o.bpfDir}` : ''} into ${pinDir} (namespace ${ns.name})`);
    await loadDatapath({ pinDir, netns: ns.path, ...(o.bpfDir ? { bpfDir: o.bpfDir } : {}) });
    fill(pinDir);
    // a Service reply: A:40000 -> B:5202, where B:5202 initiated a flow through the node's stack
    const ct = openConntrack(pinDir);
    try {
      const now = monotonicNs();
      ct.set({ kind: 'stack', addr: podB.ip, port: 5202, proto: 17, peer: '0.0.0.0', peerPort: 0, lastSeenNs: now, createdNs: now, origin: 'from_pod', ifindex: i2, flags: 0 });
    } finally {
      ct.close();
    }
    // NetworkPolicy: pod C (same veth as B) is isolated for ingress; A and a remote pod have
    // established flows to it (bench/prog-cost/policy.ts)
    const podC = { ip: '10.90.1.4' };
    const policy = (dir: string) => {
      const eps = openEndpoints(dir);
      try {
        eps.set({ ip: podC.ip, ifindex: i2, podMac: podB.mac, hostMac: podA.mac, flags: enums.pw_endpoint_flags.values.INGRESS_ISOLATED, endpointId: 3 });
      } finally {
        eps.close();
      }
      writeProgCostPolicy(dir, { client: podA.ip, server: podC.ip, clientPort: 40000 });
      writeProgCostPolicy(dir, { client: '10.90.2.7', server: podC.ip, clientPort: 40000 });
    };
    policy(pinDir);
    progress.info(`loading the datapath without the per-CPU flow copy (-DPW_CT_CACHE_NS=0) into ${uncachedPinDir}`);
    await loadDatapath({ pinDir: uncachedPinDir, netns: ns.path, defines: { PW_CT_CACHE_NS: 0 }, ...(o.bpfDir ? { bpfDir: o.bpfDir } : {}) });
    fill(uncachedPinDir);
    policy(uncachedPinDir);
    if (o.baselineBpfDir) {
      progress.info(`loading the baseline datapath from ${o.baselineBpfDir} into ${basePinDir}`);
      await loadDatapath({ pinDir: basePinDir, netns: ns.path, bpfDir: o.baselineBpfDir });
      fill(basePinDir);
      policy(basePinDir);
    }

    // the floor: compile and load the empty program
    const obj = join(work, 'empty.o');
    await run('clang-16', ['-O2', '-g', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-I', bpfSourceDir(), '-c', join(packageRoot(), 'bench', 'prog-cost', 'empty.c'), '-o', obj]);
    await run('bpftool', ['prog', 'load', obj, floorPin, 'type', 'classifier']);

    const P = pinPaths(pinDir).progs;
    const fromA = (daddr: string, saddr = podA.ip) => udpFrame({ dmac: '02:ee:00:00:00:01', smac: podA.mac, saddr, daddr, ttl: 255 });
    const cases: PathCase[] = [
      { name: 'empty', prog: floorPin, frame: fromA(podB.ip), ifindex: i1, expect: -1 },
      { name: 'from_pod:hit', prog: P.fromPod, frame: fromA(podB.ip), ifindex: i1, expect: R.FWD_LOCAL_PEER },
      // the conntrack check turns a forward into a pass: the cost of recognising a NAT reply
      { name: 'from_pod:nat-reply', prog: P.fromPod, frame: udpFrame({ dmac: '02:ee:00:00:00:01', smac: podA.mac, saddr: podA.ip, daddr: podB.ip, ttl: 255, dport: 5202 }), ifindex: i1, expect: R.PASS_STACK_NAT_REPLY },
      { name: 'from_pod:miss', prog: P.fromPod, frame: fromA('192.0.2.1'), ifindex: i1, expect: R.PASS_STACK_MISS },
      { name: 'from_pod:route-native', prog: P.fromPod, frame: fromA('10.90.2.7'), ifindex: i1, ingressIfindex: i1, expect: R.FWD_REMOTE_NATIVE, mode: 'native' },
      { name: 'from_pod:route-vxlan', prog: P.fromPod, frame: fromA('10.90.2.7'), ifindex: i1, expect: R.FWD_REMOTE_VXLAN, mode: 'vxlan' },
      { name: 'from_pod:drop-spoofed', prog: P.fromPod, frame: fromA(podB.ip, '10.90.1.99'), ifindex: i1, expect: R.DROP_SPOOFED_SRC_IP },
      { name: 'from_uplink:hit', prog: P.fromUplink, frame: udpFrame({ dmac: '02:ee:00:00:00:99', smac: '02:00:00:00:00:12', saddr: '10.90.2.7', daddr: podB.ip, ttl: 255 }), ifindex: iu, expect: R.FWD_LOCAL_PEER },
      // to_uplink while no local pod is isolated for egress (returns at once, uncounted): what every
      // packet leaving a native node paid before to_uplink was attached only while one is
      // (src/hostnet/egress-policy.ts); the tcx egress hook itself is not in this figure
      { name: 'to_uplink:idle', prog: P.toUplink, frame: udpFrame({ dmac: '02:00:00:00:00:12', smac: '02:ee:00:00:00:99', saddr: podA.ip, daddr: '10.90.2.7', ttl: 254 }), ifindex: iu, expect: -1 },
      // NetworkPolicy: an established flow into an isolated pod (one ct FLOW lookup more than
      // from_pod:hit), and a flow no rule admits (every packet judged in full, then dropped)
      { name: 'from_pod:policy-ct-hit', prog: P.fromPod, frame: fromA(podC.ip), ifindex: i1, expect: R.FWD_LOCAL_PEER },
      { name: 'from_pod:policy-ct-miss', prog: P.fromPod, frame: udpFrame({ dmac: '02:ee:00:00:00:01', smac: podA.mac, saddr: podA.ip, daddr: podC.ip, ttl: 255, dport: POLICY_DENIED_PORT }), ifindex: i1, expect: R.POLICY_DENIED_INGRESS },
      { name: 'from_uplink:policy-ct-hit', prog: P.fromUplink, frame: udpFrame({ dmac: '02:ee:00:00:00:99', smac: '02:00:00:00:00:12', saddr: '10.90.2.7', daddr: podC.ip, ttl: 255 }), ifindex: iu, expect: R.FWD_LOCAL_PEER },
    ];
    // the same established flows where the CPU's copy of the last FLOW entry never answers: what a
    // flow pays when its packets interleave with other flows' on a CPU (one ct hash lookup)
    const U = pinPaths(uncachedPinDir).progs;
    cases.push(
      { name: 'uncached/from_pod:policy-ct-hit', prog: U.fromPod, frame: fromA(podC.ip), ifindex: i1, expect: R.FWD_LOCAL_PEER },
      { name: 'uncached/from_uplink:policy-ct-hit', prog: U.fromUplink, frame: udpFrame({ dmac: '02:ee:00:00:00:99', smac: '02:00:00:00:00:12', saddr: '10.90.2.7', daddr: podC.ip, ttl: 255 }), ifindex: iu, expect: R.FWD_LOCAL_PEER },
    );
    // `podwire monitor` (bpf/lib/monitor.h): every row above runs with the gate closed (no listener).
    // With a listener: the gate open but the verdict not asked for (a forward while only drops are
    // monitored), every forward emitted (trace, sample 1), every drop emitted, and drops over the
    // per-CPU rate limit (counted, not emitted).
    const DROP = monitorTypeBit('drop')!;
    const TRACE = monitorTypeBit('trace')!;
    const ALL = 0xffffffff;
    cases.push(
      { name: 'from_pod:hit/monitor-open', prog: P.fromPod, frame: fromA(podB.ip), ifindex: i1, expect: R.FWD_LOCAL_PEER, monitor: { types: DROP, sample: 0, rate: ALL } },
      { name: 'from_pod:hit/monitor-trace', prog: P.fromPod, frame: fromA(podB.ip), ifindex: i1, expect: R.FWD_LOCAL_PEER, monitor: { types: DROP | TRACE, sample: 1, rate: ALL } },
      { name: 'from_pod:drop-spoofed/monitor-open', prog: P.fromPod, frame: fromA(podB.ip, '10.90.1.99'), ifindex: i1, expect: R.DROP_SPOOFED_SRC_IP, monitor: { types: DROP, sample: 0, rate: ALL } },
      { name: 'from_pod:drop-spoofed/monitor-limited', prog: P.fromPod, frame: fromA(podB.ip, '10.90.1.99'), ifindex: i1, expect: R.DROP_SPOOFED_SRC_IP, monitor: { types: DROP, sample: 0, rate: 1 } },
    );
    if (o.baselineBpfDir) {
      // the same paths on the baseline datapath, in this run: the difference is what a change costs
      const B = pinPaths(basePinDir).progs;
      cases.push(
        { name: 'baseline/from_pod:hit', prog: B.fromPod, frame: fromA(podB.ip), ifindex: i1, expect: R.FWD_LOCAL_PEER },
        { name: 'baseline/from_pod:miss', prog: B.fromPod, frame: fromA('192.0.2.1'), ifindex: i1, expect: R.PASS_STACK_MISS },
        { name: 'baseline/from_pod:route-native', prog: B.fromPod, frame: fromA('10.90.2.7'), ifindex: i1, ingressIfindex: i1, expect: R.FWD_REMOTE_NATIVE },
        { name: 'baseline/from_pod:drop-spoofed', prog: B.fromPod, frame: fromA(podB.ip, '10.90.1.99'), ifindex: i1, expect: R.DROP_SPOOFED_SRC_IP },
        { name: 'baseline/from_uplink:hit', prog: B.fromUplink, frame: udpFrame({ dmac: '02:ee:00:00:00:99', smac: '02:00:00:00:00:12', saddr: '10.90.2.7', daddr: podB.ip, ttl: 255 }), ifindex: iu, expect: R.FWD_LOCAL_PEER },
        { name: 'baseline/from_pod:policy-ct-hit', prog: B.fromPod, frame: fromA(podC.ip), ifindex: i1, expect: R.FWD_LOCAL_PEER },
        { name: 'baseline/from_uplink:policy-ct-hit', prog: B.fromUplink, frame: udpFrame({ dmac: '02:ee:00:00:00:99', smac: '02:00:00:00:00:12', saddr: '10.90.2.7', daddr: podC.ip, ttl: 255 }), ifindex: iu, expect: R.FWD_LOCAL_PEER },
      );
    }

    const skb = structs.__sk_buff;
    progress.total += cases.length;
    for (const c of cases) {
      if (c.mode) {
        const m = openNodeConfig(pinDir);
        try {
          m.set({ mode: c.mode, nodeIp: '172.29.0.11', uplinkIfindex: iu, vxlanIfindex: c.mode === 'vxlan' ? iu : 0, vni: c.mode === 'vxlan' ? 42 : 0 });
        } finally {
          m.close();
        }
      }
      const gate = c.monitor ? await openGate(pinDir, c.monitor) : undefined;
      const mon0 = gate ? readMonitorStats(pinDir) : undefined;
      try {
        const ctx = Buffer.alloc(skb.size);
        ctx.writeUInt32LE(c.ifindex, skb.fields.ifindex.offset);
        if (c.ingressIfindex) ctx.writeUInt32LE(c.ingressIfindex, skb.fields.ingress_ifindex.offset);
        const f = (n: string) => join(work, `${c.name.replace(/[:/]/g, '_')}.${n}`);
        await writeFile(f('data'), c.frame);
        await writeFile(f('ctx'), ctx);
        // 1) the verdict is the one this path is meant to measure, also after REPEAT runs
        const ctxOut = f('ctxout');
        await run('bpftool', ['prog', 'run', 'pinned', c.prog, 'data_in', f('data'), 'ctx_in', f('ctx'), 'ctx_out', ctxOut, 'repeat', String(REPEAT)], { netns: ns.path });
        const reason = (await readFile(ctxOut)).readUInt32LE(skb.fields.cb.offset);
        if (c.expect >= 0 && reason !== c.expect) {
          const name = Object.entries(R).find(([, v]) => v === reason)?.[0] ?? String(reason);
          throw new Error(`prog-cost ${c.name}: after ${REPEAT} runs the verdict is ${name}, not the path being measured`);
        }
        // 2) the timing: `batches` runs of REPEAT, one bpftool process (bpftool batch)
        const line = `prog run pinned ${c.prog} data_in ${f('data')} ctx_in ${f('ctx')} repeat ${REPEAT}\n`;
        await writeFile(f('batch'), line.repeat(batches));
        const out = await runJson<Array<{ output: { retval: number; duration: number } }>>('bpftool', ['-j', 'batch', 'file', f('batch')], { netns: ns.path, timeoutMs: 120_000 });
        const durations = out.map((x) => x.output.duration);
        for (const [i, d] of durations.entries()) col.add({ section: 'prog-cost', topology: c.name, metric: 'ns_per_pkt', unit: 'ns/pkt', value: d, rep: i });
        col.limits.set(c.name, 'empty');
        const sorted = [...durations].sort((a, b) => a - b);
        let events = '';
        if (mon0) {
          const m = readMonitorStats(pinDir);
          events = `; monitor: ${m.emitted - mon0.emitted} events, ${m.lostRate - mon0.lostRate} over the rate limit, ${m.lostFull - mon0.lostFull} ring full`;
        }
        progress.step(`${c.name.padEnd(24)} ${sorted[Math.floor(sorted.length / 2)]} ns/pkt (median of ${durations.length} × ${REPEAT} runs${events})`);
      } finally {
        await gate?.stop();
      }
    }
    {
      // The issue-10 goal, paired: one bpftool batch alternates the policy row and its no-policy
      // row (the order flips every pair), so both see the same load on a shared machine; the row
      // is the median of the per-pair ratios. The verdicts were checked above.
      const upFrame = (daddr: string) => udpFrame({ dmac: '02:ee:00:00:00:99', smac: '02:00:00:00:00:12', saddr: '10.90.2.7', daddr, ttl: 255 });
      const U = pinPaths(uncachedPinDir).progs;
      const pairs = [
        { name: 'from_pod:policy-ct-hit', prog: P.fromPod, hitProg: P.fromPod, frame: fromA(podC.ip), hit: fromA(podB.ip), ifindex: i1 },
        { name: 'from_uplink:policy-ct-hit', prog: P.fromUplink, hitProg: P.fromUplink, frame: upFrame(podC.ip), hit: upFrame(podB.ip), ifindex: iu },
        { name: 'uncached/from_pod:policy-ct-hit', prog: U.fromPod, hitProg: P.fromPod, frame: fromA(podC.ip), hit: fromA(podB.ip), ifindex: i1 },
        { name: 'uncached/from_uplink:policy-ct-hit', prog: U.fromUplink, hitProg: P.fromUplink, frame: upFrame(podC.ip), hit: upFrame(podB.ip), ifindex: iu },
      ];
      if (o.baselineBpfDir) {
        // the baseline datapath's policy rows against its own no-policy rows: before/after in one run
        const B = pinPaths(basePinDir).progs;
        pairs.push(
          { name: 'baseline/from_pod:policy-ct-hit', prog: B.fromPod, hitProg: B.fromPod, frame: fromA(podC.ip), hit: fromA(podB.ip), ifindex: i1 },
          { name: 'baseline/from_uplink:policy-ct-hit', prog: B.fromUplink, hitProg: B.fromUplink, frame: upFrame(podC.ip), hit: upFrame(podB.ip), ifindex: iu },
        );
      }
      progress.total += pairs.length;
      for (const p of pairs) {
        const ctx = Buffer.alloc(skb.size);
        ctx.writeUInt32LE(p.ifindex, skb.fields.ifindex.offset);
        const f = (n: string) => join(work, `ratio_${p.name.replace(/[:/]/g, '_')}.${n}`);
        await writeFile(f('data'), p.frame);
        await writeFile(f('hit'), p.hit);
        await writeFile(f('ctx'), ctx);
        const pol = `prog run pinned ${p.prog} data_in ${f('data')} ctx_in ${f('ctx')} repeat ${REPEAT}\n`;
        const hit = `prog run pinned ${p.hitProg} data_in ${f('hit')} ctx_in ${f('ctx')} repeat ${REPEAT}\n`;
        let batch = '';
        for (let i = 0; i < batches; i++) batch += i % 2 === 0 ? pol + hit : hit + pol;
        await writeFile(f('batch'), batch);
        const out = await runJson<Array<{ output: { retval: number; duration: number } }>>('bpftool', ['-j', 'batch', 'file', f('batch')], { netns: ns.path, timeoutMs: 120_000 });
        const ratios: number[] = [];
        for (let i = 0; i < batches; i++) {
          const [a, b] = [out[2 * i]!.output.duration, out[2 * i + 1]!.output.duration];
          const r = i % 2 === 0 ? a / b : b / a; // policy ÷ no policy
          ratios.push(r);
          col.add({ section: 'prog-cost', topology: `${p.name}/paired`, metric: 'pct_of_hit', unit: '%', value: 100 * r, rep: i });
        }
        const sorted = [...ratios].sort((x, y) => x - y);
        progress.step(`${p.name}/paired ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)}× its no-policy row (median of ${batches} paired ratios)`);
      }
    }
    if (o.baselineBpfDir) {
      // The closed monitor gate's cost, paired: one bpftool batch alternates this datapath and the
      // baseline on the same frame (the order flips every pair), so both see the same load on a
      // shared machine; the row is the median of the per-pair differences.
      const B = pinPaths(basePinDir).progs;
      // The same pairing for the forwarding paths issue 13 changed (next-hop cache, one write):
      // rows <path>/added.
      const pairs = [
        { name: 'from_pod:hit', row: 'from_pod:hit/monitor-closed-added', frame: fromA(podB.ip), expect: R.FWD_LOCAL_PEER },
        { name: 'from_pod:drop-spoofed', row: 'from_pod:drop-spoofed/monitor-closed-added', frame: fromA(podB.ip, '10.90.1.99'), expect: R.DROP_SPOOFED_SRC_IP },
        { name: 'from_pod:route-native', row: 'from_pod:route-native/added', frame: fromA('10.90.2.7'), expect: R.FWD_REMOTE_NATIVE, ingressIfindex: i1 },
        { name: 'from_uplink:hit', row: 'from_uplink:hit/added', frame: udpFrame({ dmac: '02:ee:00:00:00:99', smac: '02:00:00:00:00:12', saddr: '10.90.2.7', daddr: podB.ip, ttl: 255 }), expect: R.FWD_LOCAL_PEER, ifindex: iu, uplink: true },
      ];
      // the cases above left this datapath's node in vxlan mode; the baseline's is native
      const cfg = openNodeConfig(pinDir);
      try {
        cfg.set({ mode: 'native', nodeIp: '172.29.0.11', uplinkIfindex: iu, vxlanIfindex: 0, vni: 0 });
      } finally {
        cfg.close();
      }
      progress.total += pairs.length;
      for (const p of pairs) {
        const ctx = Buffer.alloc(skb.size);
        ctx.writeUInt32LE(p.ifindex ?? i1, skb.fields.ifindex.offset);
        if (p.ingressIfindex) ctx.writeUInt32LE(p.ingressIfindex, skb.fields.ingress_ifindex.offset);
        const [mine, base] = p.uplink ? [P.fromUplink, B.fromUplink] : [P.fromPod, B.fromPod];
        const f = (n: string) => join(work, `paired_${p.name.replace(/[:/]/g, '_')}.${n}`);
        await writeFile(f('data'), p.frame);
        await writeFile(f('ctx'), ctx);
        const line = (prog: string) => `prog run pinned ${prog} data_in ${f('data')} ctx_in ${f('ctx')} repeat ${REPEAT}\n`;
        let batch = '';
        for (let i = 0; i < batches; i++) batch += i % 2 === 0 ? line(mine) + line(base) : line(base) + line(mine);
        await writeFile(f('batch'), batch);
        const out = await runJson<Array<{ output: { retval: number; duration: number } }>>('bpftool', ['-j', 'batch', 'file', f('batch')], { netns: ns.path, timeoutMs: 120_000 });
        const diffs: number[] = [];
        for (let i = 0; i < batches; i++) {
          const [a, b] = [out[2 * i]!.output.duration, out[2 * i + 1]!.output.duration];
          const d = i % 2 === 0 ? a - b : b - a; // this datapath minus the baseline
          diffs.push(d);
          col.add({ section: 'prog-cost', topology: p.row, metric: 'ns_added', unit: 'ns/pkt', value: d, rep: i });
        }
        const sorted = [...diffs].sort((x, y) => x - y);
        progress.step(`${p.row} ${sorted[Math.floor(sorted.length / 2)]} ns/pkt (median of ${batches} paired differences vs the baseline datapath)`);
      }
    }
  } catch (e) {
    progress.warn(`prog-cost: ${(e as Error).message}`);
    col.error({ section: 'prog-cost', topology: 'prog-cost', stage: 'run', message: (e as Error).message });
  } finally {
    unregister();
    await cleanup();
  }
}
