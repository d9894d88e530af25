// Load the datapath, or adopt the one already pinned. A restarted agent (crash, SIGKILL,
// rolling update of an identical image) must not reload programs that did not change: a reload
// swaps every attachment and costs seconds of clang. So after each load we record a hash of
// what determines the programs (BPF sources, compile-time defines, podwire version) and the
// IDs of the programs we pinned; at start, if the hash matches and every pin still holds the
// program with the recorded ID, we adopt it as it is.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bpfSourceDir, podwireVersion } from '../assets/index.js';
import { datapathSourceHash } from '../build/bpf.mjs';
import { BPFTOOL } from '../build/toolchain.mjs';
import { runJson } from '../exec/run.js';
import { loadDatapath, pinPaths, type Defines } from '../loader/index.js';
import { maps as mapLayouts } from '../maps/generated/layouts.js';
import type { Logger } from './log.js';

export const DATAPATH_STATE_FILE = 'datapath.json';

export interface DatapathState {
  hash: string;
  version: string;
  defines: Defines;
  /** Program name → BPF program ID pinned at PINDIR/progs/NAME. */
  programs: Record<string, number>;
  /** How loadDatapath attached the programs; absent = clsact filters (podwire before tcx links). */
  attach?: 'tcx';
  loadedAt: string;
}

export interface EnsureResult {
  adopted: boolean;
  programs: Record<string, number>;
  hash: string;
  /** Why we did not adopt (when we loaded). */
  reason?: string;
  durationMs: number;
}

export { podwireVersion } from '../assets/index.js';

/** Hash of everything the loaded programs are made from: program sources, their headers, defines,
 * version (the same hash the build writes beside the prebuilt object). */
export function datapathHash(defines: Defines, srcDir = bpfSourceDir()): { hash: string; version: string } {
  const version = podwireVersion();
  return { hash: datapathSourceHash(srcDir, { version, defines }), version };
}

/** Program name → ID of every program pinned under PINDIR/progs. */
export async function pinnedProgramIds(pinDir: string): Promise<Record<string, number>> {
  const dir = pinPaths(pinDir).progsDir;
  if (!existsSync(dir)) return {};
  const out: Record<string, number> = {};
  for (const name of readdirSync(dir).sort()) {
    const info = await runJson<{ id: number }>(BPFTOOL, ['-j', 'prog', 'show', 'pinned', join(dir, name)], { errorCode: 'IO_FAILED' });
    out[name] = info.id;
  }
  return out;
}

async function readState(stateDir: string): Promise<DatapathState | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, DATAPATH_STATE_FILE), 'utf8')) as DatapathState;
  } catch {
    return undefined; // absent or torn: load afresh
  }
}

async function writeState(stateDir: string, s: DatapathState): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const path = join(stateDir, DATAPATH_STATE_FILE);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(s, null, 2)}\n`);
  await rename(tmp, path);
}

/** Why the pinned datapath cannot be adopted, or undefined when it can. */
async function adoptionBlocker(pinDir: string, state: DatapathState | undefined, hash: string): Promise<string | undefined> {
  if (!state) return 'no record of an earlier load';
  if (state.hash !== hash) return 'sources, defines or version changed';
  const missingMap = Object.keys(mapLayouts).find((m) => !existsSync(join(pinPaths(pinDir).mapsDir, m)));
  if (missingMap) return `map ${missingMap} is not pinned`;
  // a pre-tcx podwire attached with clsact filters: reload once so every device moves to tcx links
  if (state.attach !== 'tcx') return 'programs are attached with tc filters (loaded by a pre-tcx podwire)';
  const pinned = await pinnedProgramIds(pinDir).catch(() => ({}) as Record<string, number>);
  for (const [name, id] of Object.entries(state.programs)) {
    if (pinned[name] !== id) return `program ${name} is ${pinned[name] === undefined ? 'not pinned' : `id ${pinned[name]}, not ${id}`}`;
  }
  if (Object.keys(pinned).length !== Object.keys(state.programs).length) return 'the set of pinned programs changed';
  return undefined;
}

export async function ensureDatapath(opts: { pinDir: string; stateDir: string; defines: Defines; log: Logger }): Promise<EnsureResult> {
  const t0 = performance.now();
  const { hash, version: v } = datapathHash(opts.defines);
  const state = await readState(opts.stateDir);
  const blocker = await adoptionBlocker(opts.pinDir, state, hash);
  if (blocker === undefined && state) {
    const durationMs = Math.round(performance.now() - t0);
    opts.log.info('datapath adopted', { pinDir: opts.pinDir, programs: state.programs, hash: hash.slice(0, 12), durationMs });
    return { adopted: true, programs: state.programs, hash, durationMs };
  }
  opts.log.info('loading datapath', { pinDir: opts.pinDir, reason: blocker, defines: opts.defines });
  const r = await loadDatapath({ pinDir: opts.pinDir, defines: opts.defines });
  const programs = await pinnedProgramIds(opts.pinDir);
  await writeState(opts.stateDir, { hash, version: v, defines: opts.defines, programs, attach: 'tcx', loadedAt: new Date().toISOString() });
  const durationMs = Math.round(performance.now() - t0);
  opts.log.info('datapath loaded', { programs, object: r.object, reusedMaps: r.reusedMaps, reattached: r.reattached, hash: hash.slice(0, 12), durationMs, ...(r.migrated.length ? { migrated: r.migrated } : {}) });
  if (r.overNewer) opts.log.warn('datapath loaded over maps pinned by a newer podwire (a downgrade): maps this build does not know stay pinned and unused', r.overNewer);
  return { adopted: false, programs, hash, ...(blocker === undefined ? {} : { reason: blocker }), durationMs };
}
