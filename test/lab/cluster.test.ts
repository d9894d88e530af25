// The 2-node lab end to end, in both cross-node modes: API server, one agent per node, pods
// wired through the CNI chain the agent's conflist names. Connectivity matrix (pod↔pod same
// and cross node, node↔local pod, hostNetwork pod↔remote pod) without NAT and without the
// nodes' IP stacks forwarding pod traffic; convergence when pods and nodes come and go; an
// agent SIGKILLed in the middle of a stream. Every ADD/DEL must be answered by the node's agent
// (its "cni request served" log lines), and the shim's fallback is shown to work on its own.
// hostPort is reached from the other node's host and from pods on its own and the other node (issue 9).
import { randomBytes } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/exec/run.js';
import { Lab, alive } from '../../src/lab/cluster.js';
import { DEFAULT_VXLAN_DATAPATH } from '../../src/agent/config.js';
import { connectivityMatrix } from '../../src/lab/matrix.js';
import { forwardedDatagrams } from '../../src/lab/snmp.js';
import { addNetworkList, delNetworkList, loadConflist, type NetworkList, type RuntimeConf } from '../../src/lab/runtime.js';
import { ping, startTcpEcho, tcpProbe, type TcpEchoServer } from '../../src/lab/traffic.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { servedFor } from './agent-served.js';
import { pinnedProgramId } from '../../src/loader/index.js';
import { openEndpoints, openRoutes } from '../../src/maps/index.js';

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

function routeCidrs(pinDir: string): string[] {
  const r = openRoutes(pinDir);
  try {
    return r.list().map((x) => x.cidr).sort();
  } finally {
    r.close();
  }
}

