// CNI latency as a runtime sees it: bin/podwire exec'd with the CNI environment and config on
// stdin inside a lab node (src/lab/node.ts), NODE_EXTRA_CA_CERTS unset (it costs ~40 ms per
// Node start and no runtime sets it for plugins). ADD and DEL over 100 pods (tinybench, one
// iteration per pod), then 50 ADDs at once (wall time) — what a node sees when a ReplicaSet
// scales up.
import { randomBytes } from 'node:crypto';
import { Bench } from 'tinybench';
import { LabNode } from '../../src/lab/node.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { registerCleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';
import { percentile } from '../stats.js';

const ENV = { NODE_EXTRA_CA_CERTS: undefined };

interface Slot {
  name: string;
  containerId: string;
  netns: Netns;
  result?: Record<string, unknown>;
}

export async function benchCni(o: { pods: number; concurrent: number }, col: Collector, progress: Progress): Promise<void> {
  const node = await LabNode.create({ podCIDR: '10.93.0.0/22', prefix: 'pwbq' });
  const slots: Slot[] = [];
  const cleanup = async () => {
    for (const s of slots) {
      if (s.result) await node.cni('DEL', { containerId: s.containerId, netns: s.netns.path, ifname: 'eth0', name: s.name }, { config: { ...node.netconf, prevResult: s.result }, env: ENV }).catch(() => {});
      await s.netns.remove();
    }
    await node.destroy().catch(() => {});
  };
  const unregister = registerCleanup(cleanup);
  try {
    const total = o.pods + o.concurrent;
    progress.total += 3;
    progress.info(`CNI: ${total} pod namespaces on lab node ${node.netns.name}`);
    for (let i = 0; i < total; i++) slots.push({ name: `bench-${i}`, containerId: randomBytes(16).toString('hex'), netns: await createNetns('pwbq') });

    const call = async (cmd: 'ADD' | 'DEL', s: Slot) => {
      const out = await node.cni(cmd, { containerId: s.containerId, netns: s.netns.path, ifname: 'eth0', name: s.name }, {
        config: cmd === 'DEL' ? { ...node.netconf, prevResult: s.result } : node.netconf,
        env: ENV,
      });
      if (out.exitCode !== 0) throw new Error(`CNI ${cmd} ${s.name} failed (exit ${out.exitCode}): ${out.stdout}${out.stderr}`.slice(0, 500));
      if (cmd === 'ADD') s.result = out.json;
      else s.result = undefined;
      return out.durationMs;
    };

    // sequential ADD then DEL of `pods` pods: one tinybench iteration per pod
    for (const cmd of ['ADD', 'DEL'] as const) {
      let next = 0;
      const bench = new Bench({ iterations: o.pods, time: 0, warmup: false, retainSamples: true, throws: true });
      bench.add(`cni ${cmd}`, async () => {
        await call(cmd, slots[next++]!);
      });
      await bench.run();
      const r = bench.tasks[0]!.result;
      if (r.state !== 'completed') throw new Error(`tinybench CNI ${cmd}: ${r.state === 'errored' ? r.error.message : r.state}`);
      const samples = r.latency.samples ?? [];
      const lc = cmd.toLowerCase();
      col.add({ section: 'control-plane', topology: 'cni', metric: `${lc}_p50_ms`, unit: 'ms', value: r.latency.p50, rep: 0, extra: { samplesMs: samples.map((x) => Math.round(x * 100) / 100) } });
      col.add({ section: 'control-plane', topology: 'cni', metric: `${lc}_p99_ms`, unit: 'ms', value: r.latency.p99 ?? percentile(samples, 99), rep: 0 });
      progress.step(`CNI ${cmd} × ${o.pods}: p50 ${r.latency.p50.toFixed(1)} ms, p99 ${r.latency.p99.toFixed(1)} ms`);
    }

    // concurrent ADDs, then DEL them
    const batch = slots.slice(o.pods);
    const t0 = performance.now();
    await Promise.all(batch.map((s) => call('ADD', s)));
    const wall = performance.now() - t0;
    col.add({ section: 'control-plane', topology: 'cni', metric: `add${o.concurrent}_concurrent_wall_ms`, unit: 'ms', value: wall, rep: 0 });
    progress.step(`CNI ${o.concurrent} concurrent ADDs: ${wall.toFixed(0)} ms wall`);
    await Promise.all(batch.map((s) => call('DEL', s)));
  } finally {
    unregister();
    await cleanup();
  }
}
