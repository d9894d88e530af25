// CNI latency through the native shim (bpf/tools/podwire-cni.c) on a lab node whose agent is
// running: the lab's plugin `podwire` is the shim, which hands the request to the agent's
// socket instead of starting Node.js. Same measurement as cni.ts (exec'd as a runtime does,
// inside the node namespace, NODE_EXTRA_CA_CERTS unset, sequential ADDs then DELs of `pods`
// pods), so the two rows compare directly: topology `cni-shim` next to `cni`.
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
  const cleanup = async () => {
    for (const s of slots.splice(0)) {
      if (s.result) {
        const config = { ...netconf, prevResult: s.result };
        await execCni({ plugin, command: 'DEL', containerId: s.containerId, netns: s.netns.path, ifname: 'eth0', path: lab.pluginDirs(), config, nodeNetns: node.netnsPath }).catch(() => {});
      }
      await s.netns.remove().catch(() => {});
    }
  };
  const unregister = registerCleanup(cleanup);
  progress.total += 2;
  try {
    for (let i = 0; i < o.pods; i++) slots.push({ name: `shim-${i}`, containerId: randomBytes(16).toString('hex'), netns: await createNetns('pwbs') });
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
      for (const s of slots) samples.push(await call(cmd, s));
      const lc = cmd.toLowerCase();
      const [p50, p99] = [percentile(samples, 50), percentile(samples, 99)];
      col.add({ section: 'control-plane', topology: 'cni-shim', metric: `${lc}_p50_ms`, unit: 'ms', value: p50, rep: 0, extra: { samplesMs: samples.map((x) => Math.round(x * 100) / 100) } });
      col.add({ section: 'control-plane', topology: 'cni-shim', metric: `${lc}_p99_ms`, unit: 'ms', value: p99, rep: 0 });
      progress.step(`CNI ${cmd} × ${o.pods} through the shim (agent socket): p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
    }
  } finally {
    unregister();
    await cleanup();
  }
}
