// Attaching pinned programs with tcx links: from_pod (ingress) and to_pod (egress) on host veths,
// from_uplink / from_vxlan (ingress) and to_uplink (egress) on a node's uplink / VXLAN device, each link pinned at
// PINDIR/links/<ifname> or PINDIR/links-egress/<ifname> (pins.ts linkPin), and
// reading back which program runs where. tcx instead of clsact + tc filters because tcx coexists
// with qdiscs (Debian's `bandwidth` plugin needs the ingress qdisc on the host veth, which clsact
// occupies), and BPF_LINK_UPDATE swaps a program atomically. Devices resolve in the caller's
// network namespace unless `netns` is given (tests, or an agent managing a node namespace).
import { existsSync, mkdirSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BPFTOOL } from '../build/toolchain.mjs';
import { PodwireError } from '../errors/index.js';
import { run, runJson } from '../exec/run.js';
import { linkPin, linkPinIfname, pinPaths, type LinkDir, type ProgName } from './pins.js';
import { eachLimited, tcxAttach, tcxDetach, tcxQuery, tcxUpdateFromDir, type TcxAttachResult } from './tcx.js';

export interface NetnsOption {
  /** Network namespace path (e.g. /run/netns/x); default: the caller's. */
  netns?: string;
}

/** pw-tcx execs in flight when many devices are handled at once (reload, unload). */
const PARALLEL = 8;

function checkIfname(ifname: string): void {
  // also a plain word for the legacy tc -batch lines below
  if (!/^[^\s/:]{1,15}$/.test(ifname)) throw new PodwireError('CONFIG_INVALID', `invalid interface name ${JSON.stringify(ifname)}`);
}

export function notLoaded(pinDir: string): PodwireError {
  return new PodwireError('DATAPATH_NOT_LOADED', `no podwire datapath at ${pinDir}: run \`podwire datapath load --pin-dir ${pinDir}\``);
}

/**
 * Attach PINDIR/progs/PROG to ifname's ingress (or egress) through the link pinned at
 * PINDIR/links/IFNAME (links-egress/ for egress): created if missing, atomically re-pointed if it
 * exists (idempotent), podwire's pre-tcx clsact filter removed if the device still has one. One
 * pw-tcx exec.
 */
export async function attachProgram(
  progName: ProgName,
  ifname: string,
  pinDir: string,
  opts: NetnsOption = {},
  dir: LinkDir = 'ingress',
): Promise<TcxAttachResult> {
  checkIfname(ifname);
  const prog = join(pinPaths(pinDir).progsDir, progName);
  if (!existsSync(prog)) throw notLoaded(pinDir);
  const pin = linkPin(pinDir, ifname, dir);
  mkdirSync(dirname(pin), { recursive: true });
  try {
    return await tcxAttach({ prog, dev: ifname, dir, pin, netns: opts.netns });
  } catch (e) {
    const why = e instanceof PodwireError ? (e.details?.trim() || e.message) : String(e);
    throw new PodwireError('IO_FAILED', `attaching ${prog} to ${ifname}${dir === 'egress' ? ' (egress)' : ''} failed: ${why}`, { cause: e });
  }
}

/**
 * The host veth's two programs: from_pod on ingress (everything the pod sends) and to_pod on
 * egress (what the node's stack delivers into the pod: conntrack of NATed flows). Two pw-tcx execs
 * side by side; the CNI ADD path calls this. Returns the ingress link. When one attach fails the
 * other's pin may exist: the caller's rollback removes both (removeLinkPins).
 */
export async function attachFromPod(ifname: string, pinDir: string, opts: NetnsOption = {}): Promise<TcxAttachResult> {
  const [ingress, egress] = await Promise.allSettled([
    attachProgram('from_pod', ifname, pinDir, opts, 'ingress'),
    attachProgram('to_pod', ifname, pinDir, opts, 'egress'),
  ]);
  if (ingress.status === 'rejected') throw ingress.reason;
  if (egress.status === 'rejected') throw egress.reason;
  return ingress.value;
}

/** Attach from_pod to many interfaces; returns how many were attached. A veth that vanished
 * meanwhile (pod deleted) is skipped, any other failure is reported after all were tried. */
export async function attachFromPodMany(ifnames: readonly string[], pinDir: string, opts: NetnsOption = {}): Promise<number> {
  ifnames.forEach(checkIfname);
  let attached = 0;
  const failed: string[] = [];
  await eachLimited(ifnames, PARALLEL, async (ifname) => {
    try {
      await attachFromPod(ifname, pinDir, opts);
      attached++;
    } catch (e) {
      const msg = (e as Error).message;
      if (!/No such device/.test(msg)) failed.push(msg);
    }
  });
  if (failed.length > 0) throw new PodwireError('IO_FAILED', `attaching from_pod failed on ${failed.length} interface(s): ${failed.join('; ')}`);
  return attached;
}

