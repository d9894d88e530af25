#!/usr/bin/env node
// npm run build: compile the datapath objects (a build-time check and the source of the
// generated layouts) and the host helpers (build/bin/pw-tcx), bundle the TypeScript into
// build/js with esbuild (code-split so each role loads only its own chunk), and write the
// bin/podwire launcher.
import { build } from 'esbuild';
import { mkdir, writeFile, chmod } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const steps = [];
try {
  const bpf = await import('./bpf.mjs');
  steps.push(bpf.buildBpf(root));
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
}
try {
  // the WebAssembly twin of the decision headers (podwire trace, differential tests)
  const twin = await import('./twin.mjs');
  steps.push(twin.buildTwin(root));
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
}
try {
  // host helpers (pw-tcx: tcx links) into build/bin
  const tools = await import('./tools.mjs');
  steps.push(tools.buildTools(root));
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
}
await Promise.all(steps);

await build({
  entryPoints: [join(root, 'src/main.ts')],
  outdir: join(root, 'build/js'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // The bpf package is a native addon: load it from node_modules at run time.
  external: ['bpf'],
  banner: { js: "import { createRequire as __pwCreateRequire } from 'node:module'; const require = __pwCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});

// The benchmark suite (npm run bench) is bundled the same way into its own directory, so it
// imports the lab and loader from source without a TypeScript runner at run time.
await build({
  entryPoints: [join(root, 'bench/index.ts'), join(root, 'bench/soak/main.ts')],
  outdir: join(root, 'build/bench'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  external: ['bpf'],
  banner: { js: "import { createRequire as __pwCreateRequire } from 'node:module'; const require = __pwCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});

await mkdir(join(root, 'bin'), { recursive: true });
const launcher = join(root, 'bin/podwire');
// A dynamic import works whether Node reads this extensionless file as CommonJS or ESM.
await writeFile(launcher, '#!/usr/bin/env node\nimport("../build/js/main.js");\n');
await chmod(launcher, 0o755);
