// CNI latency through the native shim (bpf/tools/podwire-cni.c) on a lab node whose agent is
// running: the lab's plugin `podwire` is the shim, which hands the request to the agent's
// socket instead of starting Node.js. Same measurement as cni.ts (exec'd as a runtime does,
// inside the node namespace, NODE_EXTRA_CA_CERTS unset, sequential ADDs then DELs of `pods`
// pods), so the two rows compare directly: topology `cni-shim` next to `cni`. The reference
// plugin (topology `cni-reference`, Debian's bridge + host-local, cni-reference.ts) runs in the
// same loop, interleaved pod by pod and alternating which goes first, so the ratio
// cni-shim / cni-reference is taken under the same load.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Lab } from '../../src/lab/cluster.js';
import { execCni } from '../../src/lab/cni-exec.js';
import { loadConflist } from '../../src/lab/runtime.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { registerCleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';
import { percentile } from '../stats.js';
import { referencePlugin, type ReferencePlugin } from './cni-reference.js';

interface Slot {
  name: string;
  containerId: string;
  netns: Netns;
  result?: Record<string, unknown>;
}

export async function benchCniShim(lab: Lab, o: { pods: number }, col: Collector, progress: Progress): Promise<void> {
  const node = lab.state.nodes[0]!;
  const { list } = await loadConflist(node.cniConfDir);
  const entry = list.plugins.find((p) => p.type === 'podwire');
  if (!entry) throw new Error(`the conflist in ${node.cniConfDir} has no podwire plugin`);
  const netconf: Record<string, unknown> = { ...entry, cniVersion: list.cniVersion, name: list.name };
  const plugin = join(lab.pluginDirs()[0]!, 'podwire');
  const slots: Slot[] = [];
  let ref: ReferencePlugin | undefined;
  const cleanup = async () => {
    await ref?.cleanup();
    for (const s of slots.splice(0)) {
      if (s.result) {
        const config = { ...netconf, prevResult: s.result };
        await execCni({ plugin, command: 'DEL', containerId: s.containerId, netns: s.netns.path, ifname: 'eth0', path: lab.pluginDirs(), config, nodeNetns: node.netnsPath }).catch(() => {});
      }
      await s.netns.remove().catch(() => {});
    }
  };
  const unregister = registerCleanup(cleanup);
  progress.total += 4;
  try {
    for (let i = 0; i < o.pods; i++) slots.push({ name: `shim-${i}`, containerId: randomBytes(16).toString('hex'), netns: await createNetns('pwbs') });
    ref = await referencePlugin({ pods: o.pods, subnet: '10.95.0.0/22' });
    const reference = ref;
    const call = async (cmd: 'ADD' | 'DEL', s: Slot): Promise<number> => {
      const out = await execCni({
        plugin,
        command: cmd,
        containerId: s.containerId,
        netns: s.netns.path,
        ifname: 'eth0',
        args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${s.name};K8S_POD_INFRA_CONTAINER_ID=${s.containerId}`,
        path: lab.pluginDirs(),
        config: cmd === 'DEL' ? { ...netconf, prevResult: s.result } : netconf,
        nodeNetns: node.netnsPath,
        env: { NODE_EXTRA_CA_CERTS: undefined },
      });
      if (out.exitCode !== 0) throw new Error(`CNI ${cmd} ${s.name} through the shim failed (exit ${out.exitCode}): ${out.stdout}${out.stderr}`.slice(0, 500));
      s.result = cmd === 'ADD' ? out.json : undefined;
      return out.durationMs;
    };
    for (const cmd of ['ADD', 'DEL'] as const) {
      const samples: number[] = [];
      const refSamples: number[] = [];
      for (const [i, s] of slots.entries()) {
        // paired: one podwire call and one reference call per pod, alternating which goes first
        if (i % 2 === 0) {
          samples.push(await call(cmd, s));
          refSamples.push(await reference.call(cmd, i));
        } else {
          refSamples.push(await reference.call(cmd, i));
          samples.push(await call(cmd, s));
        }
      }
      const lc = cmd.toLowerCase();
      for (const [topology, xs, what] of [
        ['cni-shim', samples, 'through the shim (agent socket)'],
        ['cni-reference', refSamples, 'Debian bridge + host-local'],
      ] as const) {
        const [p50, p99] = [percentile(xs, 50), percentile(xs, 99)];
        col.add({ section: 'control-plane', topology, metric: `${lc}_p50_ms`, unit: 'ms', value: p50, rep: 0, extra: { samplesMs: xs.map((x) => Math.round(x * 100) / 100) } });
        col.add({ section: 'control-plane', topology, metric: `${lc}_p99_ms`, unit: 'ms', value: p99, rep: 0 });
        progress.step(`CNI ${cmd} × ${o.pods} ${what}: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
      }
    }
  } finally {
    unregister();
    await cleanup();
  }
}
