// `podwire trace` (bin/podwire) on a node this test built: every verdict it prints is checked
// against the kernel running the same frame through the pinned program (BPF_PROG_TEST_RUN in
// the node's namespace, so the FIB is the node's), live and from a `maps dump` snapshot.
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinPaths } from '../../src/loader/index.js';
import { enums } from '../../src/maps/generated/layouts.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/maps/snapshot.js';
import { buildFrame, type TraceReport } from '../../src/twin/index.js';
import { testRun } from '../bpf/packets.js';
import { createCliNode, REMOTE_NODE, type CliNode } from './fixture.js';

const R = enums.pw_reason.values;
const A = enums.pw_action.values;
let node: CliNode | undefined;
const n = () => node!;
let snapFile = '';

async function trace(args: string[]): Promise<TraceReport> {
  const r = await n().cli(['trace', ...args, '-o', 'json']);
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  return JSON.parse(r.stdout) as TraceReport;
}

/** The frame trace built, through the real program; its verdict must be the trace's. */
async function expectKernelAgrees(t: TraceReport): Promise<void> {
  const p = t.packet;
  const frame = buildFrame({ src: p.src, dst: p.dst, srcMac: p.srcMac, dstMac: p.dstMac, proto: p.proto, ttl: p.ttl, ...(p.sport === undefined ? {} : { sport: p.sport, dport: p.dport! }) });
  expect(frame.length).toBe(p.bytes);
  const progs = pinPaths(n().pinDir).progs;
  const pin = t.program === 'from_uplink' ? progs.fromUplink : t.program === 'from_vxlan' ? progs.fromVxlan : progs.fromPod;
  const k = await testRun(pin, frame, { ifindex: t.ingress.ifindex, netns: n().ns.path });
  expect([k.cb[0], k.cb[1], k.cb[2]]).toEqual([R[t.verdict.reason as keyof typeof R], A[t.verdict.action as keyof typeof A], t.verdict.ifindex]);
  if (t.verdict.nhAddr !== undefined) expect([k.cb[3]! & 0xff, (k.cb[3]! >>> 8) & 0xff, (k.cb[3]! >>> 16) & 0xff, k.cb[3]! >>> 24].join('.')).toBe(t.verdict.nhAddr);
}

beforeAll(async () => {
  node = await createCliNode();
  snapFile = `${n().stateDir}/snap.mpk`;
  const r = await n().cli(['maps', 'dump', '--node', n().nodeName, '--lab-state', n().labState, '--out', snapFile]);
  expect(r.exitCode).toBe(0);
});

afterAll(async () => {
  await node?.remove();
});

