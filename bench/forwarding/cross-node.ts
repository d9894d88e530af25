// Cross-node topologies. The kernel baselines share one "fabric": an underlay switch namespace
// (src/lab/underlay.ts, the same construction the lab uses) and two node namespaces plugged
// into it, each node hosting one routed pod per baseline. `underlay` (node to node, no pods)
// is the physical limit and the ratio base of every cross-node row. podwire's rows are real
// two-node labs (src/lab/cluster.ts: API server, one agent per node, pods through CNI).
import { randomBytes } from 'node:crypto';
import type { Lab } from '../../src/lab/cluster.js';
import { DEFAULT_VXLAN_DATAPATH } from '../../src/agent/config.js';
import { xdpAttach } from '../../src/loader/xdp.js';
import { pinPaths } from '../../src/loader/pins.js';
import { tcxAttach, tcxDetach } from '../../src/loader/tcx.js';
import { join } from 'node:path';
import { openPrefilter } from '../../src/maps/prefilter.js';
import { benchLabUp } from '../lab-up.js';
import { attachToUnderlay, createUnderlay, type Underlay } from '../../src/lab/underlay.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import type { Running, Topology, TopologyName } from './topology.js';
import { enableForwarding, macOf, wireRoutedPod } from './wiring.js';

const SUBNET = '172.31.0.0/24';
const nodeIp = (i: number) => `172.31.0.${11 + i}`;
const VXLAN_MTU = 1450;
const VXLAN_DEV = 'pwbvx0'; // inside the fabric's own uniquely named node namespaces

interface Fabric {
  underlay: Underlay;
  nodes: Netns[];
  made: Netns[];
  users: number;
  ready?: Promise<void>;
}

let fabric: Fabric | undefined;

/** The shared fabric, built on first use and removed when its last user tears down. */
async function useFabric(): Promise<Fabric> {
  if (!fabric) {
    const f: Fabric = { underlay: undefined as unknown as Underlay, nodes: [], made: [], users: 0 };
    fabric = f;
    f.ready = (async () => {
      f.underlay = await createUnderlay({ prefix: 'pwbu', subnet: SUBNET });
      for (let i = 0; i < 2; i++) {
        const n = await createNetns('pwbk');
        f.made.push(n);
        f.nodes.push(n);
        await attachToUnderlay({ netnsPath: f.underlay.netns.path, subnet: SUBNET }, n, i, 'eth0');
        await enableForwarding(n);
      }
    })();
  }
  const f = fabric;
  try {
    await f.ready;
  } catch (e) {
    await releaseFabric(f, true);
    throw e;
  }
  f.users++;
  return f;
}

async function releaseFabric(f: Fabric, force = false): Promise<void> {
  if (!force) f.users--;
  if (f.users > 0 && !force) return;
  if (fabric === f) fabric = undefined;
  for (const n of f.made) await n.remove();
  await f.underlay?.remove();
}

export const underlay: Topology = {
  name: 'underlay',
  scope: 'cross-node',
  limit: 'underlay',
  async setup() {
    const f = await useFabric();
    return { client: f.nodes[0]!.path, server: f.nodes[1]!.path, serverIp: nodeIp(1), describe: `node ↔ node over switch ${f.underlay.netns.name}`, teardown: () => releaseFabric(f) };
  },
};

/** flannel host-gw / Calico without overlay: routed pods, podCIDR routed via the node IP. */
export const hostGw: Topology = {
  name: 'host-gw',
  scope: 'cross-node',
  limit: 'underlay',
  async setup() {
    const f = await useFabric();
    const pods: Netns[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const pod = await createNetns('pwbh');
        pods.push(pod);
        await wireRoutedPod(f.nodes[i]!, pod, `10.96.${i + 1}.2`);
        await f.nodes[i]!.exec('ip', ['route', 'add', `10.96.${2 - i}.0/24`, 'via', nodeIp(1 - i)]);
      }
      return {
        client: pods[0]!.path,
        server: pods[1]!.path,
        serverIp: '10.96.2.2',
        describe: 'kernel routes 10.96.N.0/24 via node IP',
        teardown: async () => {
          for (const p of pods) await p.remove();
          await releaseFabric(f);
        },
      };
    } catch (e) {
      for (const p of pods) await p.remove();
      await releaseFabric(f);
      throw e;
    }
  },
};

