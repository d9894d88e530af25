// The pod's veth pair and its addressing, each side configured with ONE exec of iproute2.
// Pods reach everything through a link-local gateway: the pod has IP/32, a link route to
// 169.254.1.1, a default route via it, and a permanent neighbour entry that resolves the
// gateway to the host veth's MAC, so every packet the pod sends lands on the host veth's tc
// ingress (the from-pod program) without any address on the host side.
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';

export const POD_GATEWAY = '169.254.1.1';

export interface VethSpec {
  host: string;
  ifname: string;
  netns: string;
  mtu: number;
  hostMac: string;
  podMac: string;
  podIp: string;
}

/** Why `ip -batch` stopped: the 1-based line that failed and what iproute2 said. */
export interface BatchFailure {
  line: number;
  message: string;
}

function batchFailure(stderr: string): BatchFailure {
  const m = /Command failed -:(\d+)/.exec(stderr);
  const message = stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('Command failed'))
    .join('; ');
  return { line: m ? Number(m[1]) : 0, message: message || stderr.trim() };
}

function parseJsonLines(stdout: string): unknown[][] {
  return stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('['))
    .map((l) => JSON.parse(l) as unknown[]);
}

/**
 * Host side, one exec: create the pair with the peer created straight inside the pod netns as
 * its final name (no rename/move step), bring the host end up, route the pod IP to it, and
 * print the host end so we learn its ifindex.
 */
export async function createVeth(s: VethSpec): Promise<{ ok: true; hostIfindex: number } | { ok: false; failure: BatchFailure }> {
  const batch = [
    `link add ${s.host} address ${s.hostMac} mtu ${s.mtu} type veth peer name ${s.ifname} address ${s.podMac} mtu ${s.mtu} netns ${s.netns}`,
    `link set dev ${s.host} up`,
    `route replace ${s.podIp}/32 dev ${s.host} scope link`,
    `link show dev ${s.host}`,
  ].join('\n');
  const r = await run('ip', ['-j', '-batch', '-'], { input: `${batch}\n`, reject: false });
  if (r.exitCode !== 0) return { ok: false, failure: batchFailure(r.stderr) };
  const link = parseJsonLines(r.stdout)[0]?.[0] as { ifindex?: number } | undefined;
  if (typeof link?.ifindex !== 'number') {
    return { ok: false, failure: { line: 4, message: `ip printed no ifindex for ${s.host}` } };
  }
  return { ok: true, hostIfindex: link.ifindex };
}

/** Pod side, one exec inside the pod netns: address, link up, gateway route + neighbour. */
export async function configurePod(s: VethSpec): Promise<void> {
  const batch = [
    `addr add ${s.podIp}/32 dev ${s.ifname}`,
    `link set dev ${s.ifname} up`,
    `route replace ${POD_GATEWAY} dev ${s.ifname} scope link`,
    `route replace default via ${POD_GATEWAY} dev ${s.ifname}`,
    `neigh replace ${POD_GATEWAY} lladdr ${s.hostMac} dev ${s.ifname} nud permanent`,
  ].join('\n');
  const r = await run('ip', ['-batch', '-'], { input: `${batch}\n`, netns: s.netns, reject: false });
  if (r.exitCode !== 0) {
    const f = batchFailure(r.stderr);
    throw new PodwireError('IO_FAILED', `configuring ${s.ifname} in ${s.netns} failed at step ${f.line}: ${f.message}`);
  }
}

/** Delete links by name in this netns (the veth peer goes with it); missing links are fine. */
export async function deleteLinks(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  // -force keeps going after a failure, so one vanished link does not stop the rest.
  const r = await run('ip', ['-force', '-batch', '-'], { input: names.map((n) => `link del dev ${n}\n`).join(''), reject: false });
  if (r.exitCode === 0) return;
  const real = r.stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('Command failed') && !/Cannot find device/.test(l));
  if (real.length > 0) throw new PodwireError('IO_FAILED', `deleting ${names.join(', ')} failed: ${real.join('; ')}`);
}

export interface HostLinkState {
  ifindex: number;
  mac: string;
}

/** The host veth's ifindex and MAC, or undefined when it does not exist. */
export async function inspectHostLink(name: string): Promise<HostLinkState | undefined> {
  const r = await run('ip', ['-j', 'link', 'show', 'dev', name], { reject: false });
  if (r.exitCode !== 0) return undefined;
  const l = parseJsonLines(r.stdout)[0]?.[0] as { ifindex?: number; address?: string } | undefined;
  return l && typeof l.ifindex === 'number' ? { ifindex: l.ifindex, mac: String(l.address ?? '') } : undefined;
}

export interface PodState {
  mac: string;
  up: boolean;
  /** "a.b.c.d/len" */
  addresses: string[];
  defaultViaGateway: boolean;
  gatewayNeighMac?: string;
  gatewayNeighPermanent: boolean;
}

/** What CHECK needs from inside the pod, one exec; undefined when the interface is missing. */
export async function inspectPod(netns: string, ifname: string): Promise<PodState | undefined> {
  const batch = [`addr show dev ${ifname}`, `route show default`, `neigh show ${POD_GATEWAY} dev ${ifname}`].join('\n');
  const r = await run('ip', ['-j', '-batch', '-'], { input: `${batch}\n`, netns, errorCode: 'IO_FAILED' }).catch(
    (e: unknown) => e as PodwireError,
  );
  if (r instanceof PodwireError) {
    if (/does not exist|Cannot find device/.test(r.message)) return undefined;
    throw r;
  }
  const [addrs = [], routes = [], neighs = []] = parseJsonLines(r.stdout);
  const link = addrs[0] as { address?: string; flags?: string[]; addr_info?: { family?: string; local?: string; prefixlen?: number }[] } | undefined;
  if (!link) return undefined;
  const neigh = neighs[0] as { lladdr?: string; state?: string[] } | undefined;
  return {
    mac: String(link.address ?? ''),
    up: (link.flags ?? []).includes('UP'),
    addresses: (link.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    defaultViaGateway: (routes as { dst?: string; gateway?: string; dev?: string }[]).some(
      (rt) => rt.dst === 'default' && rt.gateway === POD_GATEWAY && rt.dev === ifname,
    ),
    ...(neigh?.lladdr ? { gatewayNeighMac: neigh.lladdr } : {}),
    gatewayNeighPermanent: (neigh?.state ?? []).includes('PERMANENT'),
  };
}
