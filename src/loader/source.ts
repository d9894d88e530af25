// Where the datapath's C sources live at run time. The agent compiles at start (node-specific
// -D constants), so the sources ship next to the code: today the repo's bpf/ directory found by
// walking up to package.json; a self-contained binary can swap this one function.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding package.json, found by walking up from this module (src/ or build/js/). */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
}

/** The bpf/ directory: *.c programs at its top level, shared headers in bpf/lib/. */
export function datapathSourceDir(): string {
  return join(packageRoot(), 'bpf');
}
