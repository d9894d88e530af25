// The pod's veth pair and its addressing through iproute2. Strings from the runtime (the pod's
// interface name, the netns path) only ever travel as argv elements: never through `ip -batch`
// or any other parser of lines.
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

/** Why creating the pair failed, and whether the pair exists (then the caller must delete it). */
export interface VethFailure {
  /** The pod-side name is taken inside the pod's namespace. */
  podNameTaken: boolean;
  pairExists: boolean;
  message: string;
}

function parseJsonLines(stdout: string): unknown[][] {
  return stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('['))
    .map((l) => JSON.parse(l) as unknown[]);
}

// Tokens podwire generates itself. Only these may go through `ip -batch` (a line parser: '#'
// starts a comment anywhere on a line, quotes group words), so a batch never carries a string
// from the runtime. Checked, not assumed: a bug that let one through would fail loudly here.
const SAFE_TOKEN = /^[A-Za-z0-9.:/_-]+$/;
function batchLine(...tokens: Array<string | number>): string {
  for (const t of tokens) {
    if (!SAFE_TOKEN.test(String(t))) throw new PodwireError('IO_FAILED', `internal: ${JSON.stringify(t)} may not go through ip -batch`);
  }
  return tokens.join(' ');
}

// Each side is ONE exec of a fixed POSIX shell script running iproute2 once per step: one
// process start per side (as with `ip -batch`, which parses its input and must never see a
// runtime's string), while every value — our own and the runtime's — reaches the script only as
// a positional parameter and ip only as one argv element ("$n" is never re-parsed by the shell).
// The exit status says which step failed.
const STEP_FIRST_FAILED = 21;
const STEP_LATER_FAILED = 22;

const HOST_SCRIPT = [
  // $1 host  $2 host MAC  $3 mtu  $4 pod ifname  $5 pod MAC  $6 netns
  `ip link add "$1" address "$2" mtu "$3" type veth peer name "$4" address "$5" mtu "$3" netns "$6" || exit ${STEP_FIRST_FAILED}`,
  `ip link set dev "$1" up || exit ${STEP_LATER_FAILED}`,
  `ip -j link show dev "$1" || exit ${STEP_LATER_FAILED}`,
].join('\n');

const POD_SCRIPT = [
  // $1 pod IP/32  $2 pod ifname  $3 gateway  $4 host MAC
  'ip addr add "$1" dev "$2" || exit 1',
  // IPv6 off on the pod interface before it comes up (no link-local address, DAD or router
  // solicitation): the pod network is IPv4-only and from_pod drops IPv6 (DROP_IPV6). A kernel
  // without IPv6, or an MTU below IPv6's 1280 (the kernel then drops the interface's IPv6 state),
  // leaves nothing to turn off.
  'if [ -d "/proc/sys/net/ipv6/conf/$2" ]; then echo 1 > "/proc/sys/net/ipv6/conf/$2/disable_ipv6" || exit 6; fi',
  'ip link set dev "$2" up || exit 2',
  'ip route replace "$3" dev "$2" scope link || exit 3',
  'ip route replace default via "$3" dev "$2" || exit 4',
  'ip neigh replace "$3" lladdr "$4" dev "$2" nud permanent || exit 5',
].join('\n');

/**
 * Host side: create the pair with the peer made straight inside the pod netns under its final
 * name (no rename/move step), bring the host end up, and print it so we learn its ifindex. The
 * pod's address is not needed yet (ADD allocates it meanwhile): routeToPod follows.
 */
