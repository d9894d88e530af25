// Datapath build step (called by build.mjs): compile every bpf/*.c with clang, link the objects
// with the BPF static linker, and generate src/maps/generated/layouts.ts from the linked object's
// BTF, so the TypeScript codecs can never drift from the C headers (bpf2go style).
//
// Plain .mjs because build.mjs runs before any TypeScript is compiled; the loader imports
// clangArgs() from here (typed by bpf.d.mts) so build time and run time use one flag list.
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, basename } from 'node:path';
import { BPFTOOL, CLANG } from './toolchain.mjs';

export { BPFTOOL, CLANG };
export const LINKED_OBJECT = 'datapath.o';
export const LAYOUTS_FILE = 'src/maps/generated/layouts.ts';
/** Beside the linked object in build/bpf: what it was built from (see datapathSourceHash). */
export const PREBUILT_MANIFEST = 'datapath.json';

/** clang arguments for one BPF source; defines become -DNAME=VALUE (node-specific constants). */
export function clangArgs(src, out, { includeDir, defines = {} } = {}) {
  const args = ['-O2', '-g', '-Wall', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu'];
  if (includeDir) args.push(`-I${includeDir}`);
  for (const [name, value] of Object.entries(defines)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid define name: ${name}`);
    args.push(`-D${name}=${value}`);
  }
  args.push('-c', src, '-o', out);
  return args;
}

/** The program sources: every *.c directly under the bpf/ directory (lib/ holds headers). */
export async function listSources(srcDir) {
  const names = (await readdir(srcDir)).filter((n) => n.endsWith('.c')).sort();
  return names.map((n) => join(srcDir, n));
}

async function tool(cmd, args) {
  const r = await execa(cmd, args, { reject: false });
  if (r.exitCode !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.exitCode}):\n${r.stderr || r.stdout}`);
  }
  return r.stdout;
}

/** Compile each source to outDir/NAME.o and link them into outDir/datapath.o. */
export async function compileAndLink(srcDir, outDir, defines = {}) {
  await mkdir(outDir, { recursive: true });
  const sources = await listSources(srcDir);
  if (sources.length === 0) throw new Error(`no BPF sources (*.c) in ${srcDir}`);
  const objects = await Promise.all(
    sources.map(async (src) => {
      const out = join(outDir, basename(src, '.c') + '.o');
      await tool(CLANG, clangArgs(src, out, { includeDir: srcDir, defines }));
      return out;
    }),
  );
  const linked = join(outDir, LINKED_OBJECT);
  await tool(BPFTOOL, ['gen', 'object', linked, ...objects]);
  return linked;
}

// ---- what an object is made of --------------------------------------------------------------

function filesUnder(dir, rel = '') {
  const out = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...filesUnder(dir, p));
    else out.push(p);
  }
  return out;
}

/**
 * Hash of everything the loaded programs are made from: the podwire version, the compile-time
 * defines, the program sources (top-level *.c) and their headers (lib/). The wasm twin's and the
 * host tools' sources in other directories do not go into the kernel and are left out. One
 * function for the build (the prebuilt object's manifest) and the agent (adopting what is
 * pinned, using the prebuilt object), so the two can never disagree on "the same datapath".
 */
export function datapathSourceHash(srcDir, { version, defines = {} }) {
  const h = createHash('sha256');
  h.update(`podwire ${version}\n`);
  const sortedDefines = Object.entries(defines).sort(([a], [b]) => a.localeCompare(b));
  h.update(`defines ${JSON.stringify(sortedDefines)}\n`);
  const files = filesUnder(srcDir).filter((f) => (!f.includes('/') && f.endsWith('.c')) || f.startsWith('lib/')).sort();
  for (const f of files) {
    h.update(`file ${f}\n`);
    h.update(readFileSync(join(srcDir, f)));
  }
  return h.digest('hex');
}

// ---- BTF -> layouts -------------------------------------------------------------------------

const MAP_TYPES = {
  1: 'hash', 2: 'array', 3: 'prog_array', 4: 'perf_event_array', 5: 'percpu_hash',
  6: 'percpu_array', 9: 'lru_hash', 10: 'lru_percpu_hash', 11: 'lpm_trie', 14: 'devmap',
  27: 'ringbuf',
};

/** Parsed `bpftool -j btf dump file OBJ`, indexed by type id. */
export async function readBtf(objPath) {
  const out = await tool(BPFTOOL, ['-j', 'btf', 'dump', 'file', objPath]);
  const byId = new Map();
  for (const t of JSON.parse(out).types) byId.set(t.id, t);
  return byId;
}

function resolve(byId, id) {
  // typedef/const/volatile are transparent for layout purposes
  let t = byId.get(id);
  while (t && ['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG'].includes(t.kind)) t = byId.get(t.type_id);
  if (!t) throw new Error(`BTF type ${id} not found`);
  return t;
}

function sizeOf(byId, id) {
  const t = resolve(byId, id);
  switch (t.kind) {
    case 'INT': case 'ENUM': case 'ENUM64': case 'STRUCT': case 'UNION': return t.size;
    case 'PTR': return 8;
    case 'ARRAY': return t.nr_elems * sizeOf(byId, t.type_id);
    default: throw new Error(`no size for BTF kind ${t.kind}`);
  }
}

function structLayout(byId, t) {
  const fields = {};
  for (const m of t.members) {
    if (m.bitfield_size) throw new Error(`bitfield ${t.name}.${m.name} is not supported in shared layouts`);
    if (m.bits_offset % 8 !== 0) throw new Error(`unaligned member ${t.name}.${m.name}`);
    if (m.name === '(anon)' || m.name === '') continue; // anonymous unions (kernel __sk_buff): not addressed by name
    const mt = resolve(byId, m.type_id);
    const f = { offset: m.bits_offset / 8, size: sizeOf(byId, m.type_id) };
    if (mt.kind === 'ARRAY') f.count = mt.nr_elems;
    fields[m.name] = f;
  }
  return { size: t.size, fields };
}

