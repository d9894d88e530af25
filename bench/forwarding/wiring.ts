// Kernel-only wiring shared by the baseline topologies: a "routed" pod the way Calico wires
// one (a /32 on eth0, default route via a link-local gateway whose neighbour entry is the host
// veth's MAC, a /32 route and a static neighbour entry on the host side).
import { run } from '../../src/exec/run.js';
import { uniqueName, type Netns } from '../../src/netns/index.js';

export const GATEWAY = '169.254.1.1';

async function macOf(netns: Netns, dev: string): Promise<string> {
  // not /sys/class/net: nsenter --net keeps the root namespace's sysfs mount
  const r = await netns.exec('ip', ['-j', 'link', 'show', 'dev', dev]);
  const mac = (JSON.parse(r.stdout) as Array<{ address?: string }>)[0]?.address;
  if (!mac) throw new Error(`no MAC for ${dev} in ${netns.name}`);
  return mac;
}

/** A veth between `node` and `pod` (pod end named eth0); returns the host end's name. */
export async function vethInto(node: Netns, pod: Netns, prefix: string, mtu = 1500): Promise<string> {
  const host = uniqueName(prefix);
  await run('ip', ['link', 'add', host, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(mtu), 'netns', pod.path], { netns: node.path });
  await node.exec('ip', ['link', 'set', host, 'up']);
  await pod.exec('ip', ['link', 'set', 'eth0', 'up']);
  return host;
}

/** Calico-style routed pod: /32 address, link-local gateway, host /32 route + static neighbour. */
export async function wireRoutedPod(node: Netns, pod: Netns, ip: string, opts: { mtu?: number; prefix?: string } = {}): Promise<string> {
  const host = await vethInto(node, pod, opts.prefix ?? 'pwbr', opts.mtu);
  const hostMac = await macOf(node, host);
  const podMac = await macOf(pod, 'eth0');
  await pod.exec('ip', ['-batch', '-'], {
    input: [
      `addr add ${ip}/32 dev eth0`,
      `route add ${GATEWAY} dev eth0 scope link`,
      `route add default via ${GATEWAY} dev eth0`,
      `neigh replace ${GATEWAY} lladdr ${hostMac} dev eth0 nud permanent`,
    ].join('\n') + '\n',
  });
  await node.exec('ip', ['-batch', '-'], {
    input: `route add ${ip}/32 dev ${host}\nneigh replace ${ip} lladdr ${podMac} dev ${host} nud permanent\n`,
  });
  return host;
}

export async function enableForwarding(node: Netns): Promise<void> {
  await node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
}

export { macOf };
