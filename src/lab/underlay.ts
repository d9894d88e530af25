// The lab's underlay: a namespace holding a Linux bridge (the "switch"), and one uplink per
// node namespace plugged into it. The bridge itself carries the control-plane address, so
// the lab's API server can listen there and every node reaches it over the underlay, the way
// real nodes reach a control plane. Nothing is routed to or from the root namespace.
import { run } from '../exec/run.js';
import { createNetns, uniqueName, type Netns } from '../netns/index.js';

export interface UnderlayOptions {
  prefix?: string;
  /** /24 used for the underlay; the bridge takes .1, nodes .11, .12, … */
  subnet?: string;
  mtu?: number;
}

export interface UnderlayPort {
  /** Name of the uplink inside the node namespace. */
  uplink: string;
  ip: string;
  prefixLen: number;
}

export interface Underlay {
  netns: Netns;
  bridge: string;
  /** Address of the bridge: where control-plane processes listen. */
  controlIp: string;
  subnet: string;
  /** Plug a node namespace into the switch; returns its uplink and underlay address. */
  attach(node: Netns, index: number, opts?: { uplink?: string }): Promise<UnderlayPort>;
  remove(): Promise<void>;
}

export async function createUnderlay(opts: UnderlayOptions = {}): Promise<Underlay> {
  const prefix = opts.prefix ?? 'pwul';
  const subnet = opts.subnet ?? '172.30.0.0/24';
  const base = subnet.split('/')[0]!.split('.').slice(0, 3).join('.');
  const mtu = opts.mtu ?? 1500;
  const netns = await createNetns(prefix);
  const bridge = 'br0';
  try {
    await netns.exec('ip', ['-batch', '-'], {
      input: `link add ${bridge} mtu ${mtu} type bridge\naddr add ${base}.1/24 dev ${bridge}\nlink set ${bridge} up\n`,
    });
  } catch (e) {
    await netns.remove();
    throw e;
  }
  return {
    netns,
    bridge,
    controlIp: `${base}.1`,
    subnet,
    attach: (node, index, a = {}) => attachToUnderlay({ netnsPath: netns.path, bridge, subnet, mtu }, node, index, a.uplink),
    async remove() {
      await netns.remove();
    },
  };
}


/** Plug a node namespace into an underlay's switch (also for a lab found through its state file). */
export async function attachToUnderlay(
  u: { netnsPath: string; bridge?: string; subnet: string; mtu?: number },
  node: Netns,
  index: number,
  uplink = 'eth0',
): Promise<UnderlayPort> {
  const base = u.subnet.split('/')[0]!.split('.').slice(0, 3).join('.');
  const mtu = String(u.mtu ?? 1500);
  const port = uniqueName('pwup');
  const ip = `${base}.${11 + index}`;
  // Create the pair inside the underlay namespace and move one end straight into the node.
  await run('ip', ['link', 'add', port, 'mtu', mtu, 'type', 'veth', 'peer', 'name', uplink, 'mtu', mtu, 'netns', node.path], { netns: u.netnsPath });
  await run('ip', ['-batch', '-'], { netns: u.netnsPath, input: `link set ${port} master ${u.bridge ?? 'br0'}\nlink set ${port} up\n` });
  await node.exec('ip', ['-batch', '-'], { input: `addr add ${ip}/24 dev ${uplink}\nlink set ${uplink} up\n` });
  return { uplink, ip, prefixLen: 24 };
}