// vxlan runs with the agent's default datapath and with the other one named explicitly
const OTHER_VXLAN_DATAPATH = DEFAULT_VXLAN_DATAPATH === 'bpf' ? 'device' : 'bpf';
for (const [mode, vxlanDatapath] of [['native', undefined], ['vxlan', undefined], ['vxlan', OTHER_VXLAN_DATAPATH]] as const) {
  describe(`2-node lab, ${mode} mode${vxlanDatapath ? ` (--vxlan-datapath ${vxlanDatapath})` : ''}`, () => {
    let lab: Lab;
    let tmp: string;

    beforeAll(async () => {
      tmp = await mkdtemp(join(tmpdir(), `pwlab-${mode}-`));
      lab = await Lab.up({ nodes: 2, podsPerNode: 2, mode, ...(vxlanDatapath ? { vxlanDatapath } : {}), proxyMode: 'none', statePath: join(tmp, 'lab.json'), dir: join(tmp, 'lab'), name: `t${mode.slice(0, 1)}${vxlanDatapath ? vxlanDatapath.slice(0, 1) : ''}${Math.random().toString(16).slice(2, 6)}` });
      for (const n of lab.state.nodes) await lab.addPod(n.name, `host-${n.name}`, { hostNetwork: true });
    }, 180_000);

    afterAll(async () => {
      await lab?.down();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    }, 60_000);

    it('fills every node\'s routes map with every podCIDR', () => {
      const cidrs = lab.state.nodes.map((n) => n.podCIDR).sort();
      for (const n of lab.state.nodes) expect(routeCidrs(n.pinDir)).toEqual(cidrs);
    });

    it('every pod was wired by its node\'s agent, not by the shim\'s fallback', () => {
      const pods = lab.state.pods.filter((p) => !p.hostNetwork);
      expect(pods.length).toBeGreaterThanOrEqual(4);
      for (const p of pods) {
        const node = lab.state.nodes.find((n) => n.name === p.node)!;
        expect(servedFor(node.agentLog, p.containerId), `${p.name} on ${node.name}`).toContainEqual(['ADD', 0]);
      }
    });

    it('the shim falls back to podwire-full when the agent socket is gone, and the pod still works', async () => {
      const n2 = lab.state.nodes[1]!;
      const sock = join(lab.state.dir, n2.name, 'cni.sock');
      await rename(sock, `${sock}.away`);
      let pod: { containerId: string; ip: string } | undefined;
      try {
        pod = await lab.addPod(n2.name, 'fallback-2');
      } finally {
        await rename(`${sock}.away`, sock);
      }
      expect(servedFor(n2.agentLog, pod.containerId)).toEqual([]); // nobody but the fallback answered
      expect((await ping(lab.pod('pod-1-1').netnsPath, pod.ip, { count: 2 })).ok).toBe(true);
      await lab.delPod('fallback-2'); // socket back: the agent answers the DEL
      expect(servedFor(n2.agentLog, pod.containerId)).toEqual([['DEL', 0]]);
    });

    it('connects pods on the same and on different nodes without NAT or host forwarding', async () => {
      const pods = lab.state.pods.filter((p) => !p.hostNetwork).map((p) => ({ name: p.name, netnsPath: p.netnsPath, ip: p.ip }));
      expect(pods).toHaveLength(4);
      const before = await Promise.all(lab.state.nodes.map((n) => forwardedDatagrams(n.netnsPath)));
      const cells = await connectivityMatrix(pods);
      expect(cells.filter((c) => !c.ok).map((c) => `${c.from}→${c.to}: ${c.detail}`)).toEqual([]);
      expect(cells).toHaveLength(12);
      const after = await Promise.all(lab.state.nodes.map((n) => forwardedDatagrams(n.netnsPath)));
      expect(after).toEqual(before);
    });

    it('connects each node to its pods and hostNetwork pods to remote pods, keeping source IPs', async () => {
      const byName = new Map(lab.state.pods.map((p) => [p.name, { name: p.name, netnsPath: p.netnsPath, ip: p.ip }]));
      const pairs: Array<[string, string]> = [
        ['host-node-1', 'pod-1-1'], ['pod-1-1', 'host-node-1'], // node ↔ local pod
        ['host-node-2', 'pod-2-2'], ['pod-2-2', 'host-node-2'],
        ['host-node-1', 'pod-2-1'], ['pod-2-1', 'host-node-1'], // hostNetwork ↔ remote pod
        ['host-node-2', 'pod-1-2'], ['pod-1-2', 'host-node-2'],
      ];
      const cells = await connectivityMatrix([...byName.values()], { pairs });
      expect(cells.filter((c) => !c.ok).map((c) => `${c.from}→${c.to}: ${c.detail}`)).toEqual([]);
    });

    it('converges when pods and nodes come and go, and traffic follows', async () => {
      const [n1, n2] = lab.state.nodes;
      const client = lab.pod('pod-1-1');
      // A new pod on node 2: reachable from node 1 at once (routes cover its podCIDR).
      const fresh = await lab.addPod(n2!.name, 'late-2');
      expect((await ping(client.netnsPath, fresh.ip, { count: 2 })).ok).toBe(true);
      await lab.delPod('late-2');
      expect(servedFor(n2!.agentLog, fresh.containerId)).toEqual([['ADD', 0], ['DEL', 0]]);
      const eps = openEndpoints(n2!.pinDir);
      try {
        expect(eps.get(fresh.ip)).toBeUndefined();
      } finally {
        eps.close();
      }
      expect((await ping(client.netnsPath, fresh.ip, { count: 1 })).ok).toBe(false);

      // A stale endpoint (veth gone behind the CNI's back) is collected by the agent.
      const victim = await lab.addPod(n2!.name, 'stale-2');
      await run('ip', ['netns', 'del', victim.netnsName]); // removes the pod's veth pair
      await until('agent to collect the stale endpoint', () => {
        const m = openEndpoints(n2!.pinDir);
        try {
          return m.get(victim.ip) === undefined ? true : undefined;
        } finally {
          m.close();
        }
      });
      // Deleting the Pod then runs DEL through the chain on a pod whose namespace is gone.
      await lab.delPod('stale-2');

      // A third node joins: every node learns its podCIDR, its pods are reachable; it leaves:
      // the route disappears everywhere.
      const t0 = performance.now();
      const n3 = await lab.addNode();
      const all = () => lab.state.nodes.map((n) => n.podCIDR).sort();
      for (const n of [n1!, n2!]) await until(`routes on ${n.name} to include ${n3.podCIDR}`, () => (JSON.stringify(routeCidrs(n.pinDir)) === JSON.stringify(all()) ? true : undefined));
      const joinMs = performance.now() - t0;
      await lab.waitReady(60_000);
      await until(`routes on ${n3.name}`, () => (JSON.stringify(routeCidrs(n3.pinDir)) === JSON.stringify(all()) ? true : undefined));
      const p3 = await lab.addPod(n3.name, 'pod-3-1');
      await until(`pod-1-1 → pod-3-1`, async () => ((await ping(client.netnsPath, p3.ip, { count: 1 })).ok ? true : undefined));
      const t1 = performance.now();
      await lab.removeNode(n3.name);
      for (const n of [n1!, n2!]) await until(`routes on ${n.name} to drop ${n3.podCIDR}`, () => (!routeCidrs(n.pinDir).includes(n3.podCIDR) ? true : undefined));
      // Reported in the closing note (not asserted: timing on a shared machine).
      process.stdout.write(`[${mode}] node join → podCIDR in both other nodes' routes: ${joinMs.toFixed(0)} ms; node removal → routes gone: ${(performance.now() - t1).toFixed(0)} ms (incl. stopping its agent)\n`);
    }, 120_000);

    it('keeps forwarding while an agent is SIGKILLed; its kubelet restarts it, and the restarted agent adopts the pinned datapath', async () => {
      const [n1, n2] = lab.state.nodes;
      const server = lab.pod('pod-2-1');
      const client = lab.pod('pod-1-1');
      const idsBefore = await Promise.all([n1!, n2!].map((n) => pinnedProgramId(n.pinDir)));
      // A bounded UDP stream across nodes (1000 pps for 6 s); both agents die at ~2 s.
      const srv = run('iperf3', ['-s', '-1', '-B', server.ip, '-p', '5301'], { netns: server.netnsPath, reject: false, timeoutMs: 30_000 });
      await sleep(300);
      const cli = run('iperf3', ['-c', server.ip, '-p', '5301', '-u', '-b', '8M', '-l', '1000', '-t', '6', '-J'], { netns: client.netnsPath, reject: false, timeoutMs: 30_000 });
      await sleep(2000);
      const killed = [n1!, n2!].map((n) => n.agentPid!);
      for (const pid of killed) process.kill(pid, 'SIGKILL');
      await until('agents to die', () => (killed.every((pid) => !alive(pid)) ? true : undefined), 5000);
      // Nobody calls startAgent: each node's kubelet restarts its agent (issue 14 #9).
      await until('kubelets to restart the agents', async () => {
        const nodes = (await lab.refresh()).nodes.slice(0, 2);
        return nodes.every((n, i) => n.agentPid !== killed[i] && alive(n.agentPid!) && (n.agentRestarts ?? 0) >= 1) ? true : undefined;
      }, 30_000);
      const out = await cli;
      await srv;
      const j = JSON.parse(out.stdout) as { end: { sum: { lost_percent: number; packets: number; lost_packets: number } } };
      // Counted in datagrams (1000 per second): both agents are dead for >= 2 s, so a datapath
      // that stopped with them loses >= 2000. The allowance covers a loaded 2-core machine
      // dropping a burst at the receiver's socket; it is far below one outage.
      const ALLOWED_LOST_DATAGRAMS = 250;
      process.stdout.write(`[${mode}] agent SIGKILL: ${j.end.sum.lost_packets}/${j.end.sum.packets} datagrams lost (${j.end.sum.lost_percent.toFixed(2)}%), allowance ${ALLOWED_LOST_DATAGRAMS}\n`);
      expect(j.end.sum.packets).toBeGreaterThan(4000);
      expect(j.end.sum.lost_packets).toBeLessThanOrEqual(ALLOWED_LOST_DATAGRAMS);
      // The restarted agents become ready again without reloading the programs.
      await until('restarted agents to be ready', async () => {
        const ok = await Promise.all([n1!, n2!].map((n) => run('nsenter', [`--net=${n.netnsPath}`, '--', process.execPath, '-e', "fetch('http://127.0.0.1:9879/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"], { reject: false })));
        return ok.every((r) => r.exitCode === 0) ? true : undefined;
      }, 60_000);
      const idsAfter = await Promise.all([n1!, n2!].map((n) => pinnedProgramId(n.pinDir)));
      expect(idsAfter).toEqual(idsBefore);
      expect((await ping(client.netnsPath, server.ip, { count: 2 })).ok).toBe(true);
    }, 120_000);

    describe('hostPort (portmap in the agent\'s chain) to a pod on node 2', () => {
      const HOST_PORT = 18090;
      let list: NetworkList;
      let rt: RuntimeConf;
      let podNs: Netns | undefined;
      let server: TcpEchoServer | undefined;
      let result: Record<string, unknown> | undefined;

      beforeAll(async () => {
        const n2 = lab.state.nodes[1]!;
        list = (await loadConflist(n2.cniConfDir)).list;
        expect(list.plugins.map((p) => p.type)).toContain('portmap');
        podNs = await createNetns('pwhp');
        const containerId = randomBytes(32).toString('hex');
        rt = {
          containerId,
          netns: podNs.path,
          ifname: 'eth0',
          args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=hostport-2;K8S_POD_INFRA_CONTAINER_ID=${containerId}`,
          pluginDirs: lab.pluginDirs(),
          nodeNetns: n2.netnsPath,
          capabilityArgs: { portMappings: [{ hostPort: HOST_PORT, containerPort: 7090, protocol: 'tcp' }] },
        };
        result = await addNetworkList(list, rt);
        server = await startTcpEcho(podNs.path, '0.0.0.0', 7090);
      }, 60_000);

      afterAll(async () => {
        await server?.stop();
        if (result) await delNetworkList(list, rt, result);
        await podNs?.remove();
      }, 60_000);

      it('is reachable from the other node\'s host namespace (control: portmap and the pod work)', async () => {
        expect(servedFor(lab.state.nodes[1]!.agentLog, rt.containerId)).toEqual([['ADD', 0]]);
        const t = await tcpProbe(lab.state.nodes[0]!.netnsPath, lab.state.nodes[1]!.underlayIp, HOST_PORT);
        expect(t.ok, t.error).toBe(true);
      });

      // issue 9: the DNATed pod's reply must go back through the stack (conntrack un-NAT), not
      // straight into the client by the fast path
      it('is reachable from a pod on the same node (issue 9)', async () => {
        const t = await tcpProbe(lab.pod('pod-2-2').netnsPath, lab.state.nodes[1]!.underlayIp, HOST_PORT);
        expect(t.ok, t.error).toBe(true);
      });

      it('is reachable from a pod on the other node (issue 9)', async () => {
        const t = await tcpProbe(lab.pod('pod-1-1').netnsPath, lab.state.nodes[1]!.underlayIp, HOST_PORT);
        expect(t.ok, t.error).toBe(true);
      });
    });
  });
}
