// The self-contained binary (npm run build:bin → dist/podwire) on a host without Node: run in a
// private mount namespace where the node executable is covered by an empty, non-executable
// file and PATH holds only the system directories, it answers CNI VERSION exactly like
// bin/podwire, runs the CLI, and loads (prebuilt, then compiled) + unloads the datapath from the assets it
// carries (extracted into a private cache directory that this test owns and removes), with the
// pw-tcx helper extracted executable.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podwireBin, podwireSeaBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { uniqueName } from '../../src/netns/index.js';

const SYSTEM_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

describe('dist/podwire (single-executable application)', () => {
  let dir: string;
  let nodeBin: string;
  let cover: string;
  const pinDir = `/sys/fs/bpf/${uniqueName('pwsea-')}`;

  beforeAll(async () => {
    if (!existsSync(podwireSeaBin())) throw new Error(`${podwireSeaBin()} is missing: run \`npm run build:bin\``);
    if (!existsSync(podwireBin())) throw new Error(`${podwireBin()} is missing: run \`npm run build\``);
    dir = await mkdtemp(join(tmpdir(), 'pwsea-'));
    cover = join(dir, 'no-node');
    await writeFile(cover, '', { mode: 0o644 });
    nodeBin = process.execPath;
  });

  afterAll(async () => {
    // the datapath test unloads itself; this is the safety net if it failed half-way
    if (existsSync(pinDir)) await run(podwireSeaBin(), ['datapath', 'unload', '--pin-dir', pinDir], { reject: false });
    await rm(pinDir, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  /** Run a shell script where node does not exist: private mount namespace, node covered, clean env. */
  function withoutNode(script: string, env: Record<string, string> = {}, input?: string) {
    const envArgs = Object.entries({ PATH: SYSTEM_PATH, PODWIRE_CACHE_DIR: join(dir, 'cache'), ...env }).map(([k, v]) => `${k}=${v}`);
    return run(
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'sh', '-c', `mount --bind "$0" "$1" && exec env -i ${envArgs.map((a) => `'${a}'`).join(' ')} sh -c "$2"`, cover, nodeBin, script],
      { reject: false, timeoutMs: 180_000, ...(input === undefined ? {} : { input }) },
    );
  }

  it('is a stripped ELF that carries its assets', async () => {
    const s = await stat(podwireSeaBin());
    expect(s.mode & 0o111).not.toBe(0);
    const file = await run('file', ['-b', podwireSeaBin()]);
    expect(file.stdout).toMatch(/ELF 64-bit/);
    expect(file.stdout).not.toMatch(/not stripped/);
  });

  it('finds no node on the test PATH and in the namespace', async () => {
    const r = await withoutNode('command -v node || echo absent; node -e 0 2>/dev/null && echo node-ran || echo node-failed');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['absent', 'node-failed']);
  });

  it('answers CNI VERSION like bin/podwire, without node', async () => {
    const stdin = '{"cniVersion":"0.4.0"}';
    const sea = await withoutNode(`CNI_COMMAND=VERSION ${podwireSeaBin()}`, {}, stdin);
    const js = await run('env', ['CNI_COMMAND=VERSION', podwireBin()], { input: stdin });
    expect(sea.exitCode, sea.stderr).toBe(0);
    expect(JSON.parse(sea.stdout)).toEqual(JSON.parse(js.stdout));
    expect(JSON.parse(sea.stdout).cniVersion).toBe('0.4.0');
  });

  it('fails an ADD with bad input the same way as bin/podwire (same dispatch, same CNI error)', async () => {
    const stdin = '{"cniVersion":"1.1.0","name":"x","type":"podwire"}';
    const env = ['CNI_COMMAND=ADD', 'CNI_CONTAINERID=abc', 'CNI_IFNAME=eth0', 'CNI_PATH=/nonexistent'];
    const sea = await withoutNode(`${env.join(' ')} ${podwireSeaBin()}`, {}, stdin);
    const js = await run('env', [...env, podwireBin()], { input: stdin, reject: false });
    expect(sea.exitCode).not.toBe(0);
    expect(sea.exitCode).toBe(js.exitCode);
    expect(JSON.parse(sea.stdout)).toEqual(JSON.parse(js.stdout));
  });

  it('runs the CLI without node', async () => {
    const r = await withoutNode(`${podwireSeaBin()} --help`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('Usage: podwire');
    expect(r.stdout).toContain('agent');
  });

  it('loads its prebuilt datapath, compiles one from its embedded sources, and unloads, without node', async () => {
    const r = await withoutNode(`${podwireSeaBin()} datapath load --pin-dir ${pinDir} -o json && ls ${pinDir}/maps ${pinDir}/progs`);
    expect(r.exitCode, r.stderr).toBe(0);
    const loaded = JSON.parse(r.stdout.split('\n')[0]!) as { programs: string[]; object: unknown };
    expect(loaded.programs).toContain('from_pod');
    expect(loaded.object).toEqual({ source: 'prebuilt' });
    expect(r.stdout).toContain('endpoints');
    // the compile path from the embedded sources (clang, headers) works too
    const c = await withoutNode(`${podwireSeaBin()} datapath load --compile --pin-dir ${pinDir} -o json`);
    expect(c.exitCode, c.stderr).toBe(0);
    expect((JSON.parse(c.stdout) as { object: unknown }).object).toEqual({ source: 'compiled', reason: 'compile requested' });
    // extracted once into the private cache: sources, objects, twin, addon; owner-only directory
    const cache = join(dir, 'cache');
    expect((await stat(cache)).mode & 0o077).toBe(0);
    const trees = (await readdir(cache)).filter((f) => f.startsWith('podwire-'));
    expect(trees).toHaveLength(1);
    const tree = join(cache, trees[0]!);
    for (const f of ['bpf/from_pod.c', 'bpf/lib/common.h', 'build/bpf/datapath.o', 'build/bpf/datapath.json', 'build/bin/pw-tcx', 'build/bin/podwire-cni', 'native/bpf.node', 'package.json', '.complete']) {
      expect(existsSync(join(tree, f)), f).toBe(true);
    }
    // the tcx helper is extracted executable and runs on the host without node
    const tcx = join(tree, 'build/bin/pw-tcx');
    expect((await stat(tcx)).mode & 0o777).toBe(0o755);
    const q = await withoutNode(`${tcx} query --dev lo --dir ingress`);
    expect(q.exitCode, q.stderr).toBe(0);
    expect(JSON.parse(q.stdout)).toMatchObject({ ifindex: 1, dir: 'ingress' });
    const u = await withoutNode(`${podwireSeaBin()} datapath unload --pin-dir ${pinDir}`);
    expect(u.exitCode, u.stderr).toBe(0);
    expect(existsSync(pinDir)).toBe(false);
  }, 180_000);
});
