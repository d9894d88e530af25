// Any pinned map by path, as raw bytes: what `podwire maps list` and `maps dump` need for maps
// this build may not even know (a newer datapath, a map added by hand). Errors name the cause
// an operator can fix: nothing loaded there, or not enough privilege to open BPF objects.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createMapRef, MapType, objGet, RawMap, type MapRef } from 'bpf';
import { PodwireError } from '../errors/index.js';
import { pinPaths } from '../loader/pins.js';
import { percpuView } from './open.js';

/** Lower-case map type name as in the generated layouts ("hash", "percpu_array", …). */
export function mapTypeName(type: number): string {
  const name = MapType[type] as string | undefined;
  return name ? name.toLowerCase() : `type_${type}`;
}

export function isPercpuType(type: number): boolean {
  return mapTypeName(type).includes('percpu');
}

/** Map types whose keys can be walked with BPF_MAP_GET_NEXT_KEY and read by lookup. */
const ITERABLE = new Set(['hash', 'array', 'percpu_hash', 'percpu_array', 'lru_hash', 'lru_percpu_hash', 'lpm_trie']);

export function isIterableType(type: number): boolean {
  return ITERABLE.has(mapTypeName(type));
}

function openError(path: string, pinDir: string, cause: unknown): PodwireError {
  const code = (cause as { code?: string }).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new PodwireError(
      'IO_FAILED',
      `permission denied opening ${path}: reading BPF maps needs root (CAP_BPF and CAP_SYS_ADMIN); run podwire with sudo`,
      { cause },
    );
  }
  if (code === 'ENOENT') {
    return new PodwireError('DATAPATH_NOT_LOADED', `no podwire datapath at ${pinDir}: run \`podwire datapath load --pin-dir ${pinDir}\``, { cause });
  }
  return new PodwireError('IO_FAILED', `cannot open pinned map ${path}: ${(cause as Error).message}`, { cause });
}

/** Names of the maps pinned under PINDIR/maps, sorted. */
export function pinnedMapNames(pinDir: string): string[] {
  const dir = pinPaths(pinDir).mapsDir;
  if (!existsSync(dir)) {
    throw new PodwireError('DATAPATH_NOT_LOADED', `no podwire datapath at ${pinDir} (no ${dir}): run \`podwire datapath load --pin-dir ${pinDir}\` or pick the node with --node NAME`);
  }
  try {
    return readdirSync(dir).sort();
  } catch (cause) {
    throw openError(dir, pinDir, cause);
  }
}

/**
 * A raw view of PINDIR/maps/NAME. For per-CPU maps `valueSize` of the returned ref is the
 * whole per-CPU buffer (roundup8(value size) × possible CPUs), which is what the kernel copies
 * and what RawMap checks buffers against; `elemSize` is the size of one CPU's value.
 */
export interface RawPinnedMap {
  name: string;
  path: string;
  ref: MapRef;
  map: RawMap;
  /** Value size of one element as the map was created (one CPU's share for per-CPU maps). */
  elemSize: number;
  percpu: boolean;
  close(): void;
}

export function openRawPinned(pinDir: string, name: string): RawPinnedMap {
  const path = join(pinPaths(pinDir).mapsDir, name);
  let ref: MapRef;
  try {
    ref = createMapRef(objGet(path), { transfer: true });
  } catch (cause) {
    throw openError(path, pinDir, cause);
  }
  const percpu = isPercpuType(ref.type);
  const elemSize = ref.valueSize;
  const view: MapRef = percpu ? percpuView(ref, elemSize) : ref;
  return { name, path, ref: view, map: new RawMap(view), elemSize, percpu, close: () => ref.close() };
}
