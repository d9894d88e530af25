// The pod's veth pair and its addressing through iproute2. Strings from the runtime (the pod's
// interface name, the netns path) only ever travel as argv elements: never through `ip -batch`.
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

/** ip -batch reports "Command failed -:N" after the kernel's reason; keep only the reason. */
function batchMessage(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Command failed'));
  return lines.join('; ') || stderr.trim();
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

/**
 * Host side: create the pair with the peer made straight inside the pod netns under its final
 * name (no rename/move step) — ONE argv exec, because the pod-side name and the netns path come
 * from the runtime — then, in one batch of podwire-made tokens only: bring the host end up,
 * route the pod IP to it, and print it so we learn its ifindex.
 */
export async function createVeth(s: VethSpec): Promise<{ ok: true; hostIfindex: number } | { ok: false; failure: VethFailure }> {
  const add = await run(
    'ip',
    ['link', 'add', s.host, 'address', s.hostMac, 'mtu', String(s.mtu), 'type', 'veth', 'peer', 'name', s.ifname, 'address', s.podMac, 'mtu', String(s.mtu), 'netns', s.netns],
    { reject: false },
  );
  if (add.exitCode !== 0) {
    // RTM_NEWLINK is all or nothing: a failed add leaves no pair behind.
    return { ok: false, failure: { podNameTaken: /File exists/.test(add.stderr), pairExists: false, message: add.stderr.trim() || `ip exit ${add.exitCode}` } };
  }
  const batch = [
    batchLine('link', 'set', 'dev', s.host, 'up'),
    batchLine('route', 'replace', `${s.podIp}/32`, 'dev', s.host, 'scope', 'link'),
    batchLine('link', 'show', 'dev', s.host),
  ].join('\n');
  const r = await run('ip', ['-j', '-batch', '-'], { input: `${batch}\n`, reject: false });
  if (r.exitCode !== 0) return { ok: false, failure: { podNameTaken: false, pairExists: true, message: batchMessage(r.stderr) } };
  const link = parseJsonLines(r.stdout)[0]?.[0] as { ifindex?: number } | undefined;
  if (typeof link?.ifindex !== 'number') {
    return { ok: false, failure: { podNameTaken: false, pairExists: true, message: `ip printed no ifindex for ${s.host}` } };
  }
  return { ok: true, hostIfindex: link.ifindex };
}

/** Run argv execs of ip in a netns side by side; wait for all, then report every failure. */
async function ipAll(netns: string, cmds: readonly string[][]): Promise<string[]> {
  const rs = await Promise.all(cmds.map((args) => run('ip', args, { netns, reject: false })));
  return rs.flatMap((r, i) => (r.exitCode === 0 ? [] : [`ip ${cmds[i]!.join(' ')}: ${r.stderr.trim() || `exit ${r.exitCode}`}`]));
}

/**
 * Pod side, argv execs inside the pod netns (the interface name is the runtime's): address and
 * link up, then the gateway's link route, the default route via it (onlink: the gateway is on
 * the link by construction, so it need not wait for the link route) and its permanent neighbour.
 */
export async function configurePod(s: VethSpec): Promise<void> {
  const dev = ['dev', s.ifname];
  const stages = [
    [
      ['addr', 'add', `${s.podIp}/32`, ...dev],
      ['link', 'set', ...dev, 'up'],
    ],
    [
      ['route', 'replace', POD_GATEWAY, ...dev, 'scope', 'link'],
      ['route', 'replace', 'default', 'via', POD_GATEWAY, ...dev, 'onlink'],
      ['neigh', 'replace', POD_GATEWAY, 'lladdr', s.hostMac, ...dev, 'nud', 'permanent'],
    ],
  ];
  for (const [i, cmds] of stages.entries()) {
    const failed = await ipAll(s.netns, cmds);
    if (failed.length > 0) throw new PodwireError('IO_FAILED', `configuring ${JSON.stringify(s.ifname)} in ${s.netns} failed at stage ${i + 1}: ${failed.join('; ')}`);
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