function commonPrefix(names) {
  let p = names[0] ?? '';
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  return p.slice(0, p.lastIndexOf('_') + 1);
}

/** Everything TypeScript needs to know about the datapath's binary layouts. */
export function layoutsFromBtf(byId) {
  const types = [...byId.values()];
  const structs = {};
  for (const t of types) {
    if (t.kind !== 'STRUCT') continue;
    // our own structs, minus the BTF anchor itself; __sk_buff gives tests the test_run ctx offsets
    if ((t.name.startsWith('pw_') && t.name !== 'pw_btf_anchor') || t.name === '__sk_buff') structs[t.name] = structLayout(byId, t);
  }
  const enums = {};
  for (const t of types) {
    if (t.kind !== 'ENUM' || !t.name.startsWith('pw_')) continue;
    const prefix = commonPrefix(t.values.map((v) => v.name));
    const values = {};
    for (const v of t.values) values[v.name.slice(prefix.length)] = v.val;
    enums[t.name] = { prefix, values };
  }
  const maps = {};
  const sec = types.find((t) => t.kind === 'DATASEC' && t.name === '.maps');
  for (const v of sec?.vars ?? []) {
    const variable = byId.get(v.type_id);
    const def = resolve(byId, variable.type_id);
    const m = {};
    for (const mem of def.members) m[mem.name] = mem.type_id;
    // __uint(name, N) is `int (*name)[N]`; __type(name, T) is `T *name`
    const uintOf = (id) => resolve(byId, resolve(byId, id).type_id).nr_elems;
    const typeOf = (id) => resolve(byId, resolve(byId, id).type_id);
    const typeId = uintOf(m.type);
    // a ring buffer has neither key nor value (the kernel reports sizes 0)
    const key = m.key === undefined ? undefined : typeOf(m.key);
    const value = m.value === undefined ? undefined : typeOf(m.value);
    const name = (t) => (t === undefined ? 'none' : t.kind === 'STRUCT' ? t.name : `u${t.size * 8}`);
    maps[variable.name] = {
      type: MAP_TYPES[typeId] ?? `type_${typeId}`,
      keySize: key === undefined ? 0 : sizeOf(byId, key.id),
      valueSize: value === undefined ? 0 : sizeOf(byId, value.id),
      maxEntries: uintOf(m.max_entries),
      key: name(key),
      value: name(value),
    };
  }
  const sortKeys = (o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { structs: sortKeys(structs), maps: sortKeys(maps), enums: sortKeys(enums) };
}

function render(value, indent) {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number') return String(value);
  const entries = Object.entries(value);
  const key = (k) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : `'${k}'`);
  if (entries.every(([, v]) => typeof v !== 'object')) {
    const line = `{ ${entries.map(([k, v]) => `${key(k)}: ${render(v, '')}`).join(', ')} }`;
    if (line.length + indent.length <= 100) return line;
  }
  const inner = indent + '  ';
  return `{\n${entries.map(([k, v]) => `${inner}${key(k)}: ${render(v, inner)},`).join('\n')}\n${indent}}`;
}

export function renderLayouts(layouts) {
  return [
    '// GENERATED by src/build/bpf.mjs from the BTF of the linked datapath object. Do not edit:',
    '// `npm run build` rewrites it, and test/maps/layouts.test.ts fails when it is stale. The C',
    '// headers under bpf/lib/ are the source of truth for every offset, size and enum value here.',
    '',
    '/** Struct layouts: byte offset and size of every named field (count for arrays). */',
    `export const structs = ${render(layouts.structs, '')} as const;`,
    '',
    '/** Map definitions from the .maps section (sizes in bytes, per CPU for percpu maps). */',
    `export const maps = ${render(layouts.maps, '')} as const;`,
    '',
    '/** Enums, names without their common prefix. */',
    `export const enums = ${render(layouts.enums, '')} as const;`,
    '',
  ].join('\n');
}

/** Layouts of an object (the loader checks pinned maps against its `maps`). */
export async function readObjectLayouts(objPath) {
  return layoutsFromBtf(await readBtf(objPath));
}

/** The layouts.ts source for a linked object. */
export async function generateLayouts(objPath) {
  return renderLayouts(layoutsFromBtf(await readBtf(objPath)));
}

/** npm run build: build/bpf/*.o, build/bpf/datapath.o and the generated layouts. */
export async function buildBpf(root) {
  const outDir = join(root, 'build', 'bpf');
  const srcDir = join(root, 'bpf');
  // The agent loads this object instead of running clang at start when its sources, version and
  // (empty) defines hash the same. The old manifest goes first and the new one last, atomically,
  // so no manifest ever vouches for an object being rewritten.
  const manifestPath = join(outDir, PREBUILT_MANIFEST);
  await rm(manifestPath, { force: true });
  const linked = await compileAndLink(srcDir, outDir);
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  const manifest = { object: LINKED_OBJECT, version, defines: {}, hash: datapathSourceHash(srcDir, { version, defines: {} }) };
  await writeFile(`${manifestPath}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${manifestPath}.tmp`, manifestPath);
  const text = await generateLayouts(linked);
  const target = join(root, LAYOUTS_FILE);
  await mkdir(join(target, '..'), { recursive: true });
  const old = await readFile(target, 'utf8').catch(() => '');
  // rewrite only on change so watchers and mtimes stay quiet
  if (old !== text) await writeFile(target, text);
  return { object: linked, layouts: target };
}