describe('podwire trace', () => {
  it('pod to pod on the node: every step, the verdict in words with the pod name, and the kernel agrees', async () => {
    const node = ['--node', n().nodeName, '--lab-state', n().labState];
    const text = await n().cli(['trace', ...node, '--src', n().podA.ip, '--dst', n().podB.ip]);
    expect(text.exitCode).toBe(0);
    const hB = n().podB.ifindex;
    expect(text.stdout).toContain(`lookup endpoints[${n().podA.ip}] → hit (pod default/web-a): host veth ifindex ${n().podA.ifindex} (hA)`);
    expect(text.stdout).toContain('anti-spoofing: arrived on');
    expect(text.stdout).toContain(`verdict: hit endpoint ${n().podB.ip} → redirect_peer to ifindex ${hB} (hB) (pod shop/cart-0); rewrite MACs ee:00:00:00:00:0b → 02:00:0a:f4:00:0b, TTL 64 → 63`);
    const t = await trace([...node, '--src', n().podA.ip, '--dst', n().podB.ip, '--proto', 'udp', '--dport', '53']);
    expect([t.program, t.ingress, t.verdict.action, t.verdict.reason, t.verdict.ifindex]).toEqual(['from_pod', { ifindex: n().podA.ifindex, name: 'hA' }, 'REDIRECT_PEER', 'FWD_LOCAL_PEER', hB]);
    // source endpoint + anti-spoofing, destination endpoint, then the conntrack check before the forward
    expect(t.steps.map((s) => s.kind)).toEqual(['packet', 'parse', 'lookup', 'check', 'lookup', 'lookup', 'verdict']);
    await expectKernelAgrees(t);
  });

  it('spoofing and TTL: drop reasons in words, the kernel agrees', async () => {
    const pin = ['--pin-dir', n().pinDir];
    const ip = await trace([...pin, '--src', '10.244.0.99', '--dst', n().podB.ip, '--ingress-if', String(n().podA.ifindex)]);
    expect(ip.verdict.summary).toBe('spoofed source: drop, reason DROP_SPOOFED_SRC_IP');
    await expectKernelAgrees(ip);
    const mac = await trace([...pin, '--src', n().podA.ip, '--dst', n().podB.ip, '--src-mac', '02:66:66:66:66:66']);
    expect(mac.verdict.reason).toBe('DROP_SPOOFED_SRC_MAC');
    expect(mac.steps.find((s) => s.kind === 'check')?.text).toContain('≠ pod MAC 02:00:0a:f4:00:0a ✗');
    await expectKernelAgrees(mac);
    const ttl = await trace([...pin, '--src', n().podA.ip, '--dst', n().podB.ip, '--ttl', '1']);
    expect(ttl.verdict.summary).toBe('TTL exceeded: drop, reason DROP_TTL_EXCEEDED');
    await expectKernelAgrees(ttl);
  });

  it("native routing to another node: the FIB step is the node's own routes, and the kernel agrees", async () => {
    const node = ['--node', n().nodeName, '--lab-state', n().labState];
    const t = await trace([...node, '--src', n().podA.ip, '--dst', '10.244.9.7']);
    expect([t.verdict.action, t.verdict.reason, t.verdict.ifindex, t.verdict.nhAddr]).toEqual(['REDIRECT_NEIGH', 'FWD_REMOTE_NATIVE', n().ifindex['up0'], REMOTE_NODE]);
    expect(t.steps.find((s) => s.kind === 'lookup' && s.text.startsWith('lookup routes'))?.text).toBe(`lookup routes[10.244.9.7/32] (longest prefix) → hit: pod CIDR of node ${REMOTE_NODE}`);
    expect(t.steps.find((s) => s.kind === 'fib')?.text).toContain(`→ SUCCESS, out of ifindex ${n().ifindex['up0']} (up0) via ${REMOTE_NODE}`);
    await expectKernelAgrees(t);
    const unroutable = await trace([...node, '--src', n().podA.ip, '--dst', '10.244.10.3']);
    expect(unroutable.verdict.summary).toBe('no usable route to the remote node: drop, reason DROP_FIB_FAILED');
    await expectKernelAgrees(unroutable);
    const dead = await trace([...node, '--src', n().podA.ip, '--dst', '10.244.0.250']);
    expect(dead.verdict.reason).toBe('DROP_NO_ENDPOINT');
    await expectKernelAgrees(dead);
  });

  it('a packet arriving on the uplink runs from_uplink (picked from the lab state), on the VXLAN device from_vxlan', async () => {
    const t = await trace(['--node', n().nodeName, '--lab-state', n().labState, '--src', '10.244.9.7', '--dst', n().podA.ip, '--ingress-if', 'up0', '--ttl', '63']);
    expect([t.program, t.verdict.reason, t.verdict.ifindex]).toEqual(['from_uplink', 'FWD_LOCAL_PEER', n().podA.ifindex]);
    await expectKernelAgrees(t);
    // the VXLAN device is recognised by its link kind
    const v = await trace(['--node', n().nodeName, '--lab-state', n().labState, '--src', '10.244.9.7', '--dst', '10.244.0.250', '--ingress-if', 'pwvxlan0']);
    expect([v.program, v.verdict.reason]).toEqual(['from_vxlan', 'DROP_NO_ENDPOINT']);
    await expectKernelAgrees(v);
  });

  it('from a snapshot: same verdicts and names offline; a native route stops before the FIB, saying why', async () => {
    const local = await trace(['--snapshot', snapFile, '--src', n().podA.ip, '--dst', n().podB.ip]);
    expect(local.source).toMatch(/^snapshot of \/sys\/fs\/bpf\/pwcli-\w+ \(node node-\w+\) taken /);
    expect(local.verdict.summary).toContain(`redirect_peer to ifindex ${n().podB.ifindex} (hB) (pod shop/cart-0)`);
    await expectKernelAgrees(local);
    const remote = await trace(['--snapshot', snapFile, '--src', n().podA.ip, '--dst', '10.244.9.7']);
    expect([remote.verdict.action, remote.verdict.ifindex, remote.verdict.nhAddr]).toEqual(['REDIRECT_NEIGH', 0, REMOTE_NODE]);
    expect(remote.verdict.summary).toContain('no FIB in this trace: a snapshot holds no kernel routes');
  });

  it('errors: unknown source without --ingress-if, snapshot from another build, not a snapshot', async () => {
    const r1 = await n().cli(['trace', '--pin-dir', n().pinDir, '--src', '10.1.1.1', '--dst', n().podB.ip]);
    expect(r1.exitCode).toBe(1);
    expect(r1.stderr).toContain('10.1.1.1 is not a pod on this node, so the packet\'s way in is unknown: say where it arrives with --ingress-if NAME');
    const r2 = await n().cli(['trace', '--node', n().nodeName, '--lab-state', n().labState, '--src', n().podA.ip, '--dst', n().podB.ip, '--ingress-if', 'eth9']);
    expect(r2.stderr).toMatch(/--ingress-if eth9: no such interface on the node \(lo, .*hA.*\); give a name or an ifindex/);

    const snap = await decodeSnapshot(await readFile(snapFile));
    const other = `${n().stateDir}/other.mpk`;
    await writeFile(other, await encodeSnapshot({ ...snap, layoutsHash: '0123456789abcdef' }));
    const r3 = await n().cli(['trace', '--snapshot', other, '--src', n().podA.ip, '--dst', n().podB.ip]);
    expect(r3.stderr).toContain('was taken by a podwire build with other map layouts (hash 0123456789abcdef');
    const junk = `${n().stateDir}/junk.mpk`;
    await writeFile(junk, JSON.stringify({ hello: 1 }));
    const r4 = await n().cli(['trace', '--snapshot', junk, '--src', n().podA.ip, '--dst', n().podB.ip]);
    expect(r4.stderr).toMatch(/is not (msgpack|a podwire map snapshot): write one with `podwire maps dump --format msgpack > FILE`/);
  });
});
