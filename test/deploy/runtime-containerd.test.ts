// containerd 1.6 drives the deployable binary on a 2-node lab (agents, API server and plugin all
// dist/podwire). One private containerd per node, started inside the node's namespace with its own
// root/state/socket and stopped by PID; `ctr run --cni` (which execs the plugins itself, from the
// fixed paths /opt/cni/bin and /etc/cni/net.d) runs in a private mount namespace where those two
// paths are bind mounts of this test's directories, so nothing lands in the real ones. Containers
// on the two nodes reach each other without NAT and `ctr` removes their networks (DEL) when they
// end. The CRI path kubelet uses is reproduced call for call (containerd's CRI plugin needs a
// kubelet to drive it): loopback at 0.3.1, K8S_POD_* CNI_ARGS, a single CNI_PATH directory,
// capitalised portMappings keys, DEL twice. Every ADD and DEL is answered by the node's agent
// (its "cni request served" lines), not by the shim's fallback. hostPort is also reached from
// pods on its own node and on the other node (issue 9).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runJson } from '../../src/exec/run.js';
import { execCni } from '../../src/lab/cni-exec.js';
import { addNetworkList, delNetworkList, type NetworkList, type RuntimeConf } from '../../src/lab/runtime.js';
import type { LabNodeState } from '../../src/lab/state.js';
import { startTcpEcho, tcpProbe } from '../../src/lab/traffic.js';
import { openEndpoints } from '../../src/maps/index.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';
import { busyboxRootfsTar } from '../../src/lab/podman.js';
import { servedRequests } from '../lab/agent-served.js';
import { agentConflist, median, shimOverheadMs, timings, upSeaLab, type SeaLab } from './runtime-harness.js';
import { podVethsLeft } from './leftover-veths.js';

const NS = 'k8s.io';

interface Containerd {
  node: LabNodeState;
  proc: ChildProcess;
  socket: string;
  confDir: string;
  /** ctr with this node's socket, in the node's netns, with the CNI paths bound to the test's. */
  ctrArgs(args: string[]): [string, string[]];
}

