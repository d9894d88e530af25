// The XDP prefilter's attachment on a device (the node's uplink): netlink XDP through iproute2
// (`ip link set dev X xdpdrv|xdpgeneric pinned PINDIR/progs/xdp_prefilter`). Native (driver) mode
// where the driver has XDP support, generic (skb) mode otherwise; the kernel reports which one
// runs, and so do we. A netlink attachment belongs to the device, not to a process: it survives
// the agent, like the pinned tcx links. Only a program named xdp_prefilter is ever replaced or
// removed: another tool's XDP program on the device is left alone and reported as a conflict.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PodwireError } from '../errors/index.js';
import { run, runJson } from '../exec/run.js';
import { notLoaded, type NetnsOption } from './attach.js';
import { pinPaths } from './pins.js';

export const PREFILTER_PROG = 'xdp_prefilter';

/** What to ask for: native with a generic fallback (auto), or exactly one mode. */
export type XdpModeRequest = 'auto' | 'native' | 'generic';
/** What the kernel runs. */
export type XdpMode = 'native' | 'generic' | 'offload';

export interface XdpStatus {
  ifname: string;
  /** An XDP program is attached to the device (ours or not). */
  attached: boolean;
  mode?: XdpMode;
  progId?: number;
  progName?: string;
  /** The attached program is podwire's prefilter. */
  ours: boolean;
}

// XDP_ATTACHED_* (include/uapi/linux/if_link.h)
const ATTACHED_MODE: Record<number, XdpMode> = { 1: 'native', 2: 'generic', 3: 'offload' };

interface IpLinkXdp {
  ifname: string;
  xdp?: { mode?: number; prog?: { id: number; name?: string }; attached?: { mode: number; prog?: { id: number; name?: string } }[] };
}

function checkIfname(ifname: string): void {
  if (!/^[^\s/:]{1,15}$/.test(ifname)) throw new PodwireError('CONFIG_INVALID', `invalid interface name ${JSON.stringify(ifname)}`);
}

/** The device's XDP attachment, read back from the kernel. */
export async function xdpStatus(ifname: string, opts: NetnsOption = {}): Promise<XdpStatus> {
  checkIfname(ifname);
  const links = await runJson<IpLinkXdp[]>('ip', ['-j', '-d', 'link', 'show', 'dev', ifname], { netns: opts.netns, errorCode: 'IO_FAILED' });
  const x = links[0]?.xdp;
  const att = x?.attached?.[0];
  const prog = x?.prog ?? att?.prog;
  const modeNum = x?.mode ?? att?.mode;
  if (!x || !prog) return { ifname, attached: false, ours: false };
  const mode = modeNum === undefined ? undefined : ATTACHED_MODE[modeNum];
  return {
    ifname,
    attached: true,
    ...(mode ? { mode } : {}),
    progId: prog.id,
    ...(prog.name ? { progName: prog.name } : {}),
    ours: prog.name === PREFILTER_PROG,
  };
}

async function setXdp(ifname: string, kind: 'xdpdrv' | 'xdpgeneric', arg: string[], opts: NetnsOption): Promise<{ ok: boolean; stderr: string }> {
  // -force: replace our own earlier program (a reload, a mode change) in one netlink request
  const r = await run('ip', ['-force', 'link', 'set', 'dev', ifname, kind, ...arg], { netns: opts.netns, reject: false });
  return { ok: r.exitCode === 0, stderr: r.stderr.trim() };
}

/**
 * Attach PINDIR/progs/xdp_prefilter to ifname: native first (auto, native), generic when the
 * driver refuses native (auto) or when asked. Replaces our own program (reload, mode change),
 * refuses to replace another tool's. Returns the status the kernel reports afterwards.
 */
export async function xdpAttach(ifname: string, pinDir: string, mode: XdpModeRequest = 'auto', opts: NetnsOption = {}): Promise<XdpStatus> {
  checkIfname(ifname);
  const prog = join(pinPaths(pinDir).progsDir, PREFILTER_PROG);
  if (!existsSync(prog)) throw notLoaded(pinDir);
  const before = await xdpStatus(ifname, opts);
  if (before.attached && !before.ours) {
    throw new PodwireError(
      'IO_FAILED',
      `${ifname} already runs XDP program ${before.progName ?? '?'} (id ${before.progId}) that is not podwire's: detach it first (ip link set dev ${ifname} xdp off)`,
    );
  }
  const tries: Array<'xdpdrv' | 'xdpgeneric'> = mode === 'native' ? ['xdpdrv'] : mode === 'generic' ? ['xdpgeneric'] : ['xdpdrv', 'xdpgeneric'];
  const errors: string[] = [];
  for (const kind of tries) {
    // a device holds one XDP mode at a time: clear ours in the other mode before switching
    if (before.ours && before.mode !== undefined && (before.mode === 'native') !== (kind === 'xdpdrv')) {
      await setXdp(ifname, before.mode === 'native' ? 'xdpdrv' : 'xdpgeneric', ['off'], opts);
    }
    const r = await setXdp(ifname, kind, ['pinned', prog], opts);
    if (r.ok) return xdpStatus(ifname, opts);
    errors.push(`${kind}: ${r.stderr}`);
  }
  throw new PodwireError('IO_FAILED', `attaching ${prog} to ${ifname} (XDP ${mode}) failed: ${errors.join('; ')}`);
}

/** Remove the prefilter from ifname if it runs there; another tool's program stays. Idempotent
 * (a missing device is fine). Returns whether something was detached. */
export async function xdpDetach(ifname: string, opts: NetnsOption = {}): Promise<boolean> {
  let s: XdpStatus;
  try {
    s = await xdpStatus(ifname, opts);
  } catch (e) {
    if (/does not exist|Cannot find device/.test((e as PodwireError).details ?? (e as Error).message)) return false;
    throw e;
  }
  if (!s.ours) return false;
  const kind = s.mode === 'generic' ? 'xdpgeneric' : 'xdpdrv';
  const r = await setXdp(ifname, kind, ['off'], opts);
  if (!r.ok) throw new PodwireError('IO_FAILED', `detaching the XDP prefilter from ${ifname} failed: ${r.stderr}`);
  return true;
}