/** flannel vxlan style: a VXLAN device per node (VNI, port 8472, no learning), static
 * neighbour + FDB entries for the other node's VTEP, pods at MTU 1450. */
export const kernelVxlan: Topology = {
  name: 'kernel-vxlan',
  scope: 'cross-node',
  limit: 'underlay',
  async setup() {
    const f = await useFabric();
    const pods: Netns[] = [];
    try {
      const macs: string[] = [];
      for (let i = 0; i < 2; i++) {
        const n = f.nodes[i]!;
        await n.exec('ip', ['-batch', '-'], {
          input:
            `link add ${VXLAN_DEV} mtu ${VXLAN_MTU} type vxlan id 42 local ${nodeIp(i)} dev eth0 dstport 8472 nolearning\n` +
            `addr add 10.95.${i + 1}.0/32 dev ${VXLAN_DEV}\nlink set ${VXLAN_DEV} up\n`,
        });
        macs.push(await macOf(n, VXLAN_DEV));
      }
      for (let i = 0; i < 2; i++) {
        const n = f.nodes[i]!;
        const j = 1 - i;
        await n.exec('ip', ['-batch', '-'], {
          input:
            `neigh replace 10.95.${j + 1}.0 lladdr ${macs[j]} dev ${VXLAN_DEV} nud permanent\n` +
            `route add 10.95.${j + 1}.0/24 via 10.95.${j + 1}.0 dev ${VXLAN_DEV} onlink\n`,
        });
        await n.exec('bridge', ['fdb', 'append', macs[j]!, 'dev', VXLAN_DEV, 'dst', nodeIp(j)]);
        const pod = await createNetns('pwbx');
        pods.push(pod);
        await wireRoutedPod(n, pod, `10.95.${i + 1}.2`, { mtu: VXLAN_MTU });
      }
      return {
        client: pods[0]!.path,
        server: pods[1]!.path,
        serverIp: '10.95.2.2',
        describe: `kernel VXLAN ${VXLAN_DEV} (VNI 42, :8472), pod MTU ${VXLAN_MTU}`,
        teardown: async () => {
          for (const p of pods) await p.remove();
          for (const n of f.nodes) await n.exec('ip', ['link', 'del', VXLAN_DEV], { reject: false });
          await releaseFabric(f);
        },
      };
    } catch (e) {
      for (const p of pods) await p.remove();
      for (const n of f.nodes) await n.exec('ip', ['link', 'del', VXLAN_DEV], { reject: false });
      await releaseFabric(f);
      throw e;
    }
  },
};

/** podwire-native-prefilter: the XDP prefilter attached (auto: native XDP on the veth uplink) on
 * every node's uplink with one unrelated CIDR listed, so the measured traffic is all unlisted: what
 * the prefilter costs traffic it lets through (native XDP on a veth turns off its peer's TSO). */
async function attachPrefilter(lab: Lab, log: (line: string) => void): Promise<string> {
  // experiments only: PODWIRE_BENCH_PREFILTER_XDP_MODE=generic measures generic XDP instead
  const want = process.env['PODWIRE_BENCH_PREFILTER_XDP_MODE'] === 'generic' ? 'generic' : process.env['PODWIRE_BENCH_PREFILTER_XDP_MODE'] === 'native' ? 'native' : 'auto';
  const modes: string[] = [];
  for (const n of lab.state.nodes) {
    const m = openPrefilter(n.pinDir);
    m.add('203.0.113.0/24');
    m.close();
    const s = await xdpAttach(n.uplink, n.pinDir, want, { netns: n.netnsPath });
    modes.push(`${n.name}:${s.mode}`);
  }
  log(`  prefilter attached: ${modes.join(', ')}`);
  return modes.join(', ');
}