describe('containerd 1.6 on a 2-node lab, all dist/podwire', () => {
  let dir: string;
  let sl: SeaLab | undefined;
  const cds: Containerd[] = [];
  const image = `localhost/${uniqueName('pwbb')}:latest`;
  const running: { cd: Containerd; id: string; proc: ChildProcess }[] = [];
  // containerd 1.6 and its shims put fifo/socket/runc-state directories under this fixed path
  const RUN_DIR = '/run/containerd';
  const runDirExisted = existsSync(RUN_DIR);

  beforeAll(async () => {
    if (!existsSync('/usr/bin/containerd') || !existsSync('/usr/bin/ctr')) throw new Error('containerd is missing: run deploy/host-prereqs.sh');
    dir = await mkdtemp(join(tmpdir(), 'pwrtc-'));
    sl = await upSeaLab(dir);
    // image: busybox rootfs → podman (throw-away storage) → docker-archive → ctr import
    const tar = await busyboxRootfsTar(dir);
    const storage = ['--root', join(dir, 'pm-root'), '--runroot', join(dir, 'pm-runroot'), '--storage-driver', 'vfs', '--tmpdir', join(dir, 'pm-tmp')];
    await run('podman', [...storage, 'import', '--change', 'CMD ["/bin/sh"]', tar, image]);
    const archive = join(dir, 'busybox.docker.tar');
    await run('podman', [...storage, 'save', '--format', 'docker-archive', '-o', archive, image]);
    await run('podman', [...storage, 'rmi', '-f', image], { reject: false });

    for (const node of sl.lab.state.nodes) {
      const nd = join(dir, node.name);
      const confDir = join(nd, 'net.d');
      await mkdir(confDir, { recursive: true });
      await writeFile(join(confDir, '05-podwire.conflist'), (await agentConflist(node)).text);
      const socket = join(nd, 'containerd.sock');
      const config = join(nd, 'containerd.toml');
      await writeFile(config, [
        'version = 2',
        `root = "${join(nd, 'root')}"`,
        `state = "${join(nd, 'state')}"`,
        // ctr is the client here: the CRI plugin would want a kubelet and the real CNI paths
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${socket}"`,
        '[ttrpc]',
        `  address = "${socket}.ttrpc"`,
        '',
      ].join('\n'));
      const proc = spawn('nsenter', [`--net=${node.netnsPath}`, '--', 'containerd', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
      const binDir = sl.binDir;
      const cd: Containerd = {
        node,
        proc,
        socket,
        confDir,
        ctrArgs: (args) => [
          'nsenter',
          [`--net=${node.netnsPath}`, '--', 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c',
            'mount -t tmpfs pwopt /opt && mkdir -p /opt/cni/bin && mount --bind "$0" /opt/cni/bin && mount --bind "$1" /etc/cni/net.d && shift && exec "$@"',
            binDir, confDir, 'ctr', '--address', socket, '-n', NS, ...args],
        ],
      };
      cds.push(cd);
      for (let i = 0; !existsSync(socket); i++) {
        if (proc.exitCode !== null || i > 200) throw new Error(`containerd of ${node.name} did not start: ${log}`);
        await sleep(100);
      }
      await ctr(cd, ['images', 'import', '--no-unpack=false', archive]);
    }
  }, 300_000);

  afterAll(async () => {
    for (const r of running) await ctr(r.cd, ['tasks', 'kill', '-s', 'KILL', r.id], { reject: false }).catch(() => {});
    for (const r of running) if (r.proc.exitCode === null) await new Promise((res) => r.proc.once('exit', res));
    for (const cd of cds) {
      await ctr(cd, ['containers', 'rm', ...running.filter((r) => r.cd === cd).map((r) => r.id)], { reject: false }).catch(() => {});
      if (cd.proc.pid !== undefined && cd.proc.exitCode === null) {
        const exited = new Promise((res) => cd.proc.once('exit', res));
        process.kill(cd.proc.pid, 'SIGTERM');
        await exited;
      }
    }
    await sl?.lab.down();
    delete process.env['PODWIRE_BIN'];
    delete process.env['PODWIRE_CACHE_DIR'];
    // only the empty directories it made, and only if there was no containerd here before us
    if (!runDirExisted) await run('find', [RUN_DIR, '-depth', '-type', 'd', '-empty', '-delete'], { reject: false });
    // containerd's root holds read-only image layers owned by root: rm -rf handles them
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 180_000);

  function ctr(cd: Containerd, args: string[], opts: { reject?: boolean } = {}) {
    const [cmd, argv] = cd.ctrArgs(args);
    return run(cmd, argv, { timeoutMs: 90_000, ...opts });
  }

  /** `ctr run --cni --rm` in the background: ctr stays up and tears the network down when the task ends. */
  async function runContainer(cd: Containerd): Promise<{ id: string; ip: string; netns: string }> {
    const id = uniqueName('pwctr');
    const [cmd, argv] = cd.ctrArgs(['run', '--cni', '--rm', image, id, 'sleep', '600']);
    const proc = spawn(cmd, argv, { stdio: 'ignore' });
    running.push({ cd, id, proc });
    for (let i = 0; ; i++) {
      const tasks = (await ctr(cd, ['tasks', 'ls'])).stdout;
      const line = tasks.split('\n').find((l) => l.startsWith(`${id} `) && /RUNNING/.test(l));
      if (line) {
        const pid = line.trim().split(/\s+/)[1]!;
        const netns = `/proc/${pid}/ns/net`;
        // ctr sets up the network after the task is created: wait for eth0's address
        for (let j = 0; j < 100; j++) {
          const addrs = await runJson<{ ifname: string; addr_info: { family: string; local: string }[] }[]>('ip', ['-j', 'addr', 'show', 'dev', 'eth0'], { netns, reject: false });
          const ip = addrs[0]?.addr_info.find((a) => a.family === 'inet')?.local;
          if (ip) {
            // ctr names the CNI container "<namespace>-<id>"; the node's agent answered its ADD
            const served = servedRequests(cd.node.agentLog).filter((r) => r.containerId?.endsWith(id)).map((r) => [r.command, r.exitCode]);
            expect(served, `${id}: ADD served by ${cd.node.name}'s agent`).toContainEqual(['ADD', 0]);
            return { id, ip, netns };
          }
          await sleep(100);
        }
        throw new Error(`${id}: eth0 got no address`);
      }
      if (proc.exitCode !== null || i > 300) throw new Error(`ctr run ${id} did not start a task (exit ${proc.exitCode})`);
      await sleep(100);
    }
  }

  it('ctr run --cni: containers on two nodes ping and talk TCP without NAT', async () => {
    const [cd1, cd2] = cds as [Containerd, Containerd];
    const c1 = await runContainer(cd1);
    const c2 = await runContainer(cd2);
    expect(c1.ip).not.toBe(c2.ip);
    const p = await run('ping', ['-c', '3', '-W', '2', c2.ip], { netns: c1.netns, reject: false });
    expect(p.exitCode, p.stdout + p.stderr).toBe(0);
    const server = await startTcpEcho(c2.netns, '0.0.0.0', 7000);
    try {
      const t = await tcpProbe(c1.netns, c2.ip, 7000);
      expect(t.peerSeen, t.error).toBe(c1.ip);
    } finally {
      await server.stop();
    }
  }, 180_000);

  it('when the tasks end, ctr runs DEL through the chain and nothing is left on either node', async () => {
    for (const r of running) await ctr(r.cd, ['tasks', 'kill', '-s', 'KILL', r.id]);
    for (const r of running.splice(0)) {
      if (r.proc.exitCode === null) await new Promise((res) => r.proc.once('exit', res));
    }
    for (const cd of cds) {
      expect(await podVethsLeft(cd.node.netnsPath), cd.node.name).toEqual([]);
      const eps = openEndpoints(cd.node.pinDir);
      try {
        expect(eps.list(), cd.node.name).toEqual([]);
      } finally {
        eps.close();
      }
    }
    for (const cd of cds) {
      const dels = servedRequests(cd.node.agentLog).filter((r) => r.command === 'DEL' && r.exitCode === 0);
      expect(dels.length, `DELs served by ${cd.node.name}'s agent`).toBeGreaterThanOrEqual(1);
    }
    const t = await timings(sl!.timingLog);
    expect(t['DEL']?.length).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('the CRI call sequence (loopback 0.3.1, K8S_POD_* args, one CNI_PATH dir, capitalised portMappings, DEL twice) is accepted', async () => {
    const node = sl!.lab.state.nodes[1]!;
    const client = sl!.lab.state.nodes[0]!;
    const podNs: Netns = await createNetns('pwcri');
    try {
      const conf = await agentConflist(node);
      const list = JSON.parse(conf.text) as NetworkList;
      const containerId = uniqueName('cri').padEnd(64, '0');
      const rt = {
        containerId,
        netns: podNs.path,
        ifname: 'eth0',
        args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=${containerId};K8S_POD_UID=0b1c2d3e-0000-4000-8000-000000000001`,
        pluginDirs: [sl!.binDir],
        nodeNetns: node.netnsPath,
        capabilityArgs: { portMappings: [{ HostPort: 18081, ContainerPort: 7001, Protocol: 'TCP', HostIP: '' }] },
      };
      // containerd's CRI plugin brings lo up with the loopback plugin first, at 0.3.1
      const lo = await execCni({
        plugin: join(sl!.binDir, 'loopback'), command: 'ADD', containerId, netns: podNs.path, ifname: 'lo', args: rt.args, path: rt.pluginDirs,
        config: { cniVersion: '0.3.1', name: 'cni-loopback', type: 'loopback' }, nodeNetns: node.netnsPath,
      });
      expect(lo.exitCode, lo.stdout + lo.stderr).toBe(0);
      const result = await addNetworkList(list, rt);
      expect(servedRequests(node.agentLog).filter((r) => r.containerId === containerId).map((r) => [r.command, r.exitCode])).toEqual([['ADD', 0]]);
      const ip = (result['ips'] as { address: string }[])[0]!.address.split('/')[0]!;
      // portmap read the capitalised keys: the hostPort on node-2's address reaches the pod
      const server = await startTcpEcho(podNs.path, '0.0.0.0', 7001);
      try {
        const m = await tcpProbe(client.netnsPath, node.underlayIp, 18081);
        expect(m.ok, m.error).toBe(true);
      } finally {
        await server.stop();
      }
      expect(ip.startsWith(node.podCIDR.split('.').slice(0, 3).join('.'))).toBe(true);
      // CRI: DEL on StopPodSandbox, again on RemovePodSandbox
      await delNetworkList(list, rt, result);
      await delNetworkList(list, rt, result);
      expect(servedRequests(node.agentLog).filter((r) => r.containerId === containerId).map((r) => [r.command, r.exitCode])).toEqual([['ADD', 0], ['DEL', 0], ['DEL', 0]]);
      // no reject: false — a failing iptables must fail the test, not pass the negative check
      const nat = await run('iptables', ['-t', 'nat', '-S'], { netns: node.netnsPath });
      expect(nat.stdout).toContain('-P PREROUTING'); // a real listing of the nat table
      expect(nat.stdout).not.toContain('18081');
    } finally {
      await podNs.remove();
    }
    const t = await timings(sl!.timingLog);
    const shim = await shimOverheadMs(dir);
    console.log(
      `dist/podwire through ctr run --cni + CRI sequence: ADD median ${(median(t['ADD'] ?? []) - shim).toFixed(1)} ms (n=${t['ADD']?.length ?? 0}), ` +
        `DEL ${(median(t['DEL'] ?? []) - shim).toFixed(1)} ms (n=${t['DEL']?.length ?? 0}) (shim ${shim.toFixed(1)} ms subtracted)`,
    );
  }, 120_000);

  describe('hostPort through the CRI sequence, reached from pods', () => {
    const HOST_PORT = 18082;
    const wired: { list: NetworkList; rt: RuntimeConf; result: Record<string, unknown>; ns: Netns; ip: string }[] = [];
    let server: Awaited<ReturnType<typeof startTcpEcho>> | undefined;

    async function criPod(node: LabNodeState, name: string, portMappings?: unknown[]) {
      const ns = await createNetns('pwhp');
      const containerId = uniqueName('cri').padEnd(64, '0');
      const list = JSON.parse((await agentConflist(node)).text) as NetworkList;
      const rt: RuntimeConf = {
        containerId,
        netns: ns.path,
        ifname: 'eth0',
        args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${containerId};K8S_POD_UID=0b1c2d3e-0000-4000-8000-00000000000${wired.length}`,
        pluginDirs: [sl!.binDir],
        nodeNetns: node.netnsPath,
        ...(portMappings ? { capabilityArgs: { portMappings } } : {}),
      };
      try {
        const result = await addNetworkList(list, rt);
        const ip = (result['ips'] as { address: string }[])[0]!.address.split('/')[0]!;
        wired.push({ list, rt, result, ns, ip });
        expect(servedRequests(node.agentLog).filter((r) => r.containerId === containerId).map((r) => [r.command, r.exitCode])).toEqual([['ADD', 0]]);
        return { ns, ip };
      } catch (e) {
        await ns.remove();
        throw e;
      }
    }

    let sameNode: { ns: Netns; ip: string };
    let otherNode: { ns: Netns; ip: string };

    beforeAll(async () => {
      const [n1, n2] = sl!.lab.state.nodes as [LabNodeState, LabNodeState];
      const target = await criPod(n2, 'hp-server', [{ HostPort: HOST_PORT, ContainerPort: 7002, Protocol: 'TCP', HostIP: '' }]);
      server = await startTcpEcho(target.ns.path, '0.0.0.0', 7002);
      sameNode = await criPod(n2, 'hp-client-2');
      otherNode = await criPod(n1, 'hp-client-1');
    }, 120_000);

    afterAll(async () => {
      await server?.stop();
      for (const w of wired.splice(0).reverse()) {
        await delNetworkList(w.list, w.rt, w.result).catch(() => {});
        await w.ns.remove();
      }
    }, 120_000);

    it('control: node 1\'s host namespace reaches the hostPort', async () => {
      const t = await tcpProbe(sl!.lab.state.nodes[0]!.netnsPath, sl!.lab.state.nodes[1]!.underlayIp, HOST_PORT);
      expect(t.ok, t.error).toBe(true);
    });

    // issue 9: the DNATed pod's reply must go back through the stack (conntrack un-NAT), not
    // straight into the client by the fast path
    it('a pod on the same node reaches the hostPort (issue 9)', async () => {
      const t = await tcpProbe(sameNode.ns.path, sl!.lab.state.nodes[1]!.underlayIp, HOST_PORT);
      expect(t.ok, t.error).toBe(true);
    });

    it('a pod on the other node reaches the hostPort (issue 9)', async () => {
      const t = await tcpProbe(otherNode.ns.path, sl!.lab.state.nodes[1]!.underlayIp, HOST_PORT);
      expect(t.ok, t.error).toBe(true);
    });
  });
});
