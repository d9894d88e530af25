// CNI latency through the native shim (bpf/tools/podwire-cni.c) on a lab node whose agent is
// running: the lab's plugin `podwire` is the shim, which hands the request to the agent's
// socket instead of starting Node.js. Same measurement as cni.ts (exec'd as a runtime does,
// inside the node namespace, NODE_EXTRA_CA_CERTS unset, sequential ADDs then DELs of `pods`
// pods), so the two rows compare directly: topology `cni-shim` next to `cni`. The reference
// plugin (topology `cni-reference`, Debian's bridge + host-local, cni-reference.ts) runs in the
// same loop, interleaved pod by pod and alternating which goes first, so the ratio
// cni-shim / cni-reference is taken under the same load.
//
// The agent keeps a warm veth pool (src/cni/pool.ts) that it refills in the background while no
// ADD/DEL runs; a refill holds the RTNL for RCU grace periods. So that background work never
// lands in anyone's measurement, every call (podwire's and the reference's alike) follows the
// same pod arrival spacing (SPACING_MS) and then waits until the pool is quiet (full, nothing
// being made or deleted; read from the agent's netns and pin dir). What that hides is reported
// as its own rows: `cni-shim-burst` (ADDs and DELs back to back, no spacing: the pool runs dry and
// refills cannot run) with add_pool_hit_p50_ms / add_pool_miss_p50_ms, and `cni-reference-alone`
// (reference calls spread through the same loop, each a second after the last podwire call: is
// the interleaved reference inflated by podwire's background work?).
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_VETH_POOL_SIZE } from '../../src/agent/config.js';
import type { Lab } from '../../src/lab/cluster.js';
import { execCni } from '../../src/lab/cni-exec.js';
import { loadConflist } from '../../src/lab/runtime.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { registerCleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';
import { percentile } from '../stats.js';
import { referencePlugin, type ReferencePlugin } from './cni-reference.js';

/** Time between one pod's CNI call and the next one (either plugin): pods arriving, not a burst. */
export const SPACING_MS = 200;
/** Pods of the back-to-back burst rows (more than twice the pool: hits, then misses). */
const BURST_PODS = 12;
/** One reference-alone call after every this many paired pods, ALONE_GAP_MS + the spacing after the last podwire call. */
const ALONE_EVERY = 5;
const ALONE_GAP_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The agent's pool size as it resolves it (its environment is the bench's, through lab up). */
function poolSize(): number {
  const v = process.env['PODWIRE_VETH_POOL_SIZE'];
  return v === undefined ? DEFAULT_VETH_POOL_SIZE : Number(v);
}

