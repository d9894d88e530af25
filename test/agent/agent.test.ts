// `podwire agent` on the real kernel against the lab API server: one node namespace on an
// underlay, the agent exec'd inside it as the lab runs it, Node/Pod objects created through the
// API. Checks: datapath loaded and conflist written only when ready; routes follow Nodes;
// every API fault (watch closed, 500, 410, connection refused) is survived without the routes
// map losing an entry, and the agent converges afterwards; SIGKILL keeps forwarding state and a
// restarted agent adopts the very same programs; stale endpoints are collected; SIGTERM is clean.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinnedProgramIds } from '../../src/agent/datapath.js';
import { podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { IpamStore } from '../../src/ipam/store.js';
import { execCni } from '../../src/lab/cni-exec.js';
import { attachedProgramId } from '../../src/loader/index.js';
import { openEndpoints } from '../../src/maps/endpoints.js';
import { openRoutes, type Route } from '../../src/maps/routes.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { AgentCluster, readLog, sleep, waitFor, type AgentProc, type TestNode } from './harness.js';
import { nexthopIdOf } from '../../src/hostnet/index.js';

const CONFLIST = '05-podwire.conflist';

let cluster: AgentCluster;
let node: TestNode;
let agent: AgentProc;
let podCIDR: string;

function routes(n: TestNode = node): Route[] {
  const m = openRoutes(n.pinDir);
  try {
    return m.list();
  } finally {
    m.close();
  }
}

const routeOf = (cidr: string, n?: TestNode) => routes(n).find((r) => r.cidr === cidr);

/** Sample the routes map every few ms; count samples that lack any of `keep`. */
function sampleRoutes(keep: readonly string[]) {
  let samples = 0;
  const missing: string[] = [];
  const m = openRoutes(node.pinDir);
  const timer = setInterval(() => {
    const have = new Set(m.list().map((r) => r.cidr));
    samples++;
    for (const c of keep) if (!have.has(c)) missing.push(`${c} at sample ${samples}`);
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      m.close();
      return { samples, missing };
    },
  };
}

/** The kernel id of the pinned routes map: a map recreated (flushed by replacement) gets a new one. */
async function routesMapId(): Promise<number> {
  const j = JSON.parse((await run('bpftool', ['-j', 'map', 'show', 'pinned', join(node.pinDir, 'maps', 'routes')])).stdout) as { id: number };
  return j.id;
}

async function kernelRoutes(n: TestNode): Promise<string> {
  return (await run('ip', ['-4', 'route', 'show', 'proto', '210'], { netns: n.netns.path })).stdout;
}

beforeAll(async () => {
  cluster = await AgentCluster.create('pwag');
  node = await cluster.addNode('node-a');
}, 60_000);

afterAll(async () => {
  await cluster?.cleanup();
}, 60_000);

describe('podwire agent against the lab API server', () => {
  it('loads the datapath, and writes the conflist only once its own Node has a podCIDR', async () => {
    agent = cluster.startAgent(node, { extra: ['--gc-grace', '2s'] });
    const loaded = await cluster.waitLog(agent, 'datapath loaded', (l) => l.msg === 'datapath loaded');
    expect(Object.keys(loaded['programs'] as object).sort()).toEqual(['from_pod', 'from_uplink', 'from_vxlan', 'to_pod', 'to_uplink', 'xdp_prefilter']);
    expect(loaded['object']).toEqual({ source: 'prebuilt' }); // npm run build's object: no clang at start
    // the Node cache has listed (a "reconciled" with route counts) while our Node does not exist
    await cluster.waitLog(agent, 'a reconcile with the Node list', (l) => l.msg === 'reconciled' && typeof l['routes'] === 'number');
    expect(existsSync(join(node.confDir, CONFLIST))).toBe(false);
    expect(await cluster.readyz(node)).toBe(503);

    podCIDR = await cluster.createNodeObject('node-a', node.ip);
    const conf = await waitFor('the conflist', () => existsSync(join(node.confDir, CONFLIST)) && readFileSync(join(node.confDir, CONFLIST), 'utf8'));
    expect(JSON.parse(conf)).toEqual({
      cniVersion: '1.0.0', // the newest version Debian's portmap (1.1.1) shares with podwire
      name: 'podwire',
      plugins: [
        { type: 'podwire', capabilities: { bandwidth: true }, podCIDR, pinDir: node.pinDir, stateDir: node.stateDir, mtu: 1500, agentSocket: join(cluster.dir, 'node-a', 'cni.sock') },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    });
    await waitFor('/readyz 200', async () => (await cluster.readyz(node)) === 200);
    expect(routeOf(podCIDR)).toEqual({ cidr: podCIDR, nodeIp: node.ip, kind: 'local' });
  });

  it('fills the routes map from Nodes, follows address changes and removes deleted Nodes', async () => {
    const b = await cluster.createNodeObject('node-b', '172.30.0.50');
    const c = await cluster.createNodeObject('node-c', '172.30.0.51');
    await waitFor('routes of node-b and node-c', () => routeOf(b)?.nodeIp === '172.30.0.50' && routeOf(c)?.nodeIp === '172.30.0.51');
    expect(routeOf(b)?.kind).toBe('remote');
    await waitFor('kernel routes', async () => (await kernelRoutes(node)).includes(`${c} nhid ${nexthopIdOf('172.30.0.51')} via 172.30.0.51`));

    await cluster.setNodeIp('node-b', '172.30.0.52');
    await waitFor('node-b route update', () => routeOf(b)?.nodeIp === '172.30.0.52');
    await cluster.deleteNodeObject('node-c');
    await waitFor('node-c route removal', () => routeOf(c) === undefined);
    await waitFor('node-c kernel route removal', async () => !(await kernelRoutes(node)).includes(c));
    expect(routeOf(b)).toEqual({ cidr: b, nodeIp: '172.30.0.52', kind: 'remote' });
    // the run's log line comes after its last step
    const diff = await cluster.waitLog(agent, 'a reconcile that removed a route', (l) => l.msg === 'reconciled' && (l['routesRemoved'] as number) > 0);
    expect(typeof diff['durationMs']).toBe('number');
  });

  const faults: Array<[string, () => Promise<unknown>, (before: number, injected: unknown) => void | Promise<void>]> = [
    [
      'watches closed by the server',
      () => cluster.faults({ closeWatches: true }),
      async (_before, injected) => {
        // the fault really hit the agent's watches (nodes and pods), and they came back: closing
        // again finds them open
        expect((injected as { closedWatches?: number }).closedWatches).toBeGreaterThanOrEqual(2);
        const again = await cluster.faults({ closeWatches: true });
        expect(again['closedWatches']).toBeGreaterThanOrEqual(2);
      },
    ],
    [
      'HTTP 500 on the next watches',
      async () => {
        await cluster.faults({ failNextWatches: 4 });
        await cluster.faults({ closeWatches: true });
      },
      (before) => {
        const hits = readLog(agent.log).slice(before).filter((l) => l.msg === 'watch failed; restarting' && l['statusCode'] === 500);
        expect(hits.length).toBeGreaterThan(0);
      },
    ],
    [
      '410 Gone (history compacted)',
      () => cluster.faults({ expireHistory: true }),
      async (before) => {
        // every informer relists (routes: nodes, pods; NetworkPolicy: the cluster-wide caches);
        // the pods one may finish after the Node change above arrived
        const all = ['namespaces', 'networkpolicies', 'nodes', 'pods', 'policy-pods', 'services'];
        const relisted = () => [...new Set(readLog(agent.log).slice(before).filter((l) => l.msg === 'relisted').map((l) => String(l['informer'])))].sort();
        await waitFor('every informer to relist', () => all.every((i) => relisted().includes(i)), 15_000);
        expect(relisted()).toEqual(all);
      },
    ],
    [
      'connection refused for 3 s',
      async () => {
        await cluster.faults({ refuseConnectionsMs: 3000 });
        await sleep(3500);
      },
      (before) => {
        const hits = readLog(agent.log).slice(before).filter((l) => l.msg === 'watch failed; restarting' && l['code'] === 'ECONNREFUSED');
        expect(hits.length).toBeGreaterThan(0);
      },
    ],
  ];

  it.each(faults.map((f, i) => [f[0], i] as const))('survives %s without flushing, then converges', async (_name, i) => {
    const [, inject, check] = faults[i]!;
    const keep = routes().map((r) => r.cidr);
    expect(keep.length).toBeGreaterThanOrEqual(2);
    const mapIdBefore = await routesMapId();
    const logBefore = readLog(agent.log).length;
    const s = sampleRoutes(keep);
    let result;
    let injected: unknown;
    try {
      injected = await inject();
      // a change made after the fault must arrive: the watch is back (or a relist happened)
      const t0 = performance.now();
      const cidr = await cluster.createNodeObject(`node-f${i}`, `172.30.0.${60 + i}`);
      await waitFor(`route of node-f${i} after the fault`, () => routeOf(cidr)?.nodeIp === `172.30.0.${60 + i}`, 30_000, 10);
      console.log(`[agent] after "${_name}": a new Node reached the routes map in ${Math.round(performance.now() - t0)} ms`);
    } finally {
      result = s.stop();
    }
    console.log(`[agent] "${_name}": ${result.samples} routes-map samples, ${result.missing.length} missing an entry`);
    // Sampling can miss a brief flush; the agent's own record cannot: it logs every deletion
    // from the routes map ("routes removed"), and a replaced map would have a new id.
    const removed = readLog(agent.log).slice(logBefore).filter((l) => l.msg === 'routes removed').flatMap((l) => l['cidrs'] as string[]);
    expect(removed.filter((c) => keep.includes(c))).toEqual([]);
    expect(await routesMapId()).toBe(mapIdBefore);
    expect(result.samples).toBeGreaterThanOrEqual(5);
    expect(result.missing).toEqual([]);
    await check(logBefore, injected);
    expect(agent.child.exitCode).toBeNull();
  }, 60_000);

  it('SIGKILL leaves programs, attachments and maps in place; a restarted agent adopts them and converges', async () => {
    const ids = await pinnedProgramIds(node.pinDir);
    const uplinkProg = await attachedProgramId('eth0', { netns: node.netns.path });
    expect(uplinkProg).toBe(ids['from_uplink']);
    const before = routes();

    agent.child.kill('SIGKILL');
    expect((await agent.exited).signal).toBe('SIGKILL');
    expect(await pinnedProgramIds(node.pinDir)).toEqual(ids);
    expect(await attachedProgramId('eth0', { netns: node.netns.path })).toBe(uplinkProg);
    expect(routes()).toEqual(before);
    expect(existsSync(join(node.confDir, CONFLIST))).toBe(true);

    // the cluster changes while the agent is down
    await cluster.deleteNodeObject('node-f0');
    const d = await cluster.createNodeObject('node-d', '172.30.0.70');
    const gone = before.find((r) => r.nodeIp === '172.30.0.60')!.cidr;

    agent = cluster.startAgent(node, { extra: ['--gc-grace', '2s'] });
    const adopted = await cluster.waitLog(agent, 'datapath adopted', (l) => l.msg === 'datapath adopted' || l.msg === 'loading datapath');
    expect(adopted.msg).toBe('datapath adopted');
    expect(adopted['programs']).toEqual(ids);
    const first = readLog(cluster.procs[0]!.log).find((l) => l.msg === 'datapath loaded')!;
    console.log(`[agent] datapath: compile+load ${first['durationMs']} ms, adopt after SIGKILL ${adopted['durationMs']} ms`);
    await waitFor('convergence after restart', () => routeOf(d)?.nodeIp === '172.30.0.70' && routeOf(gone) === undefined);
    expect(await pinnedProgramIds(node.pinDir)).toEqual(ids);
    expect(await attachedProgramId('eth0', { netns: node.netns.path })).toBe(uplinkProg);
  }, 60_000);

  it('collects an endpoint whose pod is not in the API after the grace period, keeps published ones, drops dead veths', async () => {
    const conf = JSON.parse(readFileSync(join(node.confDir, CONFLIST), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    const pluginConf = { ...conf.plugins[0], cniVersion: conf.cniVersion, name: conf.name };
    const pods: Netns[] = [];
    try {
      // as kubelet does, the kept pod's object exists before its sandbox and its IP is published
      // right after its ADD: the 2 s grace must not expire between the two on a loaded machine
      await cluster.api('POST', '/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'kept', namespace: 'default' },
        spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
      });
      const ips: string[] = [];
      for (const name of ['kept', 'orphan']) {
        const ns = await createNetns('pwagp');
        pods.push(ns);
        const out = await execCni({
          plugin: podwireBin(),
          command: 'ADD',
          containerId: `ctr-${name}-${ns.name}`,
          netns: ns.path,
          ifname: 'eth0',
          args: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name}`,
          config: pluginConf,
          nodeNetns: node.netns.path,
        });
        expect(out.exitCode, out.stdout + out.stderr).toBe(0);
        const ip = ((out.json!['ips'] as { address: string }[])[0]!.address).split('/')[0]!;
        ips.push(ip);
        if (name === 'kept') {
          await cluster.api('PATCH', '/api/v1/namespaces/default/pods/kept/status', { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } }, 'application/merge-patch+json');
        }
      }
      const [keptIp, orphanIp] = ips as [string, string];

      const eps = () => {
        const m = openEndpoints(node.pinDir);
        try {
          return new Map(m.list().map((e) => [e.ip, e]));
        } finally {
          m.close();
        }
      };
      expect(eps().has(orphanIp)).toBe(true);
      const store = new IpamStore(node.stateDir);
      // logged after the entry, the veth and the address are gone
      const collected = await cluster.waitLog(agent, 'the orphan endpoint to be collected', (l) => l.msg === 'endpoint collected' && l['ip'] === orphanIp);
      expect(collected).toMatchObject({ reason: 'pod-gone', released: true });
      expect(eps().has(orphanIp)).toBe(false);
      expect(store.list().map((a) => a.ip)).not.toContain(orphanIp);
      const links = (await run('ip', ['-o', 'link', 'show'], { netns: node.netns.path })).stdout;
      expect(links).not.toContain(`${collected['veth'] as string}@`);
      expect(eps().has(keptIp)).toBe(true);

      // the kept pod's netns dies (its veth goes with it): the entry goes at once, the address
      // stays allocated (the pod is still in the API; the runtime's DEL releases it)
      await pods[0]!.remove();
      const dropped = await cluster.waitLog(agent, 'the dead veth endpoint to be dropped', (l) => l.msg === 'endpoint collected' && l['ip'] === keptIp);
      expect(dropped).toMatchObject({ reason: 'veth-gone', released: false });
      expect(eps().has(keptIp)).toBe(false);
      expect(store.list().map((a) => a.ip)).toContain(keptIp);
    } finally {
      for (const p of pods) await p.remove();
    }
  }, 60_000);

  it('a vxlan node writes pod MTU = uplink MTU - 50 and fills its own routes map', async () => {
    const v = await cluster.addNode('node-v');
    const p = cluster.startAgent(v, { mode: 'vxlan' });
    const cidr = await cluster.createNodeObject('node-v', v.ip);
    const conf = await waitFor('the vxlan conflist', () => existsSync(join(v.confDir, CONFLIST)) && readFileSync(join(v.confDir, CONFLIST), 'utf8'));
    expect((JSON.parse(conf) as { plugins: { mtu: number; podCIDR: string }[] }).plugins[0]).toMatchObject({ mtu: 1450, podCIDR: cidr });
    await waitFor('node-v sees node-a', () => routeOf(podCIDR, v)?.kind === 'remote' && routeOf(cidr, v)?.kind === 'local');
    // and node-a sees node-v
    await waitFor('node-a sees node-v', () => routeOf(cidr)?.nodeIp === v.ip);
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  }, 60_000);

  it('SIGTERM stops cleanly and leaves pins and the conflist for the pods', async () => {
    const ids = await pinnedProgramIds(node.pinDir);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(readLog(agent.log).at(-1)?.msg).toBe('agent stopped');
    expect(readLog(agent.log).filter((l) => l.level === 'error')).toEqual([]);
    // the abort that stopping an informer causes is not mistaken for a failure
    const stopping = readLog(agent.log).findIndex((l) => l.msg === 'agent stopping; pins and conflist stay');
    expect(stopping).toBeGreaterThan(0);
    expect(readLog(agent.log).slice(stopping).filter((l) => l.msg === 'watch failed; restarting')).toEqual([]);
    expect(await pinnedProgramIds(node.pinDir)).toEqual(ids);
    expect(existsSync(join(node.confDir, CONFLIST))).toBe(true);
  });
});