/**
 * Detach from the interfaces: the tcx link (and its pin) of each, and podwire's pre-tcx clsact
 * filter where a device still has one (the clsact qdisc stays: other tools may use it).
 * Idempotent: missing pins, devices and filters are fine.
 */
export async function detachProgram(ifnames: readonly string[], pinDir: string, opts: NetnsOption = {}): Promise<void> {
  if (ifnames.length === 0) return;
  ifnames.forEach(checkIfname);
  const pins = ifnames.flatMap((i) => [linkPin(pinDir, i, 'ingress'), linkPin(pinDir, i, 'egress')]);
  await eachLimited(pins, PARALLEL, (pin) => tcxDetach(pin));
  await removeLegacyFilters(ifnames, opts);
}

/** Same as detachProgram; kept for the loader callers that think in pod veths. */
export async function detachFromPod(ifnames: readonly string[], pinDir: string, opts: NetnsOption = {}): Promise<void> {
  await detachProgram(ifnames, pinDir, opts);
}

/** podwire before tcx: `tc filter … ingress pref 1 handle 1 bpf` on clsact. One tc exec, errors ignored. */
async function removeLegacyFilters(ifnames: readonly string[], opts: NetnsOption): Promise<void> {
  const script = ifnames.map((i) => `filter del dev ${i} ingress pref 1 handle 1 bpf\n`).join('');
  await run('tc', ['-force', '-batch', '-'], { input: script, netns: opts.netns, reject: false });
}

async function pinNames(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir)).sort() : [];
}

/** Every link pin: [pin path, interface name, hook]. */
async function allLinkPins(pinDir: string): Promise<Array<{ pin: string; ifname: string; dir: LinkDir }>> {
  const p = pinPaths(pinDir);
  const out: Array<{ pin: string; ifname: string; dir: LinkDir }> = [];
  for (const [dir, path] of [['ingress', p.linksDir], ['egress', p.egressLinksDir]] as const) {
    for (const n of await pinNames(path)) out.push({ pin: join(path, n), ifname: linkPinIfname(n), dir });
  }
  return out;
}

/** Interface names that have a link pin under PINDIR/links or PINDIR/links-egress. */
export async function linkPinIfnames(pinDir: string): Promise<string[]> {
  return [...new Set((await allLinkPins(pinDir)).map((l) => l.ifname))].sort();
}

/** The link pins outlive their device (deleting a veth only detaches the links): CNI DEL/GC and a
 * failed ADD's rollback remove both hooks' pins. */
export async function removeLinkPins(ifnames: readonly string[], pinDir: string): Promise<void> {
  await Promise.all(ifnames.flatMap((i) => [rm(linkPin(pinDir, i, 'ingress'), { force: true }), rm(linkPin(pinDir, i, 'egress'), { force: true })]));
}

/**
 * After a reload: BPF_LINK_UPDATE every pinned link to the new program of the same name (atomic
 * per device: no packet sees no program), and drop the pins of links whose device is gone.
 */
export async function updateLinks(pinDir: string): Promise<{ updated: string[]; removed: string[] }> {
  // per device: a host veth has two links (ingress and egress) and counts once
  const updated = new Set<string>();
  const removed = new Set<string>();
  const { progsDir } = pinPaths(pinDir);
  await eachLimited(await allLinkPins(pinDir), PARALLEL, async ({ pin, ifname }) => {
    if (await tcxUpdateFromDir(pin, progsDir)) {
      updated.add(ifname);
    } else {
      await rm(pin, { force: true });
      removed.add(ifname);
    }
  });
  return { updated: [...updated].sort(), removed: [...removed].sort() };
}

/** Detach every pinned link under PINDIR/links and PINDIR/links-egress and remove the pins. */
export async function detachAllLinks(pinDir: string): Promise<string[]> {
  const pins = await allLinkPins(pinDir);
  await eachLimited(pins, PARALLEL, ({ pin }) => tcxDetach(pin));
  return [...new Set(pins.map((l) => l.ifname))].sort();
}

/**
 * Id of the BPF program on ifname's tcx ingress (or egress) hook (the first in run order: podwire
 * attaches one program per device and hook), or undefined when none is attached.
 */
export async function attachedProgramId(ifname: string, opts: NetnsOption = {}, dir: LinkDir = 'ingress'): Promise<number | undefined> {
  checkIfname(ifname);
  const q = await tcxQuery(ifname, dir, opts);
  return q.progs[0]?.prog_id;
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
