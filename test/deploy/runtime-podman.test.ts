// podman (CNI backend) drives the deployable binary on a 2-node lab: every lab process and the
// CNI plugin are dist/podwire, the network is the conflist the node's agent wrote (podwire +
// portmap) with Debian's bandwidth plugin appended. Containers on the two nodes reach each other
// without NAT, a hostPort is reachable through portmap, the bandwidth plugin's rate limit is in
// place, and removal leaves nothing behind. Every ADD and DEL is answered by the node's agent
// (its "cni request served" lines), not by the shim's fallback. hostPort is also reached from
// pods on its own node and on the other node (issue 9). Prints the plugin's CNI ADD
// latency through podman.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runJson } from '../../src/exec/run.js';
import { iperfTcp, startTcpEcho, tcpProbe, type TcpEchoServer } from '../../src/lab/traffic.js';
import type { LabNodeState } from '../../src/lab/state.js';
import { openEndpoints } from '../../src/maps/index.js';
import { uniqueName } from '../../src/netns/index.js';
import { busyboxRootfsTar, privatePodman } from '../../src/lab/podman.js';
import { servedFor } from '../lab/agent-served.js';
import { agentConflist, median, shimOverheadMs, timings, upSeaLab, type SeaLab } from './runtime-harness.js';
import { podVethsLeft } from './leftover-veths.js';

const RATE_BITS = 20_000_000; // bandwidth plugin ingressRate (to the pod), bits/s

interface Podman {
  node: LabNodeState;
  run(args: string[], opts?: { reject?: boolean }): ReturnType<typeof run>;
}

