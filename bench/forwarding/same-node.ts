// Same-node topologies: two "pods" (namespaces) on one node, connected the way each dataplane
// connects them. `direct` (one veth pair, no node at all) is the physical limit of a one-hop
// path and the ratio base of every same-node row.
import { createDirectPair } from '../../src/lab/baseline.js';
import { LabNode } from '../../src/lab/node.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';
import { run } from '../../src/exec/run.js';
import type { Running, Topology } from './topology.js';
import { enableForwarding, wireRoutedPod } from './wiring.js';

async function removeAll(nss: Netns[]): Promise<void> {
  for (const ns of nss) await ns.remove();
}

export const direct: Topology = {
  name: 'direct',
  scope: 'same-node',
  limit: 'direct',
  async setup() {
    const p = await createDirectPair('pwbd');
    return { client: p.a.path, server: p.b.path, serverIp: p.ipB, describe: `veth pair ${p.a.name} ↔ ${p.b.name}`, teardown: () => p.remove() };
  },
};

/** docker0 / flannel cni0 style: a Linux bridge in the node, pods in one subnet, L2 switching. */
export const bridge: Topology = {
  name: 'bridge',
  scope: 'same-node',
  limit: 'direct',
  async setup() {
    const made: Netns[] = [];
    try {
      const node = await createNetns('pwbb');
      made.push(node);
      const br = uniqueName('pwbbr');
      await node.exec('ip', ['-batch', '-'], { input: `link add ${br} type bridge\naddr add 10.98.1.1/24 dev ${br}\nlink set ${br} up\n` });
      const pods: Netns[] = [];
      for (let i = 0; i < 2; i++) {
        const pod = await createNetns('pwbb');
        made.push(pod);
        pods.push(pod);
        const host = uniqueName('pwbbv');
        await run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.path], { netns: node.path });
        await node.exec('ip', ['-batch', '-'], { input: `link set ${host} master ${br}\nlink set ${host} up\n` });
        await pod.exec('ip', ['-batch', '-'], { input: `addr add 10.98.1.${i + 2}/24 dev eth0\nlink set eth0 up\nroute add default via 10.98.1.1\n` });
      }
      return { client: pods[0]!.path, server: pods[1]!.path, serverIp: '10.98.1.3', describe: `bridge ${br} in ${node.name}`, teardown: () => removeAll(made) };
    } catch (e) {
      await removeAll(made);
      throw e;
    }
  },
};

/** Calico style: plain kernel routing, /32 per pod, no bridge, no overlay. */
export const routed: Topology = {
  name: 'routed',
  scope: 'same-node',
  limit: 'direct',
  async setup() {
    const made: Netns[] = [];
    try {
      const node = await createNetns('pwbr');
      made.push(node);
      await enableForwarding(node);
      const pods: Netns[] = [];
      for (let i = 0; i < 2; i++) {
        const pod = await createNetns('pwbr');
        made.push(pod);
        pods.push(pod);
        await wireRoutedPod(node, pod, `10.98.2.${i + 2}`);
      }
      return { client: pods[0]!.path, server: pods[1]!.path, serverIp: '10.98.2.3', describe: `kernel /32 routes in ${node.name}`, teardown: () => removeAll(made) };
    } catch (e) {
      await removeAll(made);
      throw e;
    }
  },
};

/** podwire: a lab node (datapath loaded into its own pin dir), two pods through the CNI binary. */
export const podwireSameNode: Topology = {
  name: 'podwire-same-node',
  scope: 'same-node',
  limit: 'direct',
  async setup() {
    const node = await LabNode.create({ podCIDR: '10.97.1.0/24', prefix: 'pwbn' });
    try {
      const a = await node.addPod('bench-a');
      const b = await node.addPod('bench-b');
      return {
        client: a.netns.path,
        server: b.netns.path,
        serverIp: b.ip,
        describe: `lab node ${node.netns.name}, pins ${node.pinDir}, pods ${a.ip} → ${b.ip}`,
        teardown: () => node.destroy(),
      };
    } catch (e) {
      await node.destroy().catch(() => {});
      throw e;
    }
  },
};

const BENCH_SERVICE_IP = '10.96.0.10';

/**
 * podwire, pod → ClusterIP → pod on one node: the same lab node and pods, and a kube-proxy-style
 * DNAT of a Service IP to the server pod in the node's nat table. The client's packets go through
 * the node's stack (DNAT), the server's replies through it too (conntrack un-DNAT, podwire's
 * PASS_STACK_NAT_REPLY): what a Service costs next to the plain pod → pod row.
 */
export const podwireSameNodeClusterIp: Topology = {
  name: 'podwire-same-node-clusterip',
  scope: 'same-node',
  limit: 'direct',
  async setup() {
    const node = await LabNode.create({ podCIDR: '10.97.2.0/24', prefix: 'pwbs' });
    try {
      const a = await node.addPod('bench-a');
      const b = await node.addPod('bench-b');
      await run('iptables', ['-w', '5', '-t', 'nat', '-A', 'PREROUTING', '-d', `${BENCH_SERVICE_IP}/32`, '-j', 'DNAT', '--to-destination', b.ip], { netns: node.netns.path });
      // a real node routes Service IPs by its default route; this one has none
      await run('ip', ['route', 'add', '10.96.0.0/12', 'dev', 'lo'], { netns: node.netns.path });
      return {
        client: a.netns.path,
        server: b.netns.path,
        serverIp: b.ip,
        dialIp: BENCH_SERVICE_IP,
        describe: `lab node ${node.netns.name}, pins ${node.pinDir}, pods ${a.ip} → ${BENCH_SERVICE_IP} (DNAT) → ${b.ip}`,
        teardown: () => node.destroy(),
      };
    } catch (e) {
      await node.destroy().catch(() => {});
      throw e;
    }
  },
};
