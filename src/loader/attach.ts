// Attaching pinned programs with tcx links: from_pod on host veths, from_uplink / from_vxlan on a
// node's uplink / VXLAN device, each link pinned at PINDIR/links/<ifname> (pins.ts linkPin), and
// reading back which program runs where. tcx instead of clsact + tc filters because tcx coexists
// with qdiscs (Debian's `bandwidth` plugin needs the ingress qdisc on the host veth, which clsact
// occupies), and BPF_LINK_UPDATE swaps a program atomically. Devices resolve in the caller's
// network namespace unless `netns` is given (tests, or an agent managing a node namespace).
import { existsSync, mkdirSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BPFTOOL } from '../build/toolchain.mjs';
import { PodwireError } from '../errors/index.js';
import { run, runJson } from '../exec/run.js';
import { linkPin, linkPinIfname, pinPaths, type ProgName } from './pins.js';
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
 * Attach PINDIR/progs/PROG to ingress of ifname through the link pinned at PINDIR/links/IFNAME:
 * created if missing, atomically re-pointed if it exists (idempotent), podwire's pre-tcx clsact
 * filter removed if the device still has one. One pw-tcx exec.
 */
export async function attachProgram(progName: ProgName, ifname: string, pinDir: string, opts: NetnsOption = {}): Promise<TcxAttachResult> {
  checkIfname(ifname);
  const prog = join(pinPaths(pinDir).progsDir, progName);
  if (!existsSync(prog)) throw notLoaded(pinDir);
  mkdirSync(pinPaths(pinDir).linksDir, { recursive: true });
  try {
    return await tcxAttach({ prog, dev: ifname, dir: 'ingress', pin: linkPin(pinDir, ifname), netns: opts.netns });
  } catch (e) {
    const why = e instanceof PodwireError ? (e.details?.trim() || e.message) : String(e);
    throw new PodwireError('IO_FAILED', `attaching ${prog} to ${ifname} failed: ${why}`, { cause: e });
  }
}

/** Attach PINDIR/progs/from_pod to ingress of a host veth. One exec: the CNI ADD path calls this. */
export async function attachFromPod(ifname: string, pinDir: string, opts: NetnsOption = {}): Promise<TcxAttachResult> {
  return attachProgram('from_pod', ifname, pinDir, opts);
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
  await eachLimited(ifnames, PARALLEL, (i) => tcxDetach(linkPin(pinDir, i)));
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

/** Interface names that have a link pin under PINDIR/links. */
export async function linkPinIfnames(pinDir: string): Promise<string[]> {
  const dir = pinPaths(pinDir).linksDir;
  return existsSync(dir) ? (await readdir(dir)).sort().map(linkPinIfname) : [];
}

/** The link pin outlives its device (deleting a veth only detaches the link): CNI DEL/GC remove it. */
export async function removeLinkPins(ifnames: readonly string[], pinDir: string): Promise<void> {
  await Promise.all(ifnames.map((i) => rm(linkPin(pinDir, i), { force: true })));
}

/**
 * After a reload: BPF_LINK_UPDATE every pinned link to the new program of the same name (atomic
 * per device: no packet sees no program), and drop the pins of links whose device is gone.
 */
export async function updateLinks(pinDir: string): Promise<{ updated: string[]; removed: string[] }> {
  const updated: string[] = [];
  const removed: string[] = [];
  const { progsDir } = pinPaths(pinDir);
  await eachLimited(await linkPinIfnames(pinDir), PARALLEL, async (ifname) => {
    const pin = linkPin(pinDir, ifname);
    if (await tcxUpdateFromDir(pin, progsDir)) {
      updated.push(ifname);
    } else {
      await rm(pin, { force: true });
      removed.push(ifname);
    }
  });
  return { updated: updated.sort(), removed: removed.sort() };
}

/** Detach every pinned link under PINDIR/links and remove the pins. */
export async function detachAllLinks(pinDir: string): Promise<string[]> {
  const ifnames = await linkPinIfnames(pinDir);
  await eachLimited(ifnames, PARALLEL, (i) => tcxDetach(linkPin(pinDir, i)));
  return ifnames;
}

/**
 * Id of the BPF program on ifname's tcx ingress hook (the first in run order: podwire attaches
 * one program per device), or undefined when none is attached.
 */
export async function attachedProgramId(ifname: string, opts: NetnsOption = {}): Promise<number | undefined> {
  checkIfname(ifname);
  const q = await tcxQuery(ifname, 'ingress', opts);
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
