// install-cni and uninstall on a lab-like node, in each mode: a network namespace with an uplink
// (veth with an address), the datapath loaded and set up (native: program on the uplink; vxlan:
// pwvxlan0 with its program) plus a podwire kernel route to a remote podCIDR, a pod wired by the installed binary through the CNI, the agent's conflist next
// to a foreign one. `dist/podwire uninstall`, run inside the node's namespace like on a host,
// removes exactly podwire's things, reports them, and a second run finds nothing.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeConflist } from '../../src/agent/conflist.js';
import { podwireSeaBin } from '../../src/assets/index.js';
import { run, runJson } from '../../src/exec/run.js';
import { listKernelRoutes, setupNode, syncKernelRoutes, VXLAN_DEVICE } from '../../src/hostnet/index.js';
import { installCni, tempName } from '../../src/install/index.js';
import { execCni } from '../../src/lab/cni-exec.js';
import { attachedProgramId } from '../../src/loader/attach.js';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';

describe.each(['native', 'vxlan'] as const)('podwire install-cni / uninstall on a %s node', (mode) => {
  let node: Netns;
  let pod: Netns;
  let dir: string;
  let confDir: string;
  let binDir: string;
  let stateDir: string;
  const pinDir = `/sys/fs/bpf/${uniqueName('pwun-')}`;
  const uplink = 'up0';

  beforeAll(async () => {
    if (!existsSync(podwireSeaBin())) throw new Error(`${podwireSeaBin()} is missing: run \`npm run build:bin\``);
    dir = await mkdtemp(join(tmpdir(), 'pwun-'));
    // dist/podwire extracts its assets into the test's directory, not /run/podwire/assets
    process.env['PODWIRE_CACHE_DIR'] = join(dir, 'sea-cache');
    confDir = join(dir, 'net.d');
    binDir = join(dir, 'bin');
    stateDir = join(dir, 'state');
    node = await createNetns('pwun');
    pod = await createNetns('pwunp');
    await node.exec('ip', ['link', 'add', uplink, 'type', 'veth', 'peer', 'name', 'up0peer']);
    await node.exec('ip', ['addr', 'add', '192.168.77.1/24', 'dev', uplink]);
    await node.exec('ip', ['link', 'set', uplink, 'up']);
    await node.exec('ip', ['link', 'set', 'up0peer', 'up']);
    await loadDatapath({ pinDir });
    const setup = await setupNode({ pinDir, mode, uplink, netns: node.path });
    await syncKernelRoutes({ mode, remote: [{ cidr: '10.244.77.0/24', nodeIp: '192.168.77.2' }], netns: node.path });
    await writeConflist(confDir, { podCIDR: '10.244.76.0/24', pinDir, stateDir, mtu: setup.podMtu });
    await writeFile(join(confDir, '10-other.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'bridge' }] }));
  }, 180_000);

  afterAll(async () => {
    await pod?.remove();
    await node?.remove();
    if (existsSync(pinDir)) await unloadDatapath({ pinDir }).catch(() => {});
    delete process.env['PODWIRE_CACHE_DIR'];
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('install-cni writes the shim and the full binary through temp files and renames, and is a no-op the second time', async () => {
    await mkdir(binDir);
    // a temp file a crashed install left behind: uninstall must sweep it
    await writeFile(join(binDir, tempName()), 'partial');
    type Installed = { changed: boolean; path: string; bytes: number };
    const first = JSON.parse((await run(podwireSeaBin(), ['install-cni', '--dest', binDir, '-o', 'json'])).stdout) as Installed & { full: Installed };
    expect(first).toMatchObject({ changed: true, path: join(binDir, 'podwire') });
    expect(first.full).toMatchObject({ changed: true, path: join(binDir, 'podwire-full') });
    const st = await stat(first.full.path);
    expect(st.mode & 0o777).toBe(0o755);
    expect(st.size).toBe((await stat(podwireSeaBin())).size);
    // the shim is the small native plugin the SEA carries, not a copy of the SEA
    const shim = await stat(first.path);
    expect(shim.mode & 0o777).toBe(0o755);
    expect(shim.size).toBeLessThan(1_000_000);
    const again = JSON.parse((await run(podwireSeaBin(), ['install-cni', '--dest', binDir, '-o', 'json'])).stdout) as Installed & { full: Installed };
    expect(again.changed).toBe(false);
    expect(again.full.changed).toBe(false);
    // bin/podwire is not self-contained: it refuses to install itself
    const js = await run('node', ['bin/podwire', 'install-cni', '--dest', binDir], { reject: false });
    expect(js.exitCode).not.toBe(0);
    expect(js.stderr).toContain('self-contained');
    // both are working plugins (no agent here: the shim falls back to podwire-full)
    for (const plugin of [first.path, first.full.path]) {
      const v = await execCni({ plugin, command: 'VERSION', config: { cniVersion: '1.0.0' }, env: { PODWIRE_CNI_SOCKET: join(dir, 'no-agent.sock') } });
      expect(v.json?.['supportedVersions']).toContain('1.1.0');
    }
  });

  it('the installed binary wires a pod, attached to the datapath', async () => {
    const add = await execCni({
      plugin: join(binDir, 'podwire'),
      command: 'ADD',
      containerId: 'uninstall-test-1',
      netns: pod.path,
      ifname: 'eth0',
      path: [binDir],
      config: { cniVersion: '1.1.0', name: 'podwire', type: 'podwire', podCIDR: '10.244.76.0/24', pinDir, stateDir },
      nodeNetns: node.path,
      // no agent serves this node: the shim takes its fallback, the installed podwire-full
      env: { PODWIRE_CNI_SOCKET: join(dir, 'no-agent.sock') },
    });
    expect(add.exitCode, add.stdout + add.stderr).toBe(0);
    const hostVeth = (add.json?.['interfaces'] as { name: string; sandbox?: string }[]).find((i) => !i.sandbox)!.name;
    expect(await attachedProgramId(hostVeth, { netns: node.path })).toBeDefined();
    expect(await attachedProgramId(mode === 'native' ? uplink : VXLAN_DEVICE, { netns: node.path })).toBeDefined();
  }, 60_000);

  it('uninstall removes conflist, uplink program, VXLAN device, routes, pins, binary and state; keeps the foreign conflist', async () => {
    const veths = (await runJson<{ ifname: string }[]>('ip', ['-j', 'link', 'show'], { netns: node.path })).map((l) => l.ifname).filter((n) => n.startsWith('pw') && n !== VXLAN_DEVICE);
    expect(veths).toHaveLength(1);
    // a warm veth pool pair the agent left (src/cni/pool.ts names)
    await run('ip', ['link', 'add', 'pwph0a0b0c0d', 'type', 'veth', 'peer', 'name', 'pwpp0a0b0c0d'], { netns: node.path });
    const args = ['uninstall', '--pin-dir', pinDir, '--cni-conf-dir', confDir, '--cni-bin-dir', binDir, '--state-dir', stateDir];
    const r = await run(podwireSeaBin(), [...args, '-o', 'json'], { netns: node.path });
    const out = JSON.parse(r.stdout) as { removed: { what: string; path: string }[]; kept: unknown[] };
    expect(out.removed.map((x) => x.what).sort()).toEqual(
      ['binary', 'binary', 'conflist', 'datapath', 'kernel-routes', 'state', 'temp-file', 'veth-pool', mode === 'native' ? 'uplink-program' : 'vxlan-device'].sort(),
    );
    expect(await runJson('ip', ['-j', 'link', 'show', 'dev', 'pwph0a0b0c0d'], { netns: node.path, reject: false })).toEqual([]);
    expect(await readdir(confDir)).toEqual(['10-other.conflist']);
    expect(await readdir(binDir)).toEqual([]);
    expect(existsSync(pinDir)).toBe(false);
    expect(existsSync(stateDir)).toBe(false);
    expect(await runJson('ip', ['-j', 'link', 'show', 'dev', VXLAN_DEVICE], { netns: node.path, reject: false })).toEqual([]);
    expect(await listKernelRoutes(node.path)).toEqual([]);
    expect(await attachedProgramId(uplink, { netns: node.path })).toBeUndefined();
    // the pod's veth stays (the runtime owns it), but nothing of podwire runs on it
    expect(await attachedProgramId(veths[0]!, { netns: node.path })).toBeUndefined();

    const text = await run(podwireSeaBin(), args, { netns: node.path });
    expect(text.stdout.trim()).toBe('nothing to remove: podwire is not installed on this node');
  }, 120_000);

  it('--keep-state keeps the IPAM store; a conflist that is not podwire\'s is kept under our name too', async () => {
    await mkdir(join(stateDir, 'ipam'), { recursive: true });
    await writeFile(join(confDir, '05-podwire.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'x', plugins: [{ type: 'bridge' }] }));
    const r = await run(
      podwireSeaBin(),
      ['uninstall', '--pin-dir', pinDir, '--cni-conf-dir', confDir, '--cni-bin-dir', binDir, '--state-dir', stateDir, '--keep-state', '-o', 'json'],
      { netns: node.path },
    );
    const out = JSON.parse(r.stdout) as { removed: unknown[]; kept: { path: string; why: string }[] };
    expect(out.removed).toEqual([]);
    expect(out.kept.map((k) => k.path).sort()).toEqual([join(confDir, '05-podwire.conflist'), stateDir].sort());
    expect(existsSync(join(stateDir, 'ipam'))).toBe(true);
  }, 60_000);
});
