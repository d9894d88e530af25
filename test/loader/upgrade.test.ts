// Upgrading a node from the previous release's datapath (commit 35f0dd2, before conntrack) to this
// one, with pods attached by that release and a ping running: the new loader reuses the four old
// maps (their layouts did not change), creates `ct`, re-points every link at the new programs and
// gives the existing host veths the new egress program (to_pod), and not one packet is lost. The
// node's IP forwarding is off, so a packet that met no program would be lost, not routed.
// The old sources come from this repository's own history (`git archive`): a clone without that
// commit fails here loudly.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { attachProgram, linkPin, loadDatapath, pinnedProgramId, pinPaths, tcxQuery, unloadDatapath } from '../../src/loader/index.js';
import { openConntrack, openEndpoints, type Endpoint } from '../../src/maps/index.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';
import { wireVethPod } from '../bpf/veth-pod.js';

/** The last release before the conntrack datapath (stop 7). */
const PREVIOUS_RELEASE = '35f0dd253d4ff04c779c51b86b74a62f117f5872';
const pinDir = `/sys/fs/bpf/${uniqueName('pwupg-')}`;
const created: Netns[] = [];
let node: Netns;
let old = '';
const pods: Array<{ ns: Netns; ip: string; host: string }> = [];

beforeAll(async () => {
  const have = await run('git', ['-C', packageRoot(), 'cat-file', '-e', `${PREVIOUS_RELEASE}^{commit}`], { reject: false });
  if (have.exitCode !== 0) throw new Error(`commit ${PREVIOUS_RELEASE} (the previous release) is not in this clone: the upgrade test needs the repository's history`);
  old = await mkdtemp(join(tmpdir(), 'pwupg-'));
  await run('sh', ['-c', 'git -C "$1" archive "$2" bpf | tar -x -C "$3"', 'podwire-upgrade', packageRoot(), PREVIOUS_RELEASE, old]);

  node = await createNetns('pwupgn');
  created.push(node);
  await node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
  // the previous release's datapath, as its agent loaded it
  const first = await loadDatapath({ pinDir, netns: node.path, bpfDir: join(old, 'bpf') });
  expect(first.programs).toEqual(['from_pod', 'from_uplink', 'from_vxlan']);
  const eps: Endpoint[] = [];
  for (const [i, ip] of ['10.244.8.2', '10.244.8.3'].entries()) {
    const ns = await createNetns('pwupgp');
    created.push(ns);
    const host = uniqueName(`pwu${i}`).slice(0, 15);
    const w = await wireVethPod(node, ns, host, ip);
    eps.push({ ip, ifindex: w.ifindex, podMac: w.podMac, hostMac: w.hostMac, flags: 0, endpointId: i + 1 });
    // what the previous release's CNI ADD attached: from_pod on ingress only
    await attachProgram('from_pod', host, pinDir, { netns: node.path });
    pods.push({ ns, ip, host });
  }
  const m = openEndpoints(pinDir);
  m.setBatch(eps);
  m.close();
}, 120_000);

afterAll(async () => {
  await unloadDatapath({ pinDir, netns: node?.path });
  for (const ns of created) await ns.remove();
  if (old) await rm(old, { recursive: true, force: true });
});

describe('upgrade from the previous release under traffic', () => {
  it('keeps the maps, adds ct and to_pod, re-points every link, and loses no packet', async () => {
    const [a, b] = pods;
    const warm = await a!.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-n', b!.ip], { reject: false, timeoutMs: 10_000 });
    expect(warm.stdout).toMatch(/ 2 received/);
    const oldId = await pinnedProgramId(pinDir);
    for (const p of pods) expect((await tcxQuery(p.host, 'egress', { netns: node.path })).progs).toEqual([]);

    const COUNT = 3000;
    const ping = spawn('nsenter', [`--net=${a!.ns.path}`, '--', 'ping', '-n', '-q', '-i', '0.002', '-c', String(COUNT), '-w', '60', '-W', '1', b!.ip], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    ping.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => ping.on('close', resolve));
    let r;
    try {
      await new Promise((res) => setTimeout(res, 300)); // traffic is flowing before the upgrade starts
      r = await loadDatapath({ pinDir, netns: node.path });
      expect(ping.exitCode, 'the upgrade finished while the ping was still running').toBeNull();
    } finally {
      await exited;
    }
    expect(out).toMatch(new RegExp(`${COUNT} packets transmitted, ${COUNT} received`));

    expect(r.programs).toEqual(['from_pod', 'from_uplink', 'from_vxlan', 'to_pod', 'to_uplink', 'xdp_prefilter']);
    expect(r.reusedMaps).toEqual(['counters', 'endpoints', 'node_cfg', 'routes']);
    expect(r.staleLinks).toEqual([]);
    const newId = await pinnedProgramId(pinDir);
    expect(newId).not.toBe(oldId);
    const toPod = await pinnedProgramId(pinDir, 'to_pod');
    for (const p of pods) {
      expect((await tcxQuery(p.host, 'ingress', { netns: node.path })).progs.map((x) => x.prog_id)).toEqual([newId]);
      expect((await tcxQuery(p.host, 'egress', { netns: node.path })).progs.map((x) => x.prog_id)).toEqual([toPod]);
      expect(existsSync(linkPin(pinDir, p.host, 'egress'))).toBe(true);
    }
    // the endpoints written under the previous release are still there, and ct is new and usable
    const eps = openEndpoints(pinDir);
    try {
      expect(eps.list().map((e) => e.ip)).toEqual(pods.map((p) => p.ip));
    } finally {
      eps.close();
    }
    const ct = openConntrack(pinDir);
    try {
      expect(ct.count()).toBe(0);
    } finally {
      ct.close();
    }
    expect(existsSync(pinPaths(pinDir).maps.endpoints)).toBe(true);
    console.log(`upgrade 35f0dd2 → this datapath under a ${COUNT}-packet ping at 2 ms: 0 lost`);
  }, 120_000);
});
