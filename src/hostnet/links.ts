// Reading the node's links: the uplink (ifindex, MTU, IPv4 address) and whether podwire's VXLAN
// device exists with the configuration we need.
import { PodwireError } from '../errors/index.js';
import { run, runJson } from '../exec/run.js';
import { VXLAN_PORT } from './constants.js';

export interface LinkInfo {
  ifindex: number;
  ifname: string;
  mtu: number;
  /** First global IPv4 address, if any. */
  ipv4?: string;
  kind?: string;
  vxlan?: { external?: boolean; port?: number };
}

interface IpAddrJson {
  ifindex: number;
  ifname: string;
  mtu: number;
  linkinfo?: { info_kind?: string; info_data?: { external?: boolean; port?: number } };
  addr_info?: Array<{ family?: string; local?: string; scope?: string }>;
}

/** One link by name (with addresses and link details), or undefined when it does not exist. */
export async function readLink(ifname: string, netns?: string): Promise<LinkInfo | undefined> {
  const r = await run('ip', ['-j', '-d', 'addr', 'show', 'dev', ifname], { netns, reject: false });
  if (r.exitCode !== 0) {
    if (/does not exist|Cannot find device/.test(r.stderr)) return undefined;
    throw new PodwireError('IO_FAILED', `reading link ${ifname} failed: ${r.stderr.trim()}`);
  }
  const [l] = JSON.parse(r.stdout) as IpAddrJson[];
  if (!l) return undefined;
  const ipv4 = l.addr_info?.find((a) => a.family === 'inet' && a.scope === 'global')?.local;
  return {
    ifindex: l.ifindex,
    ifname: l.ifname,
    mtu: l.mtu,
    ...(ipv4 ? { ipv4 } : {}),
    ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
    ...(l.linkinfo?.info_kind === 'vxlan' ? { vxlan: { external: l.linkinfo.info_data?.external, port: l.linkinfo.info_data?.port } } : {}),
  };
}

/** A podwire VXLAN device must be collect-metadata (external) on our port; anything else is replaced. */
export function isOurVxlan(l: LinkInfo): boolean {
  return l.kind === 'vxlan' && l.vxlan?.external === true && l.vxlan.port === VXLAN_PORT;
}

/** ifname by ifindex in a namespace, or undefined. */
export async function ifnameOf(ifindex: number, netns?: string): Promise<string | undefined> {
  const links = await runJson<Array<{ ifindex: number; ifname: string }>>('ip', ['-j', 'link', 'show'], { netns, errorCode: 'IO_FAILED' });
  return links.find((l) => l.ifindex === ifindex)?.ifname;
}
