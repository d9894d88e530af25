// loadDatapath / unloadDatapath / attach on the real kernel: pin layout, map reuse across
// reloads, re-attach, compile and verifier errors, idempotent unload.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { appendFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPodwireError, type PodwireError } from '../../src/errors/index.js';
import { runJson } from '../../src/exec/run.js';
import {
  attachedProgramId,
  attachFromPod,
  isDatapathLoaded,
  loadDatapath,
  pinnedProgramId,
  pinPaths,
  prebuiltObject,
  unloadDatapath,
} from '../../src/loader/index.js';
import { bpfObjectDir, bpfSourceDir } from '../../src/assets/index.js';
import { openEndpoints } from '../../src/maps/index.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { maps as ALL_MAP_LAYOUTS } from '../../src/maps/generated/layouts.js';

/** Every map the datapath object defines (the generated layouts), sorted like a directory listing. */
const ALL_MAPS = Object.keys(ALL_MAP_LAYOUTS).sort();

const tag = randomBytes(4).toString('hex');
const pinDir = `/sys/fs/bpf/pwtest-${tag}`;
const pinDirs = [pinDir, `${pinDir}-def`, `${pinDir}-bad`, `${pinDir}-cc`, `${pinDir}-none`, `${pinDir}-pre`];
let ns: Netns | undefined;
let work = '';

async function ifindexOf(name: string): Promise<number> {
  const out = await ns!.exec('ip', ['-j', 'link', 'show', name]);
  return (JSON.parse(out.stdout) as Array<{ ifindex: number }>)[0]!.ifindex;
}

async function caught(p: Promise<unknown>): Promise<PodwireError> {
  try {
    await p;
  } catch (e) {
    if (isPodwireError(e)) return e;
    throw e;
  }
  throw new Error('expected a PodwireError');
}

beforeAll(async () => {
  ns = await createNetns('pwld');
  await ns.exec('ip', ['link', 'add', 'h1', 'type', 'veth', 'peer', 'name', 'p1']);
  work = await mkdtemp(join(tmpdir(), 'pwloader-'));
});

