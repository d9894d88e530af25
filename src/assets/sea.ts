// Assets of the single-executable application (dist/podwire). Files the program needs as files —
// the datapath C sources (the agent compiles them at start), the prebuilt objects, the
// WebAssembly twin, the pw-tcx helper (exec needs a path) and the `bpf` package's native addon
// (dlopen needs a path) — travel inside
// the binary as SEA assets and are extracted once into a content-addressed directory that only
// this user can write, so a root process never dlopens or compiles a file someone else planted.
// Outside a SEA every function here answers "not a SEA" and costs nothing.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PodwireError } from '../errors/index.js';

/** Written by src/build/sea.mjs as the asset MANIFEST_KEY; every file is the asset FILE_PREFIX + path. */
export interface SeaManifest {
  /** sha256 over every file's path and content: the extraction directory's name. */
  hash: string;
  version: string;
  files: string[];
}
export const MANIFEST_KEY = 'podwire/manifest.json';
export const FILE_PREFIX = 'podwire/files/';
/** Where the native addon of the `bpf` package sits inside the extracted tree. */
export const BPF_ADDON_PATH = 'native/bpf.node';

/** Host programs the SEA carries (pw-tcx); like the addon they must be executable once extracted. */
export const EXECUTABLE_DIR = 'build/bin/';

function isExecutableAsset(path: string): boolean {
  return path.endsWith('.node') || path.startsWith(EXECUTABLE_DIR);
}

type SeaModule = typeof import('node:sea');
// getBuiltinModule works in both module formats (the SEA bundle is CommonJS, build/js is ESM)
// and never throws on Node versions without node:sea.
const sea = process.getBuiltinModule('node:sea') as SeaModule | undefined;

export function isSea(): boolean {
  return sea?.isSea() ?? false;
}

let extracted: string | undefined;

/** A directory for extracted assets that is ours alone: created 0700, not a symlink, owned by us. */
function privateDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const st = lstatSync(path);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new PodwireError(
      'IO_FAILED',
      `${path} must be a directory owned by uid ${uid} with mode 0700 to hold podwire's extracted assets; remove it or set PODWIRE_CACHE_DIR`,
    );
  }
  return path;
}

function cacheBase(): string {
  const explicit = process.env['PODWIRE_CACHE_DIR'];
  if (explicit) return privateDir(explicit);
  // root (the CNI plugin, the agent): /run is root-only and emptied at boot; others: $TMPDIR
  const candidates = process.getuid?.() === 0 ? ['/run/podwire/assets', join(tmpdir(), 'podwire-0')] : [join(tmpdir(), `podwire-${process.getuid?.()}`)];
  let last: unknown;
  for (const c of candidates) {
    try {
      return privateDir(c);
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

/**
 * The root of the extracted asset tree (package.json, bpf/, build/bpf, build/twin, native/), or
 * undefined outside a SEA. Extraction happens once per binary version: into a temp directory,
 * then renamed into place, so concurrent first runs (many pods at once) never see a half tree.
 */
export function seaRoot(): string | undefined {
  if (extracted !== undefined) return extracted;
  if (!sea || !sea.isSea()) return undefined;
  const manifest = JSON.parse(sea.getAsset(MANIFEST_KEY, 'utf8')) as SeaManifest;
  const base = cacheBase();
  const dir = join(base, `podwire-${manifest.version}-${manifest.hash.slice(0, 16)}`);
  if (existsSync(join(dir, '.complete'))) return (extracted = dir);
  // a directory without the marker was not made by us (rename is atomic): replace it
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  const tmp = mkdtempSync(join(base, '.extract-'));
  try {
    for (const f of manifest.files) {
      const out = join(tmp, f);
      mkdirSync(dirname(out), { recursive: true, mode: 0o755 });
      // getRawAsset: no copy (the types also allow a string, which it never returns for a file)
      writeFileSync(out, new Uint8Array(sea.getRawAsset(`${FILE_PREFIX}${f}`) as ArrayBuffer), { mode: isExecutableAsset(f) ? 0o755 : 0o644 });
    }
    writeFileSync(join(tmp, '.complete'), `${manifest.hash}\n`);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // another process extracted the same version first: use theirs
      if (!existsSync(join(dir, '.complete'))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return (extracted = dir);
}

/**
 * The `bpf` package's native binding. In a SEA the bundle replaces the package's
 * `node-gyp-build` lookup (which searches node_modules) with this function.
 */
export function loadBpfAddon(): unknown {
  const root = seaRoot();
  if (root === undefined) throw new PodwireError('IO_FAILED', 'loadBpfAddon() is only for the single executable; import the bpf package normally');
  const m = { exports: {} as unknown };
  process.dlopen(m, join(root, BPF_ADDON_PATH));
  return m.exports;
}
