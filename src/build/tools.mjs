// Host helper programs (called by build.mjs): every bpf/tools/*.c is a small C program for the
// host, not the BPF target, compiled with clang-16 into build/bin/<name>: pw-tcx, which creates
// tcx links (nothing else on Debian 12 can; see its contract comment), and podwire-cni, the
// native CNI shim that hands requests to the agent's socket. src/assets/index.ts tcxHelper() and
// cniShim() are where the program finds them; src/build/sea.mjs packs everything in build/bin.
import { execa } from 'execa';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CLANG } from './bpf.mjs';

export const TOOLS_SOURCE_DIR = 'bpf/tools';
export const TOOLS_OUT_DIR = 'build/bin';

/** Compile each bpf/tools/*.c to build/bin/NAME; returns the output paths. */
export async function buildTools(root) {
  const srcDir = join(root, TOOLS_SOURCE_DIR);
  const outDir = join(root, TOOLS_OUT_DIR);
  await mkdir(outDir, { recursive: true });
  const sources = (await readdir(srcDir)).filter((n) => n.endsWith('.c')).sort();
  const versions = await cniVersionDefines(root);
  return Promise.all(
    sources.map(async (name) => {
      const out = join(outDir, basename(name, '.c'));
      // -Werror: the helper's struct layouts are checked with _Static_assert; a warning here is a bug
      const args = ['-O2', '-g', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-I/usr/include/x86_64-linux-gnu', ...versions, join(srcDir, name), '-o', out];
      const r = await execa(CLANG, args, { reject: false });
      if (r.exitCode !== 0) throw new Error(`${CLANG} ${args.join(' ')} failed (exit ${r.exitCode}):\n${r.stderr || r.stdout}`);
      return out;
    }),
  );
}

/** -D flags carrying the CNI spec versions from src/cni/version.ts, the one place they are listed. */
async function cniVersionDefines(root) {
  const text = await readFile(join(root, 'src/cni/version.ts'), 'utf8');
  const supported = /SUPPORTED_VERSIONS = \[([^\]]*)\]/.exec(text)?.[1];
  const latest = /LATEST_VERSION = '([0-9.]+)'/.exec(text)?.[1];
  if (!supported || !latest) throw new Error('src/cni/version.ts: SUPPORTED_VERSIONS / LATEST_VERSION not found (the shim build reads them)');
  const list = supported.split(',').map((v) => v.trim().replace(/^'|'$/g, '')).filter(Boolean);
  return [`-DPW_CNI_SUPPORTED=${list.map((v) => JSON.stringify(v)).join(',')}`, `-DPW_CNI_LATEST=${JSON.stringify(latest)}`];
}