afterAll(async () => {
  for (const d of pinDirs) await unloadDatapath({ pinDir: d, netns: ns?.path });
  await ns?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('loader', () => {
  it('loads and pins programs and maps under the pin dir', async () => {
    expect(isDatapathLoaded(pinDir)).toBe(false);
    const r = await loadDatapath({ pinDir, netns: ns!.path });
    // npm run build's object: its manifest hashes the same sources, version and (no) defines
    expect(r).toEqual({ programs: ['from_pod', 'from_uplink', 'from_vxlan', 'to_pod', 'to_uplink', 'xdp_prefilter'], reusedMaps: [], reattached: 0, staleLinks: [], migrated: [], object: { source: 'prebuilt' } });
    expect(isDatapathLoaded(pinDir)).toBe(true);
    expect(readdirSync(pinDir).sort()).toEqual(['layout', 'links', 'links-egress', 'maps', 'progs']); // no staging leftovers
    expect(readdirSync(pinPaths(pinDir).mapsDir).sort()).toEqual(ALL_MAPS);
    expect(await pinnedProgramId(pinDir)).toBeGreaterThan(0);
  });

  it('attaches from_pod to a host veth with one pw-tcx exec, and reports the attached id', async () => {
    expect(await attachedProgramId('h1', { netns: ns!.path })).toBeUndefined();
    await attachFromPod('h1', pinDir, { netns: ns!.path });
    expect(await attachedProgramId('h1', { netns: ns!.path })).toBe(await pinnedProgramId(pinDir));
    await attachFromPod('h1', pinDir, { netns: ns!.path }); // idempotent (replace)
    expect(await attachedProgramId('h1', { netns: ns!.path })).toBe(await pinnedProgramId(pinDir));
  });

  it('reload keeps endpoint entries, replaces the program and re-attaches known veths', async () => {
    const ep = { ip: '10.244.1.5', ifindex: await ifindexOf('h1'), podMac: '02:00:00:00:01:05', hostMac: 'ee:00:00:00:01:05', flags: 0, endpointId: 5 };
    const eps = openEndpoints(pinDir);
    eps.set(ep);
    eps.close();
    const oldId = await pinnedProgramId(pinDir);

    const r = await loadDatapath({ pinDir, netns: ns!.path });
    expect(r.reusedMaps).toEqual(ALL_MAPS);
    expect(r.reattached).toBe(1);
    const newId = await pinnedProgramId(pinDir);
    expect(newId).not.toBe(oldId);
    expect(await attachedProgramId('h1', { netns: ns!.path })).toBe(newId);

    const again = openEndpoints(pinDir);
    expect(again.get(ep.ip)).toEqual(ep);
    again.close();
    expect(readdirSync(pinDir).sort()).toEqual(['layout', 'links', 'links-egress', 'maps', 'progs']);
  });

  it('passes -D defines to clang (map capacity) and refuses to reuse a map whose definition changed', async () => {
    const dir = `${pinDir}-def`;
    await loadDatapath({ pinDir: dir, defines: { PW_ENDPOINTS_MAX: 1024 } });
    const info = await runJson<{ max_entries: number }>('bpftool', ['-j', 'map', 'show', 'pinned', pinPaths(dir).maps.endpoints]);
    expect(info.max_entries).toBe(1024);
    const e = await caught(loadDatapath({ pinDir: dir, defines: { PW_ENDPOINTS_MAX: 2048 } }));
    expect(e.code).toBe('MAP_LAYOUT_MISMATCH');
    expect(e.message).toMatch(/max_entries 1024 != 2048/);
    expect(e.message).toMatch(/unload/);
  });

  it('compiles when the prebuilt object does not match, and the prebuilt object is what clang makes now', async () => {
    const dir = `${pinDir}-pre`;
    const tags = async () => {
      const out: Record<string, string> = {};
      for (const name of readdirSync(pinPaths(dir).progsDir)) {
        out[name] = (await runJson<{ tag: string }>('bpftool', ['-j', 'prog', 'show', 'pinned', join(pinPaths(dir).progsDir, name)])).tag;
      }
      return out;
    };
    expect((await loadDatapath({ pinDir: dir })).object).toEqual({ source: 'prebuilt' });
    const prebuiltTags = await tags();
    const r = await loadDatapath({ pinDir: dir, compile: 'always' });
    expect(r.object).toEqual({ source: 'compiled', reason: 'compile requested' });
    // the kernel's tag hashes the instructions (map references masked): same code, same tags
    expect(await tags()).toEqual(prebuiltTags);
    expect(Object.keys(prebuiltTags)).toContain('from_pod');

    // a defines change, or a source that differs by one comment, must not load the stale object
    expect((await loadDatapath({ pinDir: dir, defines: { PW_UNUSED_KNOB: 1 } })).object).toEqual({ source: 'compiled', reason: 'sources, defines or version differ from the build' });
    const src = join(work, 'bpf-edited');
    await cp(bpfSourceDir(), src, { recursive: true });
    await appendFile(join(src, 'lib', 'common.h'), '\n/* edited */\n');
    expect((await loadDatapath({ pinDir: dir, bpfDir: src })).object.source).toBe('compiled');

    // a build directory whose manifest is torn or missing: compile, never trust the object
    const objDir = join(work, 'objs');
    await mkdir(objDir, { recursive: true });
    await writeFile(join(objDir, 'datapath.json'), '{"object": "datapath.o", "ha');
    expect(prebuiltObject(bpfSourceDir(), {}, objDir)).toEqual({ reason: `no build manifest in ${objDir}` });
    expect(prebuiltObject(bpfSourceDir(), {})).toEqual({ object: join(bpfObjectDir(), 'datapath.o') });
  });

  it('surfaces a verifier rejection with the program name and the verifier log', async () => {
    const src = join(work, 'bad');
    await mkdir(src, { recursive: true });
    await writeFile(
      join(src, 'bad.c'),
      `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("tc")
int bad_prog(struct __sk_buff *skb)
{
	unsigned char *data = (unsigned char *)(long)skb->data;
	return data[20]; /* no bounds check: the verifier must refuse this */
}
char LICENSE[] SEC("license") = "GPL";
`,
    );
    const dir = `${pinDir}-bad`;
    const e = await caught(loadDatapath({ pinDir: dir, bpfDir: src }));
    expect(e.code).toBe('VERIFIER_REJECTED');
    expect(e.message).toContain("'bad_prog'");
    expect(e.message).toMatch(/outside of the packet/);
    expect(e.details).toMatch(/invalid access to packet/);
    expect(isDatapathLoaded(dir)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['links', 'links-egress', 'maps', 'progs']); // staging removed
    expect(readdirSync(pinPaths(dir).progsDir)).toEqual([]);
  });

  it('surfaces a compile error with the clang output', async () => {
    const src = join(work, 'cc');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'broken.c'), 'int broken(void) { return undeclared_symbol; }\n');
    const e = await caught(loadDatapath({ pinDir: `${pinDir}-cc`, bpfDir: src }));
    expect(e.code).toBe('COMPILE_FAILED');
    expect(e.message).toContain('broken.c');
    expect(e.details).toMatch(/undeclared_symbol/);
    expect(existsSync(`${pinDir}-cc`)).toBe(false);
  });

  it('rejects a bad define name before running clang', async () => {
    const e = await caught(loadDatapath({ pinDir: `${pinDir}-cc`, defines: { 'X; rm -rf': 1 } }));
    expect(e.code).toBe('CONFIG_INVALID');
  });

  it('attach without a loaded datapath says how to load it', async () => {
    const e = await caught(attachFromPod('h1', `${pinDir}-none`, { netns: ns!.path }));
    expect(e.code).toBe('DATAPATH_NOT_LOADED');
    expect(e.message).toBe(`no podwire datapath at ${pinDir}-none: run \`podwire datapath load --pin-dir ${pinDir}-none\``);
  });

  it('unload detaches known veths, removes every pin, and is idempotent', async () => {
    expect(await attachedProgramId('h1', { netns: ns!.path })).toBeDefined();
    await unloadDatapath({ pinDir, netns: ns!.path });
    expect(existsSync(pinDir)).toBe(false);
    expect(isDatapathLoaded(pinDir)).toBe(false);
    expect(await attachedProgramId('h1', { netns: ns!.path })).toBeUndefined();
    await unloadDatapath({ pinDir, netns: ns!.path });
  });
});
