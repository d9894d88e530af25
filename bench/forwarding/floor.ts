// Floor topologies: podwire's wiring (Calico-style routed pods, src/cni: /32 on eth0, default via
// a link-local gateway, the host veth's MAC as its permanent neighbour; native nodes on an
// underlay switch) with podwire's programs replaced by the MINIMAL tc programs of floor.c. They
// say what share of a goal ANY tc program on a veth can reach on this kernel: the ratio of a
// floor row to its limit row is the ceiling for podwire's row. Context, not a target.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { createUnderlay, type Underlay } from '../../src/lab/underlay.js';
import { tcxAttach } from '../../src/loader/tcx.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';
import type { Topology } from './topology.js';
import { macOf, wireRoutedPod } from './wiring.js';

const FLOOR_SRC = (): string => join(packageRoot(), 'bench', 'forwarding', 'floor.c');

async function ifindexOf(ns: Netns, dev: string): Promise<number> {
  const r = await ns.exec('ip', ['-j', 'link', 'show', 'dev', dev]);
  const i = (JSON.parse(r.stdout) as Array<{ ifindex?: number }>)[0]?.ifindex;
  if (!i) throw new Error(`no ifindex for ${dev} in ${ns.name}`);
  return i;
}

const macBytes = (mac: string): string => mac.split(':').map((b) => `0x${b}`).join(',');
const ipHost = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);

/** Compile floor.c with `defines` and pin all its programs under pinDir/progs/. */
async function loadFloor(pinDir: string, defines: Record<string, string | number>): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'pw-floor-'));
  try {
    const obj = join(work, 'floor.o');
    const d = Object.entries(defines).map(([k, v]) => `-D${k}=${v}`);
    await run('clang-16', ['-O2', '-g', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', ...d, '-c', FLOOR_SRC(), '-o', obj]);
    const progs = join(pinDir, 'progs');
    await mkdir(pinDir, { recursive: true });
    await run('bpftool', ['prog', 'loadall', obj, progs, 'type', 'classifier']);
    return progs;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function removeAll(nss: Netns[], pinDirs: string[], underlay?: Underlay): Promise<void> {
  for (const ns of nss) await ns.remove();
  await underlay?.remove();
  for (const p of pinDirs) await rm(p, { recursive: true, force: true });
}

/** Same node: two routed pods, tcx ingress of each host veth redirect_peer's to the other. */
export const floorSameNode: Topology = {
  name: 'floor-same-node',
  scope: 'same-node',
  limit: 'direct',
  async setup() {
    const made: Netns[] = [];
    const pinDir = `/sys/fs/bpf/${uniqueName('pwbf-')}`;
    try {
      const node = await createNetns('pwbf');
      made.push(node);
      const pods: Netns[] = [];
      const hosts: string[] = [];
      for (let i = 0; i < 2; i++) {
        const pod = await createNetns('pwbf');
        made.push(pod);
        pods.push(pod);
        hosts.push(await wireRoutedPod(node, pod, `10.93.0.${i + 2}`, { prefix: 'pwbfv' }));
      }
      const [a, b] = [await ifindexOf(node, hosts[0]!), await ifindexOf(node, hosts[1]!)];
      const progs = await loadFloor(pinDir, { FLOOR_IF_A: a, FLOOR_IF_B: b });
      for (const [i, h] of hosts.entries()) {
        await tcxAttach({ prog: join(progs, 'floor_peer'), dev: h, dir: 'ingress', pin: join(pinDir, `link-${i}`), netns: node.path });
      }
      return {
        client: pods[0]!.path,
        server: pods[1]!.path,
        serverIp: '10.93.0.3',
        describe: `routed pods in ${node.name}, floor_peer (constant redirect_peer) on ${hosts.join(', ')}`,
        teardown: () => removeAll(made, [pinDir]),
      };
    } catch (e) {
      await removeAll(made, [pinDir]);
      throw e;
    }
  },
};

/** Native: own underlay switch + 2 nodes (the underlay row's fabric stays program-free), one
 * routed pod each; floor_out on the host veth (fixed MACs, redirect to the uplink), floor_in on
 * the uplink (redirect_peer into the pod). */
export const floorNative: Topology = {
  name: 'floor-native',
  scope: 'cross-node',
  limit: 'underlay',
  async setup() {
    const made: Netns[] = [];
    const pinDirs: string[] = [];
    let u: Underlay | undefined;
    try {
      u = await createUnderlay({ prefix: 'pwbfu', subnet: '172.29.0.0/24' });
      const nodes: Netns[] = [];
      const pods: Netns[] = [];
      const hosts: string[] = [];
      const podIp = (i: number) => `10.93.${i + 1}.2`;
      for (let i = 0; i < 2; i++) {
        const n = await createNetns('pwbfn');
        made.push(n);
        nodes.push(n);
        await u.attach(n, i, { uplink: 'eth0' });
        const pod = await createNetns('pwbfp');
        made.push(pod);
        pods.push(pod);
        hosts.push(await wireRoutedPod(n, pod, podIp(i), { prefix: 'pwbfv' }));
      }
      // teach the switch both uplinks' MACs (floor_out writes them, nothing else resolves them)
      await nodes[0]!.exec('ping', ['-c', '1', '-W', '2', '172.29.0.12']);
      const macs = [await macOf(nodes[0]!, 'eth0'), await macOf(nodes[1]!, 'eth0')];
      for (let i = 0; i < 2; i++) {
        const n = nodes[i]!;
        const pinDir = `/sys/fs/bpf/${uniqueName('pwbf-')}`;
        pinDirs.push(pinDir);
        const progs = await loadFloor(pinDir, {
          FLOOR_UPLINK: await ifindexOf(n, 'eth0'),
          FLOOR_POD_IF: await ifindexOf(n, hosts[i]!),
          FLOOR_POD_IP: ipHost(podIp(i)),
          FLOOR_MACS: `${macBytes(macs[1 - i]!)},${macBytes(macs[i]!)}`,
        });
        await tcxAttach({ prog: join(progs, 'floor_out'), dev: hosts[i]!, dir: 'ingress', pin: join(pinDir, 'link-out'), netns: n.path });
        await tcxAttach({ prog: join(progs, 'floor_in'), dev: 'eth0', dir: 'ingress', pin: join(pinDir, 'link-in'), netns: n.path });
      }
      const underlay = u;
      return {
        client: pods[0]!.path,
        server: pods[1]!.path,
        serverIp: podIp(1),
        describe: `switch ${u.netns.name}, routed pods ${podIp(0)} → ${podIp(1)}, floor_out (fixed MACs, redirect) + floor_in (redirect_peer)`,
        teardown: () => removeAll(made, pinDirs, underlay),
      };
    } catch (e) {
      await removeAll(made, pinDirs, u);
      throw e;
    }
  },
};
