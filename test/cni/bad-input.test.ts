// Bad input through the real binary: each case gets the spec's error code, a CNI error JSON
// on stdout, a non-zero exit, and leaves no residue of any kind ADD creates: IPAM records,
// host veths, node routes, endpoint entries and tcx link pins. Failures after the attach are
// real (a map of the wrong layout) or injected after each step (PODWIRE_CNI_FAULT, src/cni/fault.ts).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/exec/run.js';
import { pinPaths } from '../../src/loader/pins.js';
import { FAULT_STEPS } from '../../src/cni/fault.js';
import { containerId, createHarness, podView, type Harness } from './harness.js';
import type { CniOutcome } from '../../src/lab/cni-exec.js';

let h: Harness;

beforeAll(async () => {
  h = await createHarness({ podCIDR: '10.201.0.0/30' });
});

afterAll(async () => {
  await h?.destroy();
});

function expectError(r: CniOutcome, code: number, msg?: RegExp): void {
  expect(r.exitCode, r.stdout + r.stderr).not.toBe(0);
  expect(r.json, r.stdout).toBeDefined();
  expect(r.json!['code']).toBe(code);
  expect(typeof r.json!['msg']).toBe('string');
  expect(typeof r.json!['cniVersion']).toBe('string');
  if (msg) expect(r.json!['msg']).toMatch(msg);
}

/** Exactly `records` (IPs) live, each with its veth, route, endpoint and link pin; nothing else.
 * `extraPinDirs`: other pin dirs a case used, which must have no link pins at all. */
