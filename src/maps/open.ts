// Opening a pinned map through the bpf package, with the checks every caller needs: the pin
// exists (else the datapath is not loaded) and its definition matches this build's layouts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMapRef, MapType, objGet, type MapRef } from 'bpf';
import { PodwireError } from '../errors/index.js';
import { pinPaths } from '../loader/pins.js';
import { maps as mapLayouts } from './generated/layouts.js';

export type MapName = keyof typeof mapLayouts;

let cpus: number | undefined;

/** Number of possible CPUs: the per-CPU value count the kernel copies for percpu maps. */
export function possibleCpus(): number {
  if (cpus === undefined) {
    // e.g. "0-1" or "0,2-5": count every listed CPU, like libbpf_num_possible_cpus()
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    let n = 0;
    for (const part of text.split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - (a ?? 0) + 1;
    }
    cpus = n;
  }
  return cpus;
}

export const roundup8 = (n: number): number => Math.ceil(n / 8) * 8;

export function isPercpu(name: MapName): boolean {
  return mapLayouts[name].type.includes('percpu');
}

/**
 * A MapRef for a pinned map, checked against the generated layout. For percpu maps the
 * returned ref reports valueSize = roundup8(value_size) * possible CPUs, the buffer size the
 * kernel reads/writes per element, because RawMap checks buffers against ref.valueSize.
 */
export function openPinnedMap(pinDir: string, name: MapName): MapRef {
  const path = join(pinPaths(pinDir).mapsDir, name);
  if (!existsSync(path)) {
    throw new PodwireError('DATAPATH_NOT_LOADED', `no podwire datapath at ${pinDir}: run \`podwire datapath load --pin-dir ${pinDir}\``);
  }
  let ref: MapRef;
  try {
    ref = createMapRef(objGet(path), { transfer: true });
  } catch (cause) {
    throw new PodwireError('IO_FAILED', `cannot open pinned map ${path}: ${(cause as Error).message}`, { cause });
  }
  const want = mapLayouts[name];
  const wantType = MapType[want.type.toUpperCase() as keyof typeof MapType];
  if (ref.type !== wantType || ref.keySize !== want.keySize || ref.valueSize !== want.valueSize) {
    const have = `type ${MapType[ref.type] ?? ref.type}, key ${ref.keySize} B, value ${ref.valueSize} B`;
    ref.close();
    throw new PodwireError(
      'MAP_LAYOUT_MISMATCH',
      `pinned map ${path} (${have}) does not match this build (type ${want.type}, key ${want.keySize} B, value ${want.valueSize} B): ` +
        `reload the datapath (\`podwire datapath unload --pin-dir ${pinDir}\` then \`podwire datapath load --pin-dir ${pinDir}\`)`,
    );
  }
  if (!isPercpu(name)) return ref;
  return percpuView(ref, want.valueSize);
}

/**
 * A view of a per-CPU map's ref whose valueSize is the whole per-CPU buffer (roundup8(value
 * size) × possible CPUs): the size the kernel copies and the `bpf` package's RawMap checks.
 */
export function percpuView(ref: MapRef, elemSize: number): MapRef {
  return {
    type: ref.type,
    id: ref.id,
    keySize: ref.keySize,
    valueSize: roundup8(elemSize) * possibleCpus(),
    maxEntries: ref.maxEntries,
    flags: ref.flags,
    name: ref.name,
    get fd() {
      return ref.fd;
    },
    close: () => ref.close(),
  };
}
