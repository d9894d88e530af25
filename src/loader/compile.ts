// Compile each BPF source with clang (one object per source). The flag list is shared with the
// build step (src/build/bpf.mjs) so what `npm run build` checks is what the agent loads.
import { basename, join } from 'node:path';
import { clangArgs, CLANG, listSources } from '../build/bpf.mjs';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';

export type Defines = Record<string, string | number>;

function checkDefines(defines: Defines): void {
  for (const [name, value] of Object.entries(defines)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new PodwireError('CONFIG_INVALID', `invalid compile-time define name ${JSON.stringify(name)}: use a C identifier`);
    }
    if (/[\r\n]/.test(String(value))) {
      throw new PodwireError('CONFIG_INVALID', `compile-time define ${name} has a value with a line break`);
    }
  }
}

/** Compile every *.c in srcDir into outDir/NAME.o; returns the object paths. */
export async function compileSources(srcDir: string, outDir: string, defines: Defines = {}): Promise<string[]> {
  checkDefines(defines);
  const sources = await listSources(srcDir).catch((cause: unknown) => {
    throw new PodwireError('COMPILE_FAILED', `cannot read BPF sources in ${srcDir}`, { cause });
  });
  if (sources.length === 0) throw new PodwireError('COMPILE_FAILED', `no BPF sources (*.c) in ${srcDir}`);
  return Promise.all(
    sources.map(async (src) => {
      const out = join(outDir, `${basename(src, '.c')}.o`);
      const r = await run(CLANG, clangArgs(src, out, { includeDir: srcDir, defines }), { reject: false, timeoutMs: 120_000 });
      if (r.exitCode !== 0) {
        const output = r.stderr || r.stdout || `exit ${r.exitCode} (is ${CLANG} installed? run deploy/host-prereqs.sh)`;
        const first = output.split('\n').find((l) => l.includes('error')) ?? output.split('\n')[0] ?? '';
        throw new PodwireError('COMPILE_FAILED', `compiling ${src} failed: ${first.trim()}`, { details: output });
      }
      return out;
    }),
  );
}
