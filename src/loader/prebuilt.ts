// The datapath object `npm run build` compiled (build/bpf/datapath.o, inside the single executable
// as an asset), usable in place of a clang run at agent start when it was built from exactly what
// the agent would compile now: the same sources and headers, podwire version and defines (the
// build's manifest records their hash; see datapathSourceHash). clang at start was most of a fresh
// node's time to converge (2.85 s of 5.08 s at 65k nodes); the compile stays the path for
// anything else (other sources, defines, a build without a manifest).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bpfObjectDir, podwireVersion } from '../assets/index.js';
import { datapathSourceHash, PREBUILT_MANIFEST, type PrebuiltManifest } from '../build/bpf.mjs';
import type { Defines } from './compile.js';

export interface Prebuilt {
  /** The linked object to load, or undefined when the datapath must be compiled. */
  object?: string;
  /** Why the prebuilt object does not fit (for the agent's log). */
  reason?: string;
}

function readManifest(dir: string): PrebuiltManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, PREBUILT_MANIFEST), 'utf8')) as PrebuiltManifest;
  } catch {
    return undefined; // absent or torn (a build in progress): compile
  }
}

export function prebuiltObject(srcDir: string, defines: Defines, objectDir = bpfObjectDir()): Prebuilt {
  const m = readManifest(objectDir);
  if (!m || typeof m.hash !== 'string' || typeof m.object !== 'string') return { reason: `no build manifest in ${objectDir}` };
  const object = join(objectDir, m.object);
  if (!existsSync(object)) return { reason: `${object} is missing` };
  let hash: string;
  try {
    hash = datapathSourceHash(srcDir, { version: podwireVersion(), defines });
  } catch {
    return { reason: `cannot read the sources in ${srcDir}` }; // the compile reports it properly
  }
  if (hash !== m.hash) return { reason: 'sources, defines or version differ from the build' };
  return { object };
}
