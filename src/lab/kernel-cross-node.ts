// Kernel-only cross-node baselines, measured next to podwire in the same run: two node
// namespaces on their own underlay, one "pod" namespace behind each, and the kernel doing all
// the forwarding — host-gw (plain routes to the other node's pod subnet via its node IP, what
// flannel's host-gw backend does) or a kernel VXLAN device (point-to-point, like flannel's
// vxlan backend without the FDB management). No BPF anywhere.
import { run } from '../exec/run.js';
import { createNetns, type Netns } from '../netns/index.js';
import { createUnderlay, type Underlay } from './underlay.js';

export type KernelCrossMode = 'host-gw' | 'vxlan';

export interface KernelCrossNode {
  underlay: Underlay;
  nodes: [Netns, Netns];
  pods: [{ netns: Netns; ip: string }, { netns: Netns; ip: string }];
  remove(): Promise<void>;
}

const VNI = 4242;

export async function createKernelCrossNode(mode: KernelCrossMode, prefix = 'pwkb'): Promise<KernelCrossNode> {
  const made: Netns[] = [];
  const underlay = await createUnderlay({ prefix: `${prefix}u` });
  const remove = async () => {
    for (const n of made.reverse()) await n.remove();
    await underlay.remove();
  };
  try {
    const nodes: Netns[] = [];
    const nodeIps: string[] = [];
    const pods: Array<{ netns: Netns; ip: string }> = [];
    const podMtu = mode === 'vxlan' ? 1450 : 1500;
    for (const i of [0, 1]) {
      const node = await createNetns(`${prefix}n`);
      made.push(node);
      nodes.push(node);
      nodeIps.push((await underlay.attach(node, i)).ip);
      await node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      const pod = await createNetns(`${prefix}p`);
      made.push(pod);
      const ip = `10.245.${i + 1}.2`;
      await node.exec('ip', ['link', 'add', 'vpod', 'mtu', String(podMtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(podMtu), 'netns', pod.path]);
      await node.exec('ip', ['-batch', '-'], { input: `addr add 10.245.${i + 1}.1/24 dev vpod\nlink set vpod up\n` });
      await pod.exec('ip', ['-batch', '-'], { input: `addr add ${ip}/24 dev eth0\nlink set eth0 up\nroute add default via 10.245.${i + 1}.1\n` });
      pods.push({ netns: pod, ip });
    }
    for (const i of [0, 1]) {
      const other = 1 - i;
      const lines =
        mode === 'host-gw'
          ? [`route add 10.245.${other + 1}.0/24 via ${nodeIps[other]}`]
          : [
              `link add vx0 mtu 1450 type vxlan id ${VNI} local ${nodeIps[i]} remote ${nodeIps[other]} dstport 8472 dev eth0`,
              `addr add 10.246.0.${i + 1}/24 dev vx0`,
              'link set vx0 up',
              `route add 10.245.${other + 1}.0/24 via 10.246.0.${other + 1} dev vx0`,
            ];
      await run('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n`, netns: nodes[i]!.path });
    }
    return { underlay, nodes: nodes as [Netns, Netns], pods: pods as KernelCrossNode['pods'], remove };
  } catch (e) {
    await remove();
    throw e;
  }
}