/** podwire-native-to-uplink: to_uplink attached on every node's uplink egress as before it was
 * attached only while a pod is isolated for egress (src/hostnet/egress-policy.ts), on a pin of its
 * own (the agent's sync never sees it): the A/B row of that change, next to podwire-native. */
async function attachToUplinkAlways(lab: Lab, log: (line: string) => void): Promise<() => Promise<void>> {
  const pins: string[] = [];
  for (const n of lab.state.nodes) {
    const pin = join(n.pinDir, 'bench-to-uplink');
    await tcxAttach({ prog: join(pinPaths(n.pinDir).progsDir, 'to_uplink'), dev: n.uplink, dir: 'egress', pin, netns: n.netnsPath });
    pins.push(pin);
  }
  log(`  to_uplink attached on ${lab.state.nodes.map((n) => `${n.name}:${n.uplink}`).join(', ')} (egress)`);
  return async () => {
    for (const p of pins) await tcxDetach(p).catch(() => undefined);
  };
}

function podwireLab(name: TopologyName, mode: 'native' | 'vxlan', opts: { prefilter?: boolean; vxlanDatapath?: 'bpf' | 'device'; toUplinkAlways?: boolean } = {}): Topology {
  return {
    name,
    scope: 'cross-node',
    limit: 'underlay',
    async setup(log) {
      const id = randomBytes(3).toString('hex');
      // Interrupt-safe while it is built; once set up, runForwarding's teardown owns it.
      const { lab, unregister } = await benchLabUp({
        nodes: 2,
        podsPerNode: 1,
        mode,
        ...(opts.vxlanDatapath ? { vxlanDatapath: opts.vxlanDatapath } : {}),
        name: `b${id.slice(0, 3)}`,
        statePath: `/run/podwire/bench-lab-${id}.json`,
        dir: `/run/podwire/bench-lab-${id}`,
        log: (l) => log(`  ${name}: ${l}`),
      });
      unregister();
      const [a, b] = [lab.state.pods.find((p) => p.node === 'node-1'), lab.state.pods.find((p) => p.node === 'node-2')];
      if (!a || !b) {
        await lab.down();
        throw new Error(`lab ${lab.state.name} has no pod on node-1 and node-2`);
      }
      let extra = '';
      let detach: (() => Promise<void>) | undefined;
      if (opts.toUplinkAlways) {
        try {
          detach = await attachToUplinkAlways(lab, log);
          extra = ', to_uplink always attached';
        } catch (e) {
          await lab.down();
          throw e;
        }
      }
      if (opts.prefilter) {
        try {
          extra = `, XDP prefilter ${await attachPrefilter(lab, log)}`;
        } catch (e) {
          await lab.down();
          throw e;
        }
      }
      return { client: a.netnsPath, server: b.netnsPath, serverIp: b.ip, describe: `lab ${lab.state.name} (${mode}${opts.vxlanDatapath ? `, ${opts.vxlanDatapath} datapath` : mode === 'vxlan' ? `, default datapath ${DEFAULT_VXLAN_DATAPATH}` : ''}): ${a.ip}@node-1 → ${b.ip}@node-2${extra}`, teardown: async () => {
        await detach?.();
        await lab.down();
      } };
    },
  };
}

export const podwireNative = podwireLab('podwire-native', 'native');
/** The default VXLAN datapath (DEFAULT_VXLAN_DATAPATH), and both explicitly. */
export const podwireVxlan = podwireLab('podwire-vxlan', 'vxlan');
export const podwireVxlanBpf = podwireLab('podwire-vxlan-bpf', 'vxlan', { vxlanDatapath: 'bpf' });
export const podwireVxlanDevice = podwireLab('podwire-vxlan-device', 'vxlan', { vxlanDatapath: 'device' });
export const podwireNativePrefilter = podwireLab('podwire-native-prefilter', 'native', { prefilter: true });
export const podwireNativeToUplink = podwireLab('podwire-native-to-uplink', 'native', { toUplinkAlways: true });