export async function createVeth(s: VethSpec): Promise<{ ok: true; hostIfindex: number } | { ok: false; failure: VethFailure }> {
  const r = await run('sh', ['-c', HOST_SCRIPT, 'podwire-veth', s.host, s.hostMac, String(s.mtu), s.ifname, s.podMac, s.netns], { reject: false });
  if (r.exitCode !== 0) {
    const message = r.stderr.trim() || `exit ${r.exitCode}`;
    // RTM_NEWLINK is all or nothing: when the first step failed, no pair exists. Any other
    // failure (a later step, or sh itself) may have left one: the caller deletes it.
    if (r.exitCode === STEP_FIRST_FAILED) return { ok: false, failure: { podNameTaken: /File exists/.test(message), pairExists: false, message } };
    return { ok: false, failure: { podNameTaken: false, pairExists: true, message } };
  }
  const link = parseJsonLines(r.stdout)[0]?.[0] as { ifindex?: number } | undefined;
  if (typeof link?.ifindex !== 'number') {
    return { ok: false, failure: { podNameTaken: false, pairExists: true, message: `ip printed no ifindex for ${s.host}` } };
  }
  return { ok: true, hostIfindex: link.ifindex };
}

/** The pod's /32 route to its host veth (one exec, argv only). */
export async function routeToPod(host: string, ip: string): Promise<void> {
  const r = await run('ip', ['route', 'replace', `${ip}/32`, 'dev', host, 'scope', 'link'], { reject: false });
  if (r.exitCode !== 0) throw new PodwireError('IO_FAILED', `routing ${ip} to ${host} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
}

/** Pod side, one exec inside the pod netns: address, link up, gateway route, default route, neighbour. */
export async function configurePod(s: VethSpec): Promise<void> {
  const r = await run('sh', ['-c', POD_SCRIPT, 'podwire-pod', `${s.podIp}/32`, s.ifname, POD_GATEWAY, s.hostMac], { netns: s.netns, reject: false });
  if (r.exitCode !== 0) {
    throw new PodwireError('IO_FAILED', `configuring ${JSON.stringify(s.ifname)} in ${s.netns} failed at step ${r.exitCode}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  }
}

/** Delete podwire host veths by name in this netns (the peer goes with each); missing links are fine. */
export async function deleteLinks(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  // -force keeps going after a failure, so one vanished link does not stop the rest.
  const r = await run('ip', ['-force', '-batch', '-'], { input: names.map((n) => `${batchLine('link', 'del', 'dev', n)}\n`).join(''), reject: false });
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

/** What CHECK needs from inside the pod (three argv execs side by side); undefined when the interface is missing. */
export async function inspectPod(netns: string, ifname: string): Promise<PodState | undefined> {
  const [a, rt, n] = await Promise.all([
    run('ip', ['-j', 'addr', 'show', 'dev', ifname], { netns, reject: false }),
    run('ip', ['-j', 'route', 'show', 'default'], { netns, reject: false }),
    run('ip', ['-j', 'neigh', 'show', POD_GATEWAY, 'dev', ifname], { netns, reject: false }),
  ]);
  if (a.exitCode !== 0) {
    if (/does not exist|Cannot find device/.test(a.stderr)) return undefined;
    throw new PodwireError('IO_FAILED', `reading ${JSON.stringify(ifname)} in ${netns} failed: ${a.stderr.trim()}`);
  }
  for (const r of [rt, n]) if (r.exitCode !== 0) throw new PodwireError('IO_FAILED', `reading routes/neighbours in ${netns} failed: ${r.stderr.trim()}`);
  const [addrs = []] = parseJsonLines(a.stdout);
  const [routes = []] = parseJsonLines(rt.stdout);
  const [neighs = []] = parseJsonLines(n.stdout);
  const link = addrs[0] as { address?: string; flags?: string[]; addr_info?: { family?: string; local?: string; prefixlen?: number }[] } | undefined;
  if (!link) return undefined;
  const neigh = neighs[0] as { lladdr?: string; state?: string[] } | undefined;
  return {
    mac: String(link.address ?? ''),
    up: (link.flags ?? []).includes('UP'),
    addresses: (link.addr_info ?? []).filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`),
    defaultViaGateway: (routes as { dst?: string; gateway?: string; dev?: string }[]).some(
      (r) => r.dst === 'default' && r.gateway === POD_GATEWAY && r.dev === ifname,
    ),
    ...(neigh?.lladdr ? { gatewayNeighMac: neigh.lladdr } : {}),
    gatewayNeighPermanent: (neigh?.state ?? []).includes('PERMANENT'),
  };
}
