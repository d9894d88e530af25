#!/usr/bin/env node
// npm run build:bin: dist/podwire, a Node single-executable application that runs where Node is
// not installed. Steps: bundle src/build/sea-entry.ts into ONE CommonJS file (a SEA runs one
// script and its require() sees only built-ins, so everything, including the bpf package, is
// inlined; the bpf native addon is loaded from an extracted asset instead of node_modules), list
// the files that must exist as files at run time as SEA assets (datapath sources, compiled
// objects, the wasm twin, the pw-tcx helper, the addon), let node write the blob with a V8 code
// cache (start-up is paid on every CNI exec), copy this node binary, strip it, inject the blob
// with postject. Expects `npm run build` to have produced build/bpf, build/twin and build/bin
// (build:bin runs it first).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'postject';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(root, 'dist');
const work = join(dist, '.sea');
// The fuse node checks to know it carries a blob (documented in Node's single-executable docs).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// Keys shared with src/assets/sea.ts (kept literal here: this script runs without a TS loader).
const MANIFEST_KEY = 'podwire/manifest.json';
const FILE_PREFIX = 'podwire/files/';
const BPF_ADDON_PATH = 'native/bpf.node';

const useCodeCache = process.env.PODWIRE_SEA_CODE_CACHE !== '0';

function filesUnder(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

// The bpf package finds its addon with node-gyp-build(dir); in the SEA that is src/assets'
// loadBpfAddon(), which dlopens the extracted copy.
const bpfAddonPlugin = {
  name: 'podwire-bpf-addon',
  setup(b) {
    b.onResolve({ filter: /^node-gyp-build$/ }, (args) =>
      args.importer.includes(`${join('node_modules', 'bpf')}`) ? { path: 'bpf-addon', namespace: 'podwire-native' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'podwire-native' }, () => ({
      contents: `const { loadBpfAddon } = require(${JSON.stringify(join(root, 'src/assets/sea.ts'))});\nmodule.exports = () => loadBpfAddon();\n`,
      resolveDir: root,
      loader: 'js',
    }));
  },
};

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const bundle = join(work, 'podwire.cjs');
const result = await build({
  entryPoints: [join(root, 'src/build/sea-entry.ts')],
  outfile: bundle,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  plugins: [bpfAddonPlugin],
  logLevel: 'warning',
  metafile: true,
  // Only src/assets reads import.meta.url, and only outside a SEA.
  logOverride: { 'empty-import-meta': 'silent' },
});
const unresolvedBpf = Object.keys(result.metafile.inputs).filter((i) => i.includes('node-gyp-build/'));
if (unresolvedBpf.length > 0) throw new Error(`node-gyp-build was bundled (${unresolvedBpf.join(', ')}): the bpf addon plugin did not apply`);

// The files the program opens by path at run time.
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const files = new Map(); // path inside the extracted tree → absolute source
const add = (rel, abs) => files.set(rel, abs);
for (const f of filesUnder(join(root, 'bpf'))) add(relative(root, f), f);
for (const sub of ['build/bpf', 'build/twin']) {
  const d = join(root, sub);
  if (!existsSync(d)) {
    if (sub === 'build/bpf') throw new Error(`${d} is missing: run npm run build first`);
    continue;
  }
  // datapath.json: the prebuilt object's manifest (the agent loads it instead of running clang)
  for (const f of filesUnder(d)) if (/\.(o|wasm)$|\/datapath\.json$/.test(f)) add(relative(root, f), f);
}
// host helpers (pw-tcx); src/assets/sea.ts extracts everything under build/bin/ executable
const tcx = join(root, 'build/bin/pw-tcx');
if (!existsSync(tcx)) throw new Error(`${tcx} is missing: run npm run build first`);
for (const f of filesUnder(join(root, 'build/bin'))) add(relative(root, f), f);
const addon = join(root, 'node_modules/bpf/prebuilds', `linux-${process.arch}`, 'node.napi.node');
if (!existsSync(addon)) throw new Error(`${addon} is missing: the bpf package ships no prebuilt addon for linux-${process.arch}`);
add(BPF_ADDON_PATH, addon);
// packageRoot()/package.json: name and version only (the agent records the version it loaded)
const pkgFile = join(work, 'package.json');
writeFileSync(pkgFile, `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module' }, null, 2)}\n`);
add('package.json', pkgFile);

const sorted = [...files.keys()].sort();
const h = createHash('sha256');
for (const rel of sorted) {
  h.update(`${rel}\0`);
  h.update(readFileSync(files.get(rel)));
}
const manifest = { hash: h.digest('hex'), version: pkg.version, files: sorted };
const manifestFile = join(work, 'manifest.json');
writeFileSync(manifestFile, JSON.stringify(manifest));

const assets = { [MANIFEST_KEY]: manifestFile };
for (const rel of sorted) assets[`${FILE_PREFIX}${rel}`] = files.get(rel);
const blob = join(work, 'podwire.blob');
const seaConfig = join(work, 'sea-config.json');
writeFileSync(
  seaConfig,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache, useSnapshot: false, assets }, null, 2),
);
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

// Inject into a stripped copy of the node that runs this build (the SEA runs on that Node).
const tmpBin = join(dist, '.podwire.tmp');
copyFileSync(process.execPath, tmpBin);
chmodSync(tmpBin, 0o755);
execFileSync('strip', [tmpBin], { stdio: 'inherit' });
await inject(tmpBin, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
renameSync(tmpBin, join(dist, 'podwire'));

const mb = (p) => (statSync(p).size / 1e6).toFixed(1);
console.log(
  `dist/podwire: ${mb(join(dist, 'podwire'))} MB (node ${mb(process.execPath)} MB unstripped; bundle ${mb(bundle)} MB; ` +
    `${sorted.length} asset files; code cache ${useCodeCache ? 'on' : 'off'})`,
);