describe('podman on a 2-node lab, all dist/podwire', () => {
  let dir: string;
  let sl: SeaLab | undefined;
  const pm: Podman[] = [];
  const image = `localhost/${uniqueName('pwbb')}`;
  const containers: { p: Podman; name: string }[] = [];
  const servers: TcpEchoServer[] = [];
  let network = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pwrtp-'));
    sl = await upSeaLab(dir);
    const tar = await busyboxRootfsTar(dir);
    for (const node of sl.lab.state.nodes) {
      const nd = join(dir, node.name);
      const confDir = join(nd, 'net.d');
      await mkdir(confDir, { recursive: true });
      const conf = await agentConflist(node, [{ type: 'bandwidth', ingressRate: RATE_BITS, ingressBurst: 1_000_000 }]);
      network = conf.name;
      await writeFile(join(confDir, '05-podwire.conflist'), conf.text);
      const pod = await privatePodman({ dir: join(nd, 'podman'), netnsPath: node.netnsPath, confDir, pluginDirs: [sl.binDir, '/usr/lib/cni'] });
      const p: Podman = { node, run: pod.run };
      await p.run(['import', '--change', 'CMD ["/bin/sh"]', tar, image]);
      pm.push(p);
    }
  }, 300_000);

  afterAll(async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
    for (const c of containers) await c.p.run(['rm', '-f', '-t', '0', c.name], { reject: false });
    for (const p of pm) await p.run(['rmi', '-f', image], { reject: false });
    await sl?.lab.down();
    delete process.env['PODWIRE_BIN'];
    delete process.env['PODWIRE_CACHE_DIR'];
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 180_000);

  interface Container {
    name: string;
    /** What podman passes as CNI_CONTAINERID. */
    id: string;
    ip: string;
    netns: string;
    p: Podman;
  }
  const started: Container[] = [];

  async function runContainer(p: Podman, extra: string[] = []): Promise<Container> {
    const name = uniqueName('pwc');
    containers.push({ p, name });
    await p.run(['run', '-d', '--name', name, '--network', network, '--cap-add', 'NET_RAW', ...extra, image, 'sleep', '600']);
    const j = JSON.parse((await p.run(['inspect', name])).stdout) as Array<{ Id: string; NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> } }>;
    const ns = j[0]!.NetworkSettings;
    const c = { name, id: j[0]!.Id, ip: ns.Networks[network]!.IPAddress, netns: ns.SandboxKey, p };
    started.push(c);
    // the node's agent answered the ADD (the shim's fallback would leave no line)
    expect(servedFor(p.node.agentLog, c.id), `${name}: ADD served by ${p.node.name}'s agent`).toContainEqual(['ADD', 0]);
    return c;
  }

  it('containers on two nodes reach each other without NAT; a hostPort works through portmap; the rate limit is applied', async () => {
    const [p1, p2] = pm as [Podman, Podman];
    const c1 = await runContainer(p1);
    const c2 = await runContainer(p2, ['-p', `${p2.node.underlayIp}:18080:7000/tcp`]);
    expect(c1.ip.startsWith(p1.node.podCIDR.split('.').slice(0, 3).join('.'))).toBe(true);
    expect(c2.ip.startsWith(p2.node.podCIDR.split('.').slice(0, 3).join('.'))).toBe(true);

    const ping = await p1.run(['exec', c1.name, 'ping', '-c', '3', '-W', '2', c2.ip], { reject: false });
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
    // no NAT: the server in c2 sees c1's pod IP
    servers.push(await startTcpEcho(c2.netns, '0.0.0.0', 7000));
    const t = await p1.run(['exec', c1.name, 'nc', '-w', '3', c2.ip, '7000'], { reject: false });
    expect(t.stdout.trim().replace(/^::ffff:/, ''), t.stderr).toBe(c1.ip);

    // portmap: node-1's host → node-2's address:18080 → c2:7000
    const m = await tcpProbe(p1.node.netnsPath, p2.node.underlayIp, 18080);
    expect(m.ok, m.error).toBe(true);

    // bandwidth: tbf on c2's host-side veth at the configured rate
    const hostVeth = (await runJson<{ ifname: string; link_netnsid?: number }[]>('ip', ['-j', 'link', 'show', 'type', 'veth'], { netns: p2.node.netnsPath }))
      .map((l) => l.ifname);
    const qdiscs = await runJson<{ kind: string; dev: string; options?: { rate?: number } }[]>('tc', ['-j', 'qdisc', 'show'], { netns: p2.node.netnsPath });
    const tbf = qdiscs.filter((q) => q.kind === 'tbf' && hostVeth.includes(q.dev));
    expect(tbf).toHaveLength(1);
    expect(tbf[0]!.options?.rate).toBe(RATE_BITS / 8);
    // through the node's stack (node-2 host → c2) the tbf shapes; pod → pod is forwarded by
    // bpf_redirect_peer straight into c2's eth0 and never passes the host veth's qdisc
    const shaped = await iperfTcp(c2.netns, c2.ip, p2.node.netnsPath, { seconds: 2, port: 5301 });
    const podToPod = await iperfTcp(c2.netns, c2.ip, c1.netns, { seconds: 2, port: 5302 });
    console.log(`bandwidth ingressRate ${RATE_BITS / 1e6} Mbit/s: node→pod ${(shaped.gbps * 1000).toFixed(1)} Mbit/s, pod→pod (redirect_peer) ${(podToPod.gbps * 1000).toFixed(1)} Mbit/s`);
    expect(shaped.gbps * 1e9).toBeLessThan(RATE_BITS * 1.5);
    hostPortTarget = { c2, c1 };
  }, 240_000);

  let hostPortTarget: { c1: Container; c2: Container } | undefined;

  // issue 9: the DNATed pod's reply must go back through the stack (conntrack un-NAT), not
  // straight into the client by the fast path
  it('a pod on the other node reaches the hostPort (issue 9)', async () => {
    const { c1 } = hostPortTarget!;
    const [, p2] = pm as [Podman, Podman];
    const m = await tcpProbe(c1.netns, p2.node.underlayIp, 18080);
    expect(m.ok, m.error).toBe(true);
  }, 60_000);

  it('a second container on node 2 (the hostPort pod\'s node) starts, wired by the agent', async () => {
    const [, p2] = pm as [Podman, Podman];
    const c3 = await runContainer(p2);
    // control: pod → pod on the same node works, only the hostPort path is broken
    const t = await tcpProbe(c3.netns, hostPortTarget!.c2.ip, 7000);
    expect(t.peerSeen, t.error).toBe(c3.ip);
    hostPortTarget = { ...hostPortTarget!, c1: c3 };
  }, 120_000);

  it('a pod on the same node reaches the hostPort (issue 9)', async () => {
    const [, p2] = pm as [Podman, Podman];
    const m = await tcpProbe(hostPortTarget!.c1.netns, p2.node.underlayIp, 18080);
    expect(m.ok, m.error).toBe(true);
  }, 60_000);

  it('removal runs DEL through the chain and leaves nothing on either node', async () => {
    await Promise.allSettled(servers.splice(0).map((s) => s.stop()));
    for (const c of containers.splice(0)) await c.p.run(['rm', '-f', '-t', '0', c.name]);
    // every DEL was answered by the agent too
    for (const c of started) expect(servedFor(c.p.node.agentLog, c.id), c.name).toContainEqual(['DEL', 0]);
    for (const p of pm) {
      expect(await podVethsLeft(p.node.netnsPath), p.node.name).toEqual([]);
      const eps = openEndpoints(p.node.pinDir);
      try {
        expect(eps.list(), p.node.name).toEqual([]);
      } finally {
        eps.close();
      }
      // no reject: false — a failing iptables must fail the test, not pass the negative check
      const nat = await run('iptables', ['-t', 'nat', '-S'], { netns: p.node.netnsPath });
      expect(nat.stdout).toContain('-P PREROUTING'); // a real listing of the nat table
      expect(nat.stdout).not.toContain('18080');
      const ifb = await runJson<unknown[]>('ip', ['-j', 'link', 'show', 'type', 'ifb'], { netns: p.node.netnsPath });
      expect(ifb).toEqual([]);
    }
    const t = await timings(sl!.timingLog);
    const shim = await shimOverheadMs(dir);
    console.log(
      `dist/podwire through podman: ADD median ${(median(t['ADD'] ?? []) - shim).toFixed(1)} ms (n=${t['ADD']?.length ?? 0}), ` +
        `DEL ${(median(t['DEL'] ?? []) - shim).toFixed(1)} ms, VERSION ${(median(t['VERSION'] ?? []) - shim).toFixed(1)} ms (shim ${shim.toFixed(1)} ms subtracted)`,
    );
    expect(t['ADD']?.length).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
