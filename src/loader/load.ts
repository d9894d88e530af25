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
import { podwireVersion } from '../assets/index.js';
import { BPFTOOL, readObjectLayouts, type MapLayout, type ObjectLayouts } from '../build/bpf.mjs';
import { PodwireError } from '../errors/index.js';
import { run, runJson } from '../exec/run.js';
import { checkNotNewer, LAYOUT_GENERATION, layoutDifference, readLayoutRecord, recordFor, writeLayoutRecord, type LayoutRecord } from './layout-record.js';
import { migrateMap, type MigrationResult } from './migrate.js';
import { stagingDir, type PinPaths } from './pins.js';

export interface PinResult {
  programs: string[];
  reusedMaps: string[];
  newMaps: string[];
  /** Maps whose layout changed: new maps, entries copied field by field. */
  migrated: MigrationResult[];
  /** Set when a newer podwire had pinned compatible maps (a downgrade that could proceed). */
  overNewer?: { generation: number; writer: string };
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

type Shape = Pick<MapLayout, 'type' | 'keySize' | 'valueSize' | 'maxEntries'>;

async function pinnedShape(pin: string): Promise<Shape> {
  const have = await runJson<PinnedMapInfo>(BPFTOOL, ['-j', 'map', 'show', 'pinned', pin], { errorCode: 'IO_FAILED' });
  return { type: have.type, keySize: have.bytes_key, valueSize: have.bytes_value, maxEntries: have.max_entries };
}

const fieldList = (fields: Record<string, { offset: number; size: number }> | undefined) =>
  JSON.stringify(Object.entries(fields ?? {}).map(([n, f]) => [n, f.offset, f.size]));

/**
 * How a pinned map relates to this build's: 'same' (reuse it), 'migrate' (its key/value layout
 * changed: a new map gets its entries, field by field), or a reason it can be neither.
 */
function verdict(name: string, have: Shape, want: MapLayout, layouts: ObjectLayouts, record: LayoutRecord | undefined): 'same' | 'migrate' | string {
  const diff = layoutDifference(have, want);
  if (!diff) {
    // same sizes; the record (when the pinning podwire wrote one) can still tell a field moved
    const r = record?.maps[name];
    if (r?.valueFields && layouts.structs[want.value]) {
      const old = Object.fromEntries(r.valueFields.map((f) => [f.name, f]));
      if (fieldList(old) !== fieldList(layouts.structs[want.value]!.fields)) return 'migrate';
    }
    return 'same';
  }
  if (have.type === want.type && (have.keySize !== want.keySize || have.valueSize !== want.valueSize)) return 'migrate';
  return diff;
}

async function listDir(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir)).sort() : [];
}

export async function loadAndPin(obj: string, paths: PinPaths): Promise<PinResult> {
  await mkdir(paths.mapsDir, { recursive: true });
  await mkdir(paths.progsDir, { recursive: true });
  await mkdir(paths.linksDir, { recursive: true });
  await mkdir(paths.egressLinksDir, { recursive: true });

  const layouts = await readObjectLayouts(obj);
  const { maps } = layouts;
  const present = Object.keys(maps).filter((n) => existsSync(join(paths.mapsDir, n)));
  const shapes: Record<string, Shape> = {};
  for (const n of present) shapes[n] = await pinnedShape(join(paths.mapsDir, n));
  // A newer podwire's maps: explain and change nothing (layout-record.ts).
  const record = readLayoutRecord(paths.root);
  checkNotNewer(paths.root, record, shapes, maps);
  // libbpf's reuse-by-fd (what `map name X pinned P` does) adopts the pinned map's definition
  // without comparing it to the object's, so a changed layout would load silently: check first.
  const migrate: string[] = [];
  for (const n of present) {
    const v = verdict(n, shapes[n]!, maps[n]!, layouts, record);
    if (v === 'migrate') migrate.push(n);
    else if (v !== 'same') {
      throw new PodwireError(
        'MAP_LAYOUT_MISMATCH',
        `the pinned map ${join(paths.mapsDir, n)} does not match this build's '${n}' (${v}): ` +
          'run `podwire datapath unload` and load again (this drops the map contents)',
      );
    }
  }
  const reusedMaps = present.filter((n) => !migrate.includes(n));
  const stage = stagingDir(paths.root);
  const stageProgs = join(stage, 'progs');
  const stageMaps = join(stage, 'maps');
  await mkdir(stageProgs, { recursive: true });
  try {
    const args = ['prog', 'loadall', obj, stageProgs, 'pinmaps', stageMaps];
    for (const n of reusedMaps) args.push('map', 'name', n, 'pinned', join(paths.mapsDir, n));
    const r = await run(BPFTOOL, args, { reject: false, timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw loadError(r.stderr, obj);

    // Changed layouts: fill the staged new maps from the old ones before anything uses them. The
    // rename below replaces the old pins; the old maps live on until the old programs (still
    // attached until the caller's BPF_LINK_UPDATE) are gone.
    const migrated: MigrationResult[] = [];
    for (const n of migrate) migrated.push(await migrateMap(n, join(paths.mapsDir, n), join(stageMaps, n), maps[n]!, layouts));
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
    await writeLayoutRecord(paths.root, recordFor(layouts, `podwire ${podwireVersion()}`));
    return { programs, reusedMaps, newMaps, migrated, ...(record && record.generation > LAYOUT_GENERATION ? { overNewer: { generation: record.generation, writer: record.writer } } : {}) };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
