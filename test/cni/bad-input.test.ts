// Bad input through the real binary: each case gets the spec's error code, a CNI error JSON
// on stdout, a non-zero exit, and leaves no residue (no IP record, host veth, route or
// endpoint entry).
import { mkdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/exec/run.js';
import { pinPaths } from '../../src/loader/pins.js';
import { containerId, createHarness, type Harness } from './harness.js';
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

async function expectNoResidue(records: string[] = []): Promise<void> {
  expect(h.records()).toEqual(records);
  const veths = await h.hostVeths();
  expect(veths.length).toBe(records.length);
  const routes = await h.nodeRoutes();
  expect(routes.map((r) => r.dst).sort()).toEqual(records.slice().sort());
  expect(h.endpoints().map((e) => e.ip).sort()).toEqual(records.slice().sort());
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

  it('a failure after the veth and endpoint exist rolls all of it back', async () => {
    // A second pin dir shares the real endpoints/counters maps but pins a map where the
    // from_pod program should be: ADD gets as far as the veth and the endpoint entry, then the
    // tc attach fails.
    const maps = pinPaths(h.pinDir).maps;
    const broken = pinPaths(`${h.pinDir}-broken`);
    await mkdir(broken.mapsDir, { recursive: true });
    await mkdir(broken.progsDir, { recursive: true });
    try {
      await run('bpftool', ['map', 'pin', 'pinned', maps.endpoints, broken.maps.endpoints]);
      await run('bpftool', ['map', 'pin', 'pinned', maps.counters, broken.maps.counters]);
      await run('bpftool', ['map', 'pin', 'pinned', maps.counters, broken.progs.fromPod]);
      const pod = await h.pod();
      const r = await h.cni('ADD', { containerId: containerId(), netns: pod.path, extra: { pinDir: broken.root } });
      expectError(r, 5, /attaching .*from_pod to pw[0-9a-f]{11} failed/);
      await expectNoResidue();
      expect((await pod.exec('ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);
    } finally {
      await rm(broken.root, { recursive: true, force: true });
    }
  });

  it('commands the requested version does not have → 1', async () => {
    const pod = await h.pod();
    expectError(await h.cni('CHECK', { containerId: containerId(), netns: pod.path, cniVersion: '0.3.1' }), 1, /CHECK/);
    expectError(await h.cni('STATUS', { cniVersion: '1.0.0' }), 1, /STATUS/);
    expectError(await h.cni('GC', { cniVersion: '1.0.0', extra: { 'cni.dev/valid-attachments': [] } }), 1, /GC/);
  });
});
