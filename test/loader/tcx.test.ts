// tcx attachment on the real kernel: links pinned per device under PINDIR/links, the kernel's
// own view (BPF_PROG_QUERY) equal to the pinned program, migration from the pre-tcx clsact
// filter, atomic program replacement under traffic, idempotent detach, and pins of devices
// deleted behind our back cleaned by the next load. Two pods on a node netns whose IP
// forwarding is OFF: a ping between them succeeds only while from_pod redirects it, so a single
// packet that met no program would be lost.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPodwireError } from '../../src/errors/index.js';
import {
  attachedProgramId,
  attachFromPod,
  compileSources,
  datapathSourceDir,
  detachProgram,
  linkObjects,
  linkPin,
  loadAndPin,
  loadDatapath,
  pinnedProgramId,
  pinPaths,
  tcxDetach,
  tcxInfo,
  tcxQuery,
  unloadDatapath,
  updateLinks,
} from '../../src/loader/index.js';
import { openEndpoints, type Endpoint } from '../../src/maps/index.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';
import { link, wireVethPod } from '../bpf/veth-pod.js';

const pinDir = `/sys/fs/bpf/${uniqueName('pwtcx-')}`;
const created: Netns[] = [];
let node: Netns;
let work = '';
const pods: Array<{ ns: Netns; ip: string; host: string }> = [];

async function ingressFilters(dev: string): Promise<string> {
  return (await node.exec('tc', ['filter', 'show', 'dev', dev, 'ingress'], { reject: false })).stdout.trim();
}

beforeAll(async () => {
  node = await createNetns('pwtcxn');
  created.push(node);
  await node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
  await loadDatapath({ pinDir });
  work = await mkdtemp(join(tmpdir(), 'pwtcx-'));
  const eps: Endpoint[] = [];
  for (const [i, ip] of ['10.244.9.2', '10.244.9.3'].entries()) {
    const ns = await createNetns('pwtcxp');
    created.push(ns);
    const host = uniqueName(`pwt${i}`).slice(0, 15);
    const w = await wireVethPod(node, ns, host, ip);
    eps.push({ ip, ifindex: w.ifindex, podMac: w.podMac, hostMac: w.hostMac, flags: 0, endpointId: i + 1 });
    pods.push({ ns, ip, host });
  }
  const m = openEndpoints(pinDir);
  m.setBatch(eps);
  m.close();
});

