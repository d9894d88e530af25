// A real runtime drives the CNI binary: podman (CNI backend) runs two containers on a podwire
// conflist chained with Debian's portmap, inside a throw-away host namespace. They ping and
// talk TCP (the server sees the client's pod IP), a mapped port works through portmap, and
// removing the containers runs DEL and leaves nothing behind.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { busyboxRootfsTar, privatePodman, type PrivatePodman } from '../../src/lab/podman.js';
import { startTcpEcho, tcpProbe, type TcpEchoServer } from '../../src/lab/traffic.js';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { openEndpoints } from '../../src/maps/index.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';

describe('podman (CNI backend) on a podwire + portmap conflist', () => {
  let host: Netns;
  let dir: string;
  let pinDir: string;
  const network = uniqueName('pwnet');
  const image = `localhost/${uniqueName('pwbb')}`;
  const containers: string[] = [];
  const servers: TcpEchoServer[] = [];
  let podman: PrivatePodman['run'];

  beforeAll(async () => {
    if (!existsSync(podwireBin())) throw new Error(`${podwireBin()} is missing: run \`npm run build\``);
    for (const tool of ['/usr/bin/podman', '/usr/lib/cni/portmap', '/bin/busybox']) {
      if (!existsSync(tool)) throw new Error(`${tool} is missing: run deploy/host-prereqs.sh`);
    }
    dir = await mkdtemp(join(tmpdir(), 'pwpodman-'));
    host = await createNetns('pwph');
    pinDir = `/sys/fs/bpf/${uniqueName('pwpm-')}`;
    await loadDatapath({ pinDir });
    await host.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // portmap DNATs to the pod; give the host namespace an address to map ports on.
    // (On lo: this kernel has no dummy driver and loads no modules.)
    await host.exec('ip', ['addr', 'add', '10.250.0.1/32', 'dev', 'lo']);

    // Plugin directory: podwire first, then Debian's reference plugins.
    const pluginDir = join(dir, 'bin');
    await mkdir(pluginDir);
    await symlink(podwireBin(), join(pluginDir, 'podwire'));
    const confDir = join(dir, 'net.d');
    await mkdir(confDir);
    await writeFile(join(confDir, '10-podwire.conflist'), JSON.stringify({
      cniVersion: '1.0.0',
      name: network,
      plugins: [
        { type: 'podwire', podCIDR: '10.244.9.0/24', pinDir, stateDir: join(dir, 'state') },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }));
    const pm = await privatePodman({ dir: join(dir, 'podman'), netnsPath: host.path, confDir, pluginDirs: [pluginDir, '/usr/lib/cni'], timeoutMs: 60_000 });
    podman = (args, opts = {}) => pm.run(args, opts);
    await podman(['import', '--change', 'CMD ["/bin/sh"]', await busyboxRootfsTar(dir), image]);
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
    if (podman) {
      for (const c of containers) await podman(['rm', '-f', '-t', '0', c], { reject: false });
      await podman(['rmi', '-f', image], { reject: false });
    }
    await host?.remove();
    if (pinDir) await unloadDatapath({ pinDir }).catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  async function runContainer(name: string, extra: string[] = []): Promise<{ ip: string; netns: string }> {
    containers.push(name);
    await podman(['run', '-d', '--name', name, '--network', network, '--cap-add', 'NET_RAW', ...extra, image, 'sleep', '300']);
    const j = JSON.parse((await podman(['inspect', name])).stdout) as Array<{
      NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> };
    }>;
    const ns = j[0]!.NetworkSettings;
    return { ip: ns.Networks[network]!.IPAddress, netns: ns.SandboxKey };
  }

  it('runs two containers that ping and talk TCP without NAT, and a mapped port works', async () => {
    const c1 = await runContainer(uniqueName('pwc1'));
    const c2 = await runContainer(uniqueName('pwc2'), ['-p', '10.250.0.1:18080:7000/tcp']);
    expect(c1.ip).toMatch(/^10\.244\.9\.\d+$/);
    expect(c2.ip).toMatch(/^10\.244\.9\.\d+$/);
    expect(c1.ip).not.toBe(c2.ip);

    const p = await podman(['exec', containers[0]!, 'ping', '-c', '3', '-W', '2', c2.ip], { reject: false });
    expect(p.exitCode, p.stdout + p.stderr).toBe(0);

    // TCP: an echo-the-peer server inside c2's namespace, busybox nc as the client in c1.
    servers.push(await startTcpEcho(c2.netns, '0.0.0.0', 7000));
    const t = await podman(['exec', containers[0]!, 'nc', '-w', '3', c2.ip, '7000'], { reject: false });
    expect(t.stdout.trim().replace(/^::ffff:/, ''), t.stderr).toBe(c1.ip);

    // Through portmap's DNAT: the node (host namespace) → 10.250.0.1:18080 → c2:7000. The
    // reply leaves c2 through from_pod, misses the endpoints map (the node is not a pod) and goes
    // to the stack, where conntrack reverses the DNAT.
    const m = await tcpProbe(host.path, '10.250.0.1', 18080);
    expect(m.peerSeen, m.error).toBe('10.250.0.1');

    const eps = openEndpoints(pinDir);
    try {
      expect(eps.list().map((e) => e.ip).sort()).toEqual([c1.ip, c2.ip].sort());
    } finally {
      eps.close();
    }
  }, 120_000);

  it('removing the containers runs DEL and leaves nothing behind', async () => {
    for (const c of containers.splice(0)) await podman(['rm', '-f', '-t', '0', c]);
    await Promise.allSettled(servers.splice(0).map((s) => s.stop()));
    const eps = openEndpoints(pinDir);
    try {
      expect(eps.list()).toEqual([]);
    } finally {
      eps.close();
    }
    const links = JSON.parse((await host.exec('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
    expect(links.map((l) => l.ifname)).toEqual(['lo']);
    const state = existsSync(join(dir, 'state')) ? await readdir(join(dir, 'state'), { recursive: true }) : [];
    expect(state.map(String).filter((f) => /\d+\.\d+\.\d+\.\d+$/.test(f))).toEqual([]);
    // iptables itself must work (a failing listing would prove nothing), then the DNAT is gone
    const nat = await host.exec('iptables', ['-t', 'nat', '-S']);
    expect(nat.stdout).toContain('-P PREROUTING');
    expect(nat.stdout).not.toContain('18080');
  }, 120_000);
});
