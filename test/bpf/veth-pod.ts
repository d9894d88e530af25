// A pod the way the CNI wires one, for tests that drive the datapath without the CNI: a veth pair
// (host end in the node namespace, eth0 in the pod's), the pod's /32 address, its default route
// via the link-local gateway and a permanent neighbour entry for it on the host end's MAC.
import type { Netns } from '../../src/netns/index.js';

export const GW = '169.254.1.1';

export async function link(ns: Netns, name: string): Promise<{ ifindex: number; address: string }> {
  const out = await ns.exec('ip', ['-j', 'link', 'show', name]);
  return (JSON.parse(out.stdout) as Array<{ ifindex: number; address: string }>)[0]!;
}

/** Wire `pod` to `node` through a veth named `host` on the node side; returns what an endpoint entry needs. */
export async function wireVethPod(node: Netns, pod: Netns, host: string, ip: string, opts: { disableIpv6?: boolean } = {}): Promise<{ ifindex: number; hostMac: string; podMac: string }> {
  await node.exec('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.path]);
  await node.exec('ip', ['link', 'set', host, 'up']);
  const h = await link(node, host);
  if (opts.disableIpv6) await pod.exec('sysctl', ['-qw', 'net.ipv6.conf.eth0.disable_ipv6=1']);
  await pod.exec('ip', ['addr', 'add', `${ip}/32`, 'dev', 'eth0']);
  await pod.exec('ip', ['link', 'set', 'eth0', 'up']);
  await pod.exec('ip', ['route', 'add', GW, 'dev', 'eth0', 'scope', 'link']);
  await pod.exec('ip', ['route', 'add', 'default', 'via', GW, 'dev', 'eth0']);
  await pod.exec('ip', ['neigh', 'add', GW, 'lladdr', h.address, 'dev', 'eth0', 'nud', 'permanent']);
  const p = await link(pod, 'eth0');
  return { ifindex: h.ifindex, hostMac: h.address, podMac: p.address };
}
