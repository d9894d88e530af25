// Typed calls of the pw-tcx helper (bpf/tools/pw-tcx.c): one exec per command, JSON back. The
// helper exists because nothing else on a Debian 12 node can create tcx links (bpftool 7.1,
// tc 6.1, libbpf 1.1) and Node cannot make the bpf syscall itself.
import { tcxHelper } from '../assets/index.js';
import { PodwireError } from '../errors/index.js';
import { run, runJson } from '../exec/run.js';

export type TcxDir = 'ingress' | 'egress';

export interface TcxLinkInfo {
  link_id: number;
  prog_id: number;
  prog_name: string;
  /** 0 once the device is gone (the link is defunct). */
  ifindex: number;
  dir: TcxDir;
}

export interface TcxAttachResult extends TcxLinkInfo {
  /** created: a new link; updated: the pinned link now runs the program; replaced: a stale pin was dropped first. */
  action: 'created' | 'updated' | 'replaced';
  /** Ingress only, on created/replaced: podwire's pre-tcx clsact filter (pref 1 handle 1) was found and removed. */
  legacy_tc_filter_removed?: boolean;
}

export interface TcxQueryResult {
  ifindex: number;
  dir: TcxDir;
  /** Every tcx program on the hook, in run order. */
  progs: { prog_id: number; link_id: number; prog_name: string }[];
}

/** pw-tcx's exit status when a link's device is gone (see its contract comment). */
const EXIT_DEFUNCT = 3;

interface Netns {
  netns?: string | undefined;
}

/** Attach (or atomically re-point) the link pinned at `pin`; the device resolves in `netns`. */
export function tcxAttach(o: { prog: string; dev: string; dir: TcxDir; pin: string } & Netns): Promise<TcxAttachResult> {
  return runJson<TcxAttachResult>(tcxHelper(), ['attach', '--prog', o.prog, '--dev', o.dev, '--dir', o.dir, '--pin', o.pin], {
    netns: o.netns,
    errorCode: 'IO_FAILED',
  });
}

/**
 * BPF_LINK_UPDATE of the pinned link to the program of the same name in progDir (a reload's new
 * program). undefined when the link's device is gone: the pin is stale and the caller drops it.
 */
export async function tcxUpdateFromDir(pin: string, progDir: string): Promise<(TcxLinkInfo & { old_prog_id: number }) | undefined> {
  const r = await run(tcxHelper(), ['update', '--pin', pin, '--prog-dir', progDir], { reject: false });
  if (r.exitCode === EXIT_DEFUNCT) return undefined;
  if (r.exitCode !== 0) throw new PodwireError('IO_FAILED', `re-pointing the tcx link ${pin} at the new program failed: ${r.stderr.trim()}`, { details: r.stderr });
  return JSON.parse(r.stdout) as TcxLinkInfo & { old_prog_id: number };
}

/** Detach the pinned link if it is live and remove the pin; nothing pinned is success. */
export async function tcxDetach(pin: string): Promise<void> {
  await run(tcxHelper(), ['detach', '--pin', pin], { errorCode: 'IO_FAILED' });
}

export function tcxQuery(dev: string, dir: TcxDir, opts: Netns = {}): Promise<TcxQueryResult> {
  return runJson<TcxQueryResult>(tcxHelper(), ['query', '--dev', dev, '--dir', dir], { netns: opts.netns, errorCode: 'IO_FAILED' });
}

export function tcxInfo(pin: string): Promise<TcxLinkInfo & { attach_type: number; live: boolean }> {
  return runJson(tcxHelper(), ['info', '--pin', pin], { errorCode: 'IO_FAILED' });
}

/** Run fn over items with at most `limit` in flight (one helper exec per item). */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