async function expectNoResidue(records: string[] = [], extraPinDirs: string[] = []): Promise<void> {
  expect(h.records()).toEqual(records);
  const veths = await h.hostVeths();
  expect(veths.length).toBe(records.length);
  const routes = await h.nodeRoutes();
  expect(routes.map((r) => r.dst).sort()).toEqual(records.slice().sort());
  expect(h.endpoints().map((e) => e.ip).sort()).toEqual(records.slice().sort());
  expect(h.linkPins().sort()).toEqual(veths.slice().sort());
  for (const d of extraPinDirs) expect(h.linkPins(d), d).toEqual([]);
  // the node namespace holds only lo and our host veths (nothing created by a misparsed name)
  const all = JSON.parse((await h.node.exec('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
  expect(all.map((l) => l.ifname).filter((n) => n !== 'lo').sort()).toEqual(veths.slice().sort());
}

/** A second pin dir sharing the real maps (or another map in `endpointsFrom`'s place) and programs. */
async function brokenPinDir(suffix: string, pins: { endpoints: string; fromPod: string }): Promise<string> {
  const broken = pinPaths(`${h.pinDir}-${suffix}`);
  await mkdir(broken.mapsDir, { recursive: true });
  await mkdir(broken.progsDir, { recursive: true });
  const maps = pinPaths(h.pinDir).maps;
  await run('bpftool', ['map', 'pin', 'pinned', pins.endpoints, broken.maps.endpoints]);
  await run('bpftool', ['map', 'pin', 'pinned', maps.counters, broken.maps.counters]);
  await run('bpftool', [pins.fromPod.includes('/maps/') ? 'map' : 'prog', 'pin', 'pinned', pins.fromPod, broken.progs.fromPod]);
  return broken.root;
}

function ipOf(r: CniOutcome): string {
  const ips = r.json!['ips'] as Array<{ address: string }>;
  return ips[0]!.address.replace(/\/32$/, '');
}

describe('bad input gets the right CNI code and leaves nothing behind', () => {
  it('malformed JSON on stdin → 6', async () => {
    const pod = await h.pod();
    const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, config: '{"cniVersion": "1.1.0", "podCIDR": ' });
    expectError(r, 6, /not valid JSON/);
    await expectNoResidue();
  });

  it('unknown cniVersion → 1', async () => {
    const pod = await h.pod();
    const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, cniVersion: '9.9.9' });
    expectError(r, 1, /9\.9\.9.*0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0/);
    await expectNoResidue();
  });

  it('missing environment variables → 4, naming every missing variable', async () => {
    const pod = await h.pod();
    const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, env: { CNI_NETNS: undefined, CNI_IFNAME: undefined } });
    expectError(r, 4, /CNI_NETNS.*CNI_IFNAME|CNI_IFNAME.*CNI_NETNS/);
    const noId = await h.cni('DEL', { netns: pod.path });
    expectError(noId, 4, /CNI_CONTAINERID/);
    const badCmd = await h.cni('ADD', { containerId: containerId(), netns: pod.path, env: { CNI_COMMAND: 'ATTACH' } });
    expectError(badCmd, 4, /CNI_COMMAND/);
    await expectNoResidue();
  });

  it('CNI_NETNS that does not exist → 3', async () => {
    const r = await h.cni('ADD', { containerId: containerId(), netns: '/run/netns/pw-no-such-ns' });
    expectError(r, 3, /pw-no-such-ns/);
    await expectNoResidue();
  });

  it('invalid config → 7 naming the key, unsupported field → 2', async () => {
    const pod = await h.pod();
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ podCIDR: undefined }, 7, /podCIDR is missing/],
      [{ podCIDR: '10.1.2.3/24' }, 7, /host bits/],
      [{ mtu: 70000 }, 7, /mtu 70000/],
      [{ podcidr: '10.0.0.0/24' }, 7, /did you mean "podCIDR"/],
      [{ ipam: { type: 'host-local' } }, 2, /ipam/],
    ];
    for (const [extra, code, msg] of cases) {
      const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, extra });
      expectError(r, code, msg);
    }
    await expectNoResidue();
  });

  it('CNI_IFNAME checked as the kernel does (bytes, not characters) → 4, nothing created', async () => {
    const pod = await h.pod();
    const bad = [
      'é'.repeat(8), // 8 characters, 16 bytes
      'abcdefghijklmnop', // 16 bytes
      '.',
      '..',
      'a/b',
      'a:b',
      'a b',
      'a\tb',
      'xà', // "à" is c3 a0, and the kernel's isspace() is true for the byte 0xa0
    ];
    for (const ifname of bad) {
      const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, ifname });
      expectError(r, 4, /CNI_IFNAME/);
    }
    await expectNoResidue();
    const links = JSON.parse((await pod.exec('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
    expect(links.map((l) => l.ifname)).toEqual(['lo']);
  });

  it('an interface name the kernel allows but a line parser would cut ("e#x") is made inside the pod under that name', async () => {
    const pod = await h.pod();
    const id = containerId();
    const r = await h.cni('ADD', { containerId: id, netns: pod.path, ifname: 'e#x' });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const view = await podView(pod, 'e#x');
    expect(view.addrs).toEqual([`${ipOf(r)}/32`]);
    expect(view.defaultVia).toBe('169.254.1.1');
    await expectNoResidue([ipOf(r)]); // also: no stray "e" in the node namespace
    expect((await h.cni('CHECK', { containerId: id, netns: pod.path, ifname: 'e#x', extra: { prevResult: r.json } })).exitCode).toBe(0);
    expect((await h.cni('DEL', { containerId: id, netns: pod.path, ifname: 'e#x' })).exitCode).toBe(0);
    await expectNoResidue();
  });

  it('CNI_NETNS that exists but is no network namespace → 4 naming CNI_NETNS; relative → 4', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pwns-'));
    try {
      const file = join(dir, 'file');
      const fifo = join(dir, 'fifo');
      await writeFile(file, '');
      await run('mkfifo', [fifo]);
      for (const [netns, kind] of [[file, /regular file/], [dir, /directory/], [fifo, /FIFO/], ['run/netns/x', /absolute/]] as const) {
        const r = await h.cni('ADD', { containerId: containerId(), netns });
        expectError(r, 4, /CNI_NETNS/);
        expect(r.json!['msg']).toMatch(kind);
      }
      await expectNoResidue();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('paths in the config: absolute, normalised, not in /proc or /sys (pinDir: inside a bpffs) → 7 naming the key', async () => {
    const pod = await h.pod();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      // this one used to hang ADD for ever: Node's recursive mkdir loops on /proc's ENOENT
      [{ stateDir: '/proc/podwire' }, /stateDir "\/proc\/podwire" is inside \/proc/],
      [{ stateDir: '/sys/podwire' }, /stateDir "\/sys\/podwire" is inside \/sys/],
      [{ stateDir: '/sys/fs/bpf/state' }, /stateDir .* is inside \/sys/],
      [{ stateDir: 'var/lib/podwire' }, /stateDir "var\/lib\/podwire" must be an absolute path/],
      [{ stateDir: '/var/lib/../../proc/x' }, /stateDir .* not a normalised path/],
      [{ pinDir: '/proc/self/bpf' }, /pinDir .* is inside \/proc/],
      [{ pinDir: '/sys/kernel/x' }, /pinDir .* is inside \/sys.*\(only \/sys\/fs\/bpf/],
      [{ pinDir: '/sys/fs/bpf' }, /pinDir "\/sys\/fs\/bpf" is the bpffs mount point itself/],
      [{ pinDir: tmpdir() }, /pinDir .* is not on a bpffs/],
      [{ pinDir: 7 }, /pinDir 7 must be an absolute path/],
    ];
    for (const [extra, msg] of cases) {
      const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, extra });
      expectError(r, 7, msg);
    }
    await expectNoResidue();
  });

  it('podCIDR in a reserved range → 7 naming the range', async () => {
    const pod = await h.pod();
    const cases: Array<[string, RegExp]> = [
      ['0.0.0.0/24', /"this network" 0\.0\.0\.0\/8/],
      ['127.0.0.0/24', /loopback 127\.0\.0\.0\/8/],
      ['169.254.1.0/24', /link-local 169\.254\.0\.0\/16/],
      ['169.0.0.0/8', /link-local 169\.254\.0\.0\/16/],
      ['224.0.0.0/24', /multicast 224\.0\.0\.0\/4/],
      ['239.255.255.0/24', /multicast/],
      ['240.0.0.0/24', /reserved 240\.0\.0\.0\/4/],
      ['255.255.255.0/30', /broadcast/],
    ];
    for (const [podCIDR, msg] of cases) {
      const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, extra: { podCIDR } });
      expectError(r, 7, msg);
      expect(r.json!['msg']).toContain(`podCIDR "${podCIDR}"`);
    }
    await expectNoResidue();
  });

  it('ADD for an interface that already exists in the pod → 4, nothing allocated', async () => {
    const pod = await h.pod();
    // veth rather than dummy: this kernel has no dummy driver and loads no modules
    await pod.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, ifname: 'eth0' });
    expectError(r, 4, /CNI_IFNAME eth0 already exists/);
    await expectNoResidue();
  });

  it('exhausted podCIDR (/30, two pods) → 11; the two pods keep their addresses', async () => {
    const ids = [containerId(), containerId()];
    for (const id of ids) {
      const r = await h.cni('ADD', { containerId: id, netns: (await h.pod()).path });
      expect(r.exitCode, r.stdout).toBe(0);
    }
    const third = await h.cni('ADD', { containerId: containerId(), netns: (await h.pod()).path });
    expectError(third, 11, /10\.201\.0\.0\/30 has no free address/);
    await expectNoResidue(['10.201.0.1', '10.201.0.2']);
    // STATUS tells the runtime the same before it tries
    const status = await h.cni('STATUS');
    expectError(status, 50, /exhausted/);
    for (const id of ids) expect((await h.cni('DEL', { containerId: id, ifname: 'eth0' })).exitCode).toBe(0);
    await expectNoResidue();
  });

  it('a repeated ADD for a live attachment → 4 and does not disturb it', async () => {
    const pod = await h.pod();
    const id = containerId();
    const first = await h.cni('ADD', { containerId: id, netns: pod.path });
    expect(first.exitCode, first.stdout).toBe(0);
    const again = await h.cni('ADD', { containerId: id, netns: pod.path });
    expectError(again, 4, /already exists/);
    await expectNoResidue([ipOf(first)]);
    expect((await h.cni('CHECK', { containerId: id, netns: pod.path, extra: { prevResult: first.json } })).exitCode).toBe(0);
    expect((await h.cni('DEL', { containerId: id, netns: pod.path })).exitCode).toBe(0);
    await expectNoResidue();
  });

  it('a failure before the attach (from_pod pin is a map) rolls back the veth and endpoint', async () => {
    const maps = pinPaths(h.pinDir).maps;
    const root = await brokenPinDir('broken', { endpoints: maps.endpoints, fromPod: maps.counters });
    try {
      const pod = await h.pod();
      const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, extra: { pinDir: root } });
      expectError(r, 5, /attaching .*from_pod to pw[0-9a-f]{11} failed/);
      await expectNoResidue([], [root]);
      expect((await pod.exec('ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a real failure after the attach (endpoints map of another layout) removes the tcx link pin too', async () => {
    // from_pod is the real program, so the attach succeeds and pins its link under
    // <root>/links; the endpoint write then fails because "endpoints" is the counters map.
    const p = pinPaths(h.pinDir);
    const root = await brokenPinDir('wrongmap', { endpoints: p.maps.counters, fromPod: p.progs.fromPod });
    try {
      const pod = await h.pod();
      const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, extra: { pinDir: root } });
      expectError(r, 5, /writing endpoint .* failed/);
      await expectNoResidue([], [root]);
      expect((await pod.exec('ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it.each(FAULT_STEPS.map((s) => [s]))('a failure injected after step "%s" leaves nothing behind', async (step) => {
    const pod = await h.pod();
    const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, env: { PODWIRE_CNI_FAULT: step } });
    expectError(r, 5, new RegExp(`injected fault after ADD step "${step}"`));
    await expectNoResidue();
    expect((await pod.exec('ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
  });

  it('the rollback removes state that demonstrably existed: endpoint, link pin, veth, route, record seen before the failure', async () => {
    const pod = await h.pod();
    const dir = await mkdtemp(join(tmpdir(), 'pwfault-'));
    const marker = join(dir, 'paused');
    try {
      const add = h.cni('ADD', { containerId: containerId(), netns: pod.path, env: { PODWIRE_CNI_FAULT: 'wired', PODWIRE_CNI_FAULT_PAUSE: marker } });
      // bounded: the plugin creates the marker once everything before the fault is done
      for (let i = 0; i < 600 && !existsSync(marker); i++) await new Promise((res) => setTimeout(res, 50));
      expect(existsSync(marker), 'ADD never reached the fault point').toBe(true);
      const [ip] = h.records();
      expect(ip).toBeDefined();
      const veths = await h.hostVeths();
      expect(veths).toHaveLength(1);
      expect(h.endpoints().map((e) => e.ip)).toEqual([ip]);
      expect(h.linkPins()).toEqual(veths);
      expect((await h.nodeRoutes()).map((r) => r.dst)).toEqual([ip]);
      expect((await podView(pod)).addrs).toEqual([`${ip}/32`]);
      await rm(marker);
      expectError(await add, 5, /injected fault after ADD step "wired"/);
      await expectNoResidue();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('commands the requested version does not have → 1', async () => {
    const pod = await h.pod();
    expectError(await h.cni('CHECK', { containerId: containerId(), netns: pod.path, cniVersion: '0.3.1' }), 1, /CHECK/);
    expectError(await h.cni('STATUS', { cniVersion: '1.0.0' }), 1, /STATUS/);
    expectError(await h.cni('GC', { cniVersion: '1.0.0', extra: { 'cni.dev/valid-attachments': [] } }), 1, /GC/);
  });
});
