// Control-plane figures that need the real agent: a one-node lab (API server + `podwire agent`
// in the node namespace). Watch event → map entry: POST a Node to the API server and time until
// the agent has written its podCIDR into the node's routes map (polled from the pin, the
// ground truth). Agent start → ready: stop the agent, remove the conflist (its readiness
// signal) — and for a cold start its pin directory too, so it must compile and load the
// datapath — start it again and time until the conflist is back.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive } from '../../src/lab/cluster.js';
import { api, apiRequest } from '../../src/lab/api-client.js';
import { openRoutes } from '../../src/maps/index.js';
import { benchLabUp } from '../lab-up.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';
import { benchCniShim } from './cni-shim.js';

async function until(what: string, timeoutMs: number, cond: () => boolean | Promise<boolean>, pollMs = 1): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(pollMs);
  }
}

async function stopPid(pid: number): Promise<void> {
  if (alive(pid)) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

export async function benchLab(o: { watchEvents: number; restarts: number; shimPods: number }, col: Collector, progress: Progress): Promise<void> {
  const id = randomBytes(3).toString('hex');
  progress.info('one-node lab for watch latency and agent start …');
  const { lab, unregister } = await benchLabUp({ nodes: 1, podsPerNode: 0, name: `c${id.slice(0, 3)}`, statePath: `/run/podwire/bench-cp-${id}.json`, dir: `/run/podwire/bench-cp-${id}`, log: (l) => progress.info(`  ${l}`) });
  try {
    const node = lab.state.nodes[0]!;
    progress.total += o.watchEvents + o.restarts * 2;
    const socket = lab.state.apiServer.socket;

    // watch event → routes map entry
    const routes = openRoutes(node.pinDir);
    try {
      for (let i = 0; i < o.watchEvents; i++) {
        const name = `bench-sim-${i}`;
        const t0 = performance.now();
        const created = await api<{ spec?: { podCIDR?: string } }>(socket, 'POST', '/api/v1/nodes', {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name },
          status: { addresses: [{ type: 'InternalIP', address: `172.30.0.${100 + (i % 100)}` }] },
        });
        let cidr = created.spec?.podCIDR;
        if (!cidr) {
          // node-IPAM may assign the podCIDR in a follow-up update
          await until(`podCIDR of ${name}`, 5000, async () => Boolean((cidr = (await api<{ spec?: { podCIDR?: string } }>(socket, 'GET', `/api/v1/nodes/${name}`)).spec?.podCIDR)), 2);
        }
        await until(`route ${cidr} in ${node.pinDir}`, 10_000, () => routes.get(cidr!) !== undefined);
        const ms = performance.now() - t0;
        col.add({ section: 'control-plane', topology: 'agent', metric: 'watch_to_map_ms', unit: 'ms', value: ms, rep: i, extra: { cidr } });
        progress.step(`watch → map: Node ${name} (${cidr}) in the routes map after ${ms.toFixed(1)} ms`);
        await apiRequest(socket, 'DELETE', `/api/v1/nodes/${name}`);
        await until(`route ${cidr} removed`, 10_000, () => routes.get(cidr!) === undefined);
      }
    } finally {
      routes.close();
    }

    // CNI ADD/DEL through the native shim and this node's running agent (row cni-shim)
    await benchCniShim(lab, { pods: o.shimPods }, col, progress);

    // agent start → ready (conflist written), cold (no pins) and warm (pins kept). The agent to
    // stop is the one the previous round started: `node` is the state read before the first
    // restart, and a stale pid would leave the running agent alive, so the "restart" would only
    // be seen at that agent's next conflist resync (~10 s).
    let running = node.agentPid!;
    for (let i = 0; i < o.restarts; i++) {
      for (const kind of ['cold', 'warm'] as const) {
        await stopPid(running);
        for (const f of existsSync(node.cniConfDir) ? await readdir(node.cniConfDir) : []) await rm(join(node.cniConfDir, f), { force: true });
        if (kind === 'cold') await rm(node.pinDir, { recursive: true, force: true });
        const t0 = performance.now();
        const pid = await lab.startAgent(node.name);
        running = pid;
        await until(`agent of ${node.name} ready`, 60_000, async () => {
          if (!alive(pid)) throw new Error(`agent exited during start; log ${node.agentLog}`);
          return existsSync(node.cniConfDir) && (await readdir(node.cniConfDir)).some((f) => f.endsWith('.conflist'));
        }, 5);
        const ms = performance.now() - t0;
        col.add({ section: 'control-plane', topology: 'agent', metric: `${kind}_start_to_ready_ms`, unit: 'ms', value: ms, rep: i });
        progress.step(`agent ${kind} start → ready: ${ms.toFixed(0)} ms`);
      }
    }
  } finally {
    unregister();
    await lab.down();
  }
}
