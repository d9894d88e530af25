// Twin build step (called by build.mjs): compile bpf/twin/twin.c — the datapath's shared decision
// headers plus wasm glue — to WebAssembly, so `podwire trace` and the differential test run the
// very C the BPF programs run. Plain .mjs for the same reason as bpf.mjs: it runs before any
// TypeScript is compiled.
import { execa } from 'execa';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const TWIN_SOURCE = 'bpf/twin/twin.c';
export const TWIN_WASM = 'build/twin/decide.wasm';

/** clang arguments: wasm32, no libc (the shared headers need none), warnings like the BPF build. */
export function twinClangArgs(src, out, includeDir) {
  return ['--target=wasm32', '-nostdlib', '-O2', '-Wall', '-Werror', `-I${includeDir}`, '-c', src, '-o', out];
}

async function tool(cmd, args) {
  const r = await execa(cmd, args, { reject: false });
  if (r.exitCode !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.exitCode}):\n${r.stderr || r.stdout}`);
  }
}

/** npm run build: build/twin/decide.wasm from bpf/twin/twin.c. */
export async function buildTwin(root) {
  const outDir = join(root, 'build', 'twin');
  await mkdir(outDir, { recursive: true });
  const obj = join(outDir, 'twin.o');
  const wasm = join(root, TWIN_WASM);
  await tool('clang-16', twinClangArgs(join(root, TWIN_SOURCE), obj, join(root, 'bpf')));
  // --no-entry: a library, not a program; exports are the functions marked export_name in twin.c
  await tool('wasm-ld-16', ['--no-entry', '--export-dynamic', '-o', wasm, obj]);
  await rm(obj, { force: true });
  return { wasm };
}