/** Pool pairs in the agent's netns (complete: peer present, both link pins) and incomplete ones. */
function poolState(agentPid: number, pinDir: string): { complete: number; incomplete: number } {
  const dev = readFileSync(`/proc/${agentPid}/net/dev`, 'utf8');
  const names = new Set(dev.split('\n').slice(2).map((l) => l.slice(0, l.indexOf(':')).trim()).filter(Boolean));
  const pins = (d: string) => new Set(existsSync(join(pinDir, d)) ? readdirSync(join(pinDir, d)) : []);
  const [ing, egr] = [pins('links'), pins('links-egress')];
  let complete = 0;
  let incomplete = 0;
  for (const n of names) {
    if (!/^pwph[0-9a-f]{8}$/.test(n)) continue;
    if (names.has(`pwpp${n.slice(4)}`) && ing.has(n) && egr.has(n)) complete++;
    else incomplete++;
  }
  return { complete, incomplete };
}

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
  progress.total += 12;
  try {
    for (let i = 0; i < o.pods + BURST_PODS; i++) slots.push({ name: `shim-${i}`, containerId: randomBytes(16).toString('hex'), netns: await createNetns('pwbs') });
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
    const agentPid = (await lab.refresh()).nodes[0]!.agentPid;
    if (!agentPid) throw new Error('the lab node has no agent PID');
    const size = poolSize();
    let quietWaits = 0;
    let quietWaitMs = 0;
    /** Pod spacing, then the pool quiet (bounded: a pool that never settles fails the bench). */
    const settle = async () => {
      await sleep(SPACING_MS);
      if (size === 0) return;
      const t0 = performance.now();
      for (let i = 0; ; i++) {
        const st = poolState(agentPid, node.pinDir);
        if (st.complete === size && st.incomplete === 0) break;
        if (i >= 400) throw new Error(`the agent's veth pool did not settle within 20 s (${st.complete}/${size} complete, ${st.incomplete} in progress)`);
        await sleep(50);
      }
      const waited = performance.now() - t0;
      if (waited > 1) quietWaits++;
      quietWaitMs += waited;
    };
    const add = (topology: string, metric: string, xs: number[]) => {
      const v = percentile(xs, metric.includes('p99') ? 99 : 50);
      col.add({ section: 'control-plane', topology, metric, unit: 'ms', value: v, rep: 0, extra: { samplesMs: xs.map((x) => Math.round(x * 100) / 100), spacingMs: SPACING_MS, poolSize: size } });
      return v;
    };
    const shimCalls = (n: number) => slots.slice(0, n);
    // the reference alone, interleaved in time with the paired calls: after every ALONE_EVERY
    // pods, one reference call a second (plus the spacing) after the last podwire call: is the
    // interleaved reference inflated by podwire's background work?
    const alone = await referencePlugin({ pods: Math.ceil(o.pods / ALONE_EVERY), subnet: '10.96.0.0/22' });
    try {
      for (const cmd of ['ADD', 'DEL'] as const) {
        const samples: number[] = [];
        const refSamples: number[] = [];
        const aloneSamples: number[] = [];
        for (const [i, s] of shimCalls(o.pods).entries()) {
          // paired: one podwire call and one reference call per pod, alternating which goes first;
          // each after the same spacing and with the agent's pool quiet
          if (i % 2 === 0) {
            await settle();
            samples.push(await call(cmd, s));
            await settle();
            refSamples.push(await reference.call(cmd, i));
          } else {
            await settle();
            refSamples.push(await reference.call(cmd, i));
            await settle();
            samples.push(await call(cmd, s));
          }
          if (i % ALONE_EVERY === ALONE_EVERY - 1 || i === o.pods - 1) {
            await sleep(ALONE_GAP_MS);
            await settle();
            aloneSamples.push(await alone.call(cmd, Math.floor(i / ALONE_EVERY)));
          }
        }
        const lc = cmd.toLowerCase();
        for (const [topology, xs, what] of [
          ['cni-shim', samples, 'through the shim (agent socket)'],
          ['cni-reference', refSamples, 'Debian bridge + host-local'],
          ['cni-reference-alone', aloneSamples, 'Debian bridge + host-local, 1 s after any podwire call'],
        ] as const) {
          const p50 = add(topology, `${lc}_p50_ms`, [...xs]);
          const p99 = add(topology, `${lc}_p99_ms`, [...xs]);
          progress.step(`CNI ${cmd} × ${xs.length} ${what}, ${SPACING_MS} ms apart: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
        }
      }
    } finally {
      await alone.cleanup();
    }
    progress.info(`CNI: waited for the agent's veth pool to settle before ${quietWaits} calls (${(quietWaitMs / 1000).toFixed(1)} s in all, spacing not counted)`);

    // burst: ADDs back to back, then DELs back to back (no spacing, no waiting for the pool), and
    // the reference the same way right after each (its own node namespace and bridge)
    await settle();
    const burst = slots.slice(o.pods, o.pods + BURST_PODS);
    const refBurst = await referencePlugin({ pods: BURST_PODS, subnet: '10.97.0.0/22' });
    try {
      for (const cmd of ['ADD', 'DEL'] as const) {
        const xs: number[] = [];
        for (const s of burst) xs.push(await call(cmd, s));
        const lc = cmd.toLowerCase();
        const p50 = add('cni-shim-burst', `${lc}_p50_ms`, xs);
        add('cni-shim-burst', `${lc}_p99_ms`, xs);
        if (cmd === 'ADD' && size > 0) {
          // the first `size` ADDs of a burst find the full pool; the rest find it empty (a refill
          // waits for POOL_IDLE_MS without a request, which back-to-back calls never leave)
          add('cni-shim-burst', 'add_pool_hit_p50_ms', xs.slice(0, size));
          add('cni-shim-burst', 'add_pool_miss_p50_ms', xs.slice(size));
        }
        progress.step(`CNI ${cmd} × ${BURST_PODS} back to back through the shim (pool ${size}): p50 ${p50.toFixed(1)} ms`);
        await sleep(SPACING_MS);
        const rs: number[] = [];
        for (let i = 0; i < BURST_PODS; i++) rs.push(await refBurst.call(cmd, i));
        const r50 = add('cni-reference-burst', `${lc}_p50_ms`, rs);
        add('cni-reference-burst', `${lc}_p99_ms`, rs);
        progress.step(`CNI ${cmd} × ${BURST_PODS} back to back, Debian bridge + host-local: p50 ${r50.toFixed(1)} ms`);
        await settle();
      }
    } finally {
      await refBurst.cleanup();
    }

  } finally {
    unregister();
    await cleanup();
  }
}