afterAll(async () => {
  await unloadDatapath({ pinDir, netns: node?.path });
  for (const ns of created) await ns.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('tcx links', () => {
  it('pins one link per device, and the kernel reports the pinned program on the hook', async () => {
    const host = pods[0]!.host;
    const r = await attachFromPod(host, pinDir, { netns: node.path });
    expect(r).toMatchObject({ action: 'created', dir: 'ingress', prog_name: 'from_pod', legacy_tc_filter_removed: false });
    const pin = linkPin(pinDir, host);
    expect(pin).toBe(join(pinPaths(pinDir).linksDir, host));
    const pinned = await pinnedProgramId(pinDir);
    const info = await tcxInfo(pin);
    expect(info).toMatchObject({ link_id: r.link_id, prog_id: pinned, ifindex: (await link(node, host)).ifindex, dir: 'ingress', attach_type: 46, live: true });
    const q = await tcxQuery(host, 'ingress', { netns: node.path });
    expect(q.progs).toEqual([{ prog_id: pinned, link_id: r.link_id, prog_name: 'from_pod' }]);
    expect(await attachedProgramId(host, { netns: node.path })).toBe(pinned);
    // no qdisc of ours: tcx needs none, so the host veth's qdiscs stay free for chained plugins
    expect((await node.exec('tc', ['qdisc', 'show', 'dev', host])).stdout).not.toMatch(/clsact|ingress/);
    // attaching again re-points the same link (idempotent)
    const again = await attachFromPod(host, pinDir, { netns: node.path });
    expect(again).toMatchObject({ action: 'updated', link_id: r.link_id, prog_id: pinned });
    expect((await tcxQuery(host, 'ingress', { netns: node.path })).progs).toHaveLength(1);
  });

  it('replaces the pre-tcx clsact filter (pref 1 handle 1) when it attaches', async () => {
    const host = pods[1]!.host;
    await node.exec('tc', ['qdisc', 'add', 'dev', host, 'clsact']);
    await node.exec('tc', ['filter', 'add', 'dev', host, 'ingress', 'pref', '1', 'handle', '1', 'bpf', 'da', 'pinned', pinPaths(pinDir).progs.fromPod]);
    expect(await ingressFilters(host)).toContain('from_pod');
    const r = await attachFromPod(host, pinDir, { netns: node.path });
    expect(r).toMatchObject({ action: 'created', legacy_tc_filter_removed: true });
    expect(await ingressFilters(host)).toBe('');
    expect(await attachedProgramId(host, { netns: node.path })).toBe(await pinnedProgramId(pinDir));
  });

  it('forwards pod to pod through the links, and a reload swaps the program with no lost packet', async () => {
    const [a, b] = pods;
    const warm = await a!.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-n', b!.ip], { reject: false, timeoutMs: 10_000 });
    expect(warm.stdout).toMatch(/ 2 received/);

    // compile once; each reload below is a load + pin (new program ids, same maps) + link update
    const objects = await compileSources(datapathSourceDir(), work, {});
    const linked = await linkObjects(join(work, 'datapath.o'), objects);
    const COUNT = 4000;
    const ping = spawn('nsenter', [`--net=${a!.ns.path}`, '--', 'ping', '-n', '-q', '-i', '0.001', '-c', String(COUNT), '-w', '60', '-W', '1', b!.ip], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    ping.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => ping.on('close', resolve));
    const ids: number[] = [await pinnedProgramId(pinDir)];
    let reloadsDuringPing = 0;
    try {
      for (let i = 0; i < 20 && ping.exitCode === null; i++) {
        await loadAndPin(linked, pinPaths(pinDir));
        const u = await updateLinks(pinDir);
        expect(u.removed).toEqual([]);
        expect(u.updated.sort()).toEqual(pods.map((p) => p.host).sort());
        ids.push(await pinnedProgramId(pinDir));
        if (ping.exitCode === null) reloadsDuringPing++;
      }
    } finally {
      if (ping.exitCode === null && ping.signalCode === null) await exited;
    }
    const code = await exited;
    expect(out).toMatch(new RegExp(`${COUNT} packets transmitted, ${COUNT} received`));
    expect(code).toBe(0);
    expect(reloadsDuringPing).toBeGreaterThanOrEqual(1);
    expect(new Set(ids).size).toBe(ids.length); // every reload made a new program
    const newest = ids[ids.length - 1];
    for (const p of pods) expect(await attachedProgramId(p.host, { netns: node.path })).toBe(newest);
    console.log(`tcx reload under traffic: ${reloadsDuringPing} program swap(s) during ${COUNT} pings at 1 ms, 0 lost`);
  }, 120_000);

  it('detach removes link and pin, and is idempotent', async () => {
    const host = pods[1]!.host;
    const pin = linkPin(pinDir, host);
    await detachProgram([host], pinDir, { netns: node.path });
    expect(existsSync(pin)).toBe(false);
    expect(await attachedProgramId(host, { netns: node.path })).toBeUndefined();
    await detachProgram([host], pinDir, { netns: node.path });
    await tcxDetach(pin);
    expect(await attachedProgramId(host, { netns: node.path })).toBeUndefined();
  });

  it('a device deleted behind our back leaves a stale pin that the next load removes, and unload copes with one', async () => {
    const gone = uniqueName('pwg').slice(0, 15);
    await node.exec('ip', ['link', 'add', gone, 'type', 'veth', 'peer', 'name', `${gone}p`.slice(0, 15)]);
    await attachFromPod(gone, pinDir, { netns: node.path });
    await node.exec('ip', ['link', 'del', gone]);
    const pin = linkPin(pinDir, gone);
    expect(existsSync(pin)).toBe(true);
    expect(await tcxInfo(pin)).toMatchObject({ live: false, ifindex: 0 });

    const r = await loadDatapath({ pinDir, netns: node.path });
    expect(r.staleLinks).toEqual([gone]);
    expect(existsSync(pin)).toBe(false);
    // pod 0 kept its link (updated), pod 1 (detached above, still in the endpoints map) was re-attached
    expect(r.reattached).toBe(2);
    for (const p of pods) expect(await attachedProgramId(p.host, { netns: node.path })).toBe(await pinnedProgramId(pinDir));

    // a second stale pin, this time left for unload (in a pin dir of its own)
    const other = `${pinDir}-unload`;
    try {
      await loadDatapath({ pinDir: other });
      await node.exec('ip', ['link', 'add', gone, 'type', 'veth', 'peer', 'name', `${gone}p`.slice(0, 15)]);
      await attachFromPod(gone, other, { netns: node.path });
      await node.exec('ip', ['link', 'del', gone]);
      expect(existsSync(linkPin(other, gone))).toBe(true);
      await unloadDatapath({ pinDir: other, netns: node.path });
      expect(existsSync(other)).toBe(false);
    } finally {
      await unloadDatapath({ pinDir: other, netns: node.path });
    }
  }, 120_000);

  it('fails loudly with the errno text when the device does not exist', async () => {
    try {
      await attachFromPod('pwnosuchdev', pinDir, { netns: node.path });
      throw new Error('expected a failure');
    } catch (e) {
      expect(isPodwireError(e, 'IO_FAILED')).toBe(true);
      expect((e as Error).message).toMatch(/device pwnosuchdev in this network namespace: No such device/);
    }
    expect(existsSync(linkPin(pinDir, 'pwnosuchdev'))).toBe(false);
  });
});
