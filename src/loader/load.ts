// Load a linked object with libbpf (bpftool prog loadall) and pin it under the pin dir,
// reusing maps already pinned there so a reload keeps all state.
//
// libbpf 1.1 quirk (verified on this kernel): `pinmaps DIR` together with `map name X pinned
// DIR/X` fails with "failed to pin map: File exists", because a reused map has no pin_path and
// libbpf tries to pin it again at the same place. So we load into a staging directory on the
// same bpffs (pinmaps there too), then rename: staged new maps move into maps/, staged copies of
// reused maps are just unlinked, and programs are renamed over progs/NAME, which replaces the
// pin atomically (bpffs rename overwrites).
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BPFTOOL, readObjectLayouts, type MapLayout } from '../build/bpf.mjs';
import { PodwireError } from '../errors/index.js';
import { run, runJson } from '../exec/run.js';
import { stagingDir, type PinPaths } from './pins.js';

export interface PinResult {
  programs: string[];
  reusedMaps: string[];
  newMaps: string[];
}

/** Turn bpftool/libbpf stderr into the most useful PodwireError. */
export function loadError(stderr: string, obj: string): PodwireError {
  const log = /prog '([^']+)': -- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/.exec(stderr);
  if (log) {
    const [, prog, text = ''] = log;
    const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('processed ') && !l.startsWith('verification time'));
    const why = lines[lines.length - 1]?.trim() ?? 'see the verifier log';
    return new PodwireError('VERIFIER_REJECTED', `the kernel verifier rejected BPF program '${prog}': ${why}`, { details: text });
  }
  const rejected = /prog '([^']+)': (?:BPF program load failed|failed to load): (.*)/.exec(stderr);
  if (rejected) {
    return new PodwireError('VERIFIER_REJECTED', `the kernel refused BPF program '${rejected[1]}': ${rejected[2]}`, { details: stderr });
  }
  return new PodwireError('IO_FAILED', `loading ${obj} failed: ${stderr.split('\n').find((l) => l.startsWith('Error:')) ?? stderr.trim()}`, {
    details: stderr,
  });
}

interface PinnedMapInfo {
  type: string;
  bytes_key: number;
  bytes_value: number;
  max_entries: number;
}

async function checkReusable(name: string, pin: string, want: MapLayout): Promise<void> {
  const have = await runJson<PinnedMapInfo>(BPFTOOL, ['-j', 'map', 'show', 'pinned', pin], { errorCode: 'IO_FAILED' });
  const diffs: string[] = [];
  if (have.type !== want.type) diffs.push(`type ${have.type} != ${want.type}`);
  if (have.bytes_key !== want.keySize) diffs.push(`key size ${have.bytes_key} != ${want.keySize}`);
  if (have.bytes_value !== want.valueSize) diffs.push(`value size ${have.bytes_value} != ${want.valueSize}`);
  if (have.max_entries !== want.maxEntries) diffs.push(`max_entries ${have.max_entries} != ${want.maxEntries}`);
  if (diffs.length > 0) {
    throw new PodwireError(
      'MAP_LAYOUT_MISMATCH',
      `the pinned map ${pin} does not match this build's '${name}' (${diffs.join(', ')}): ` +
        'run `podwire datapath unload` and load again (this drops the map contents)',
    );
  }
}

async function listDir(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir)).sort() : [];
}

export async function loadAndPin(obj: string, paths: PinPaths): Promise<PinResult> {
  await mkdir(paths.mapsDir, { recursive: true });
  await mkdir(paths.progsDir, { recursive: true });
  await mkdir(paths.linksDir, { recursive: true });
  await mkdir(paths.egressLinksDir, { recursive: true });

  const { maps } = await readObjectLayouts(obj);
  const reusedMaps = Object.keys(maps).filter((n) => existsSync(join(paths.mapsDir, n)));
  // libbpf's reuse-by-fd (what `map name X pinned P` does) adopts the pinned map's definition
  // without comparing it to the object's, so a changed layout would load silently: check first.
  for (const n of reusedMaps) await checkReusable(n, join(paths.mapsDir, n), maps[n]!);
  const stage = stagingDir(paths.root);
  const stageProgs = join(stage, 'progs');
  const stageMaps = join(stage, 'maps');
  await mkdir(stageProgs, { recursive: true });
  try {
    const args = ['prog', 'loadall', obj, stageProgs, 'pinmaps', stageMaps];
    for (const n of reusedMaps) args.push('map', 'name', n, 'pinned', join(paths.mapsDir, n));
    const r = await run(BPFTOOL, args, { reject: false, timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw loadError(r.stderr, obj);

    const newMaps: string[] = [];
    for (const n of await listDir(stageMaps)) {
      if (reusedMaps.includes(n)) {
        await unlink(join(stageMaps, n)); // a second pin of the very map we reused
      } else {
        await rename(join(stageMaps, n), join(paths.mapsDir, n));
        newMaps.push(n);
      }
    }
    const programs = await listDir(stageProgs);
    for (const n of programs) await rename(join(stageProgs, n), join(paths.progsDir, n));
    // programs that no longer exist in the sources: drop their pins (attachments keep their own reference)
    for (const n of await listDir(paths.progsDir)) if (!programs.includes(n)) await unlink(join(paths.progsDir, n));
    return { programs, reusedMaps, newMaps };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
