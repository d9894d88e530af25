// Attaching pinned programs with tc (clsact + direct-action filter on ingress): from_pod on host
// veths, from_uplink / from_vxlan on a node's uplink / VXLAN device; and reading back which
// program is attached. Everything runs in the caller's network namespace
// unless `netns` is given (tests, or an agent managing a node namespace).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BPFTOOL } from '../build/bpf.mjs';
import { PodwireError } from '../errors/index.js';
import { run, runJson } from '../exec/run.js';
import { pinPaths, type ProgName } from './pins.js';

export interface NetnsOption {
  /** Network namespace path (e.g. /run/netns/x); default: the caller's. */
  netns?: string;
}

// One fixed slot for our filter, so `replace` swaps the program in place and detach is exact.
const FILTER_SLOT = 'pref 1 handle 1';

function checkIfname(ifname: string): void {
  // tc -batch parses whitespace-separated words per line: a name must be one plain word
  if (!/^[^\s/]{1,15}$/.test(ifname)) throw new PodwireError('CONFIG_INVALID', `invalid interface name ${JSON.stringify(ifname)}`);
}

export function notLoaded(pinDir: string): PodwireError {
  return new PodwireError('DATAPATH_NOT_LOADED', `no podwire datapath at ${pinDir}: run \`podwire datapath load --pin-dir ${pinDir}\``);
}

function attachLines(ifname: string, prog: string): string {
  return `qdisc replace dev ${ifname} clsact\nfilter replace dev ${ifname} ingress ${FILTER_SLOT} bpf da pinned ${prog}\n`;
}

/** Attach PINDIR/progs/PROG to ingress of ifname (replacing what our slot held). One tc exec. */
export async function attachProgram(progName: ProgName, ifname: string, pinDir: string, opts: NetnsOption = {}): Promise<void> {
  checkIfname(ifname);
  const prog = join(pinPaths(pinDir).progsDir, progName);
  if (!existsSync(prog)) throw notLoaded(pinDir);
  await run('tc', ['-batch', '-'], { input: attachLines(ifname, prog), netns: opts.netns, errorCode: 'IO_FAILED' });
}

/** Attach PINDIR/progs/from_pod to ingress of a host veth. One exec: this is on the CNI ADD path. */
export async function attachFromPod(ifname: string, pinDir: string, opts: NetnsOption = {}): Promise<void> {
  await attachProgram('from_pod', ifname, pinDir, opts);
}

/** Attach to many interfaces in one tc exec; returns how many were attached. */
export async function attachFromPodMany(ifnames: readonly string[], pinDir: string, opts: NetnsOption = {}): Promise<number> {
  if (ifnames.length === 0) return 0;
  ifnames.forEach(checkIfname);
  const prog = pinPaths(pinDir).progs.fromPod;
  const script = ifnames.map((i) => attachLines(i, prog)).join('');
  // -force: one veth vanishing mid-way (pod deleted) must not stop the others
  const r = await run('tc', ['-force', '-batch', '-'], { input: script, netns: opts.netns, reject: false });
  if (r.exitCode !== 0) {
    throw new PodwireError('IO_FAILED', `re-attaching from_pod failed on some interfaces: ${r.stderr.trim()}`, { details: r.stderr });
  }
  return ifnames.length;
}

/** Remove our filter from the interfaces (the clsact qdisc stays: other tools may use it). */
export async function detachProgram(ifnames: readonly string[], opts: NetnsOption = {}): Promise<void> {
  await detachFromPod(ifnames, opts);
}

/** Same as detachProgram (one filter slot serves every program); kept for the CNI/loader callers. */
export async function detachFromPod(ifnames: readonly string[], opts: NetnsOption = {}): Promise<void> {
  if (ifnames.length === 0) return;
  ifnames.forEach(checkIfname);
  const script = ifnames.map((i) => `filter del dev ${i} ingress ${FILTER_SLOT} bpf\n`).join('');
  await run('tc', ['-force', '-batch', '-'], { input: script, netns: opts.netns, reject: false });
}

interface TcFilter {
  kind?: string;
  options?: { handle?: string; prog?: { id?: number } };
}

/** Id of the BPF program in our ingress filter slot of ifname, or undefined when none is attached. */
export async function attachedProgramId(ifname: string, opts: NetnsOption = {}): Promise<number | undefined> {
  checkIfname(ifname);
  const filters = await runJson<TcFilter[]>('tc', ['-j', 'filter', 'show', 'dev', ifname, 'ingress'], {
    netns: opts.netns,
    errorCode: 'IO_FAILED',
  });
  for (const f of filters) {
    if (f.kind === 'bpf' && f.options?.handle === '0x1' && typeof f.options.prog?.id === 'number') return f.options.prog.id;
  }
  return undefined;
}

/** Id of the program pinned at PINDIR/progs/PROG (default from_pod). */
export async function pinnedProgramId(pinDir: string, progName: ProgName = 'from_pod'): Promise<number> {
  const pin = join(pinPaths(pinDir).progsDir, progName);
  if (!existsSync(pin)) throw notLoaded(pinDir);
  const info = await runJson<{ id: number }>(BPFTOOL, ['-j', 'prog', 'show', 'pinned', pin], { errorCode: 'IO_FAILED' });
  return info.id;
}

interface IpLink {
  ifindex: number;
  ifname: string;
}

/** ifindex -> name for the interfaces of a namespace (one `ip -j link` exec). */
export async function linkNames(opts: NetnsOption = {}): Promise<Map<number, string>> {
  const links = await runJson<IpLink[]>('ip', ['-j', 'link', 'show'], { netns: opts.netns, errorCode: 'IO_FAILED' });
  return new Map(links.map((l) => [l.ifindex, l.ifname]));
}
