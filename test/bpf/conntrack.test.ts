// The ct map on crafted frames through BPF_PROG_TEST_RUN: from_pod and to_pod record the
// initiators of flows that go through the node's stack; replies to them leave the fast path
// (PASS_STACK_NAT_REPLY); fragments, options and ICMP errors go to the stack; tot_len 0 is only
// valid on a GSO skb.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadDatapath, pinPaths, unloadDatapath } from '../../src/loader/index.js';
import { openConntrack, openEndpoints, openRoutes, type CtEntry, type Endpoint } from '../../src/maps/index.js';
import { enums } from '../../src/maps/generated/layouts.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { icmpHeader, ipv4Frame, l4Ports, testRun } from './packets.js';

const TC_ACT_UNSPEC = 0xffffffff;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;
const R = enums.pw_reason.values;
const TCP = 6;
const UDP = 17;
const ICMP = 1;
const SERVICE_IP = '10.96.0.10';
const NODE_IP = '172.30.0.11';

const pinDir = `/sys/fs/bpf/pwtest-${randomBytes(4).toString('hex')}`;
const P = pinPaths(pinDir).progs;
let ns: Netns | undefined;
let podA: Endpoint;
let podB: Endpoint;

async function ifindexOf(name: string): Promise<number> {
  const out = await ns!.exec('ip', ['-j', 'link', 'show', name]);
  return (JSON.parse(out.stdout) as Array<{ ifindex: number }>)[0]!.ifindex;
}

function ctEntries(): CtEntry[] {
  const m = openConntrack(pinDir);
  try {
    return m.list();
  } finally {
    m.close();
  }
}

function clearCt(): void {
  const m = openConntrack(pinDir);
  try {
    for (const e of m.list()) m.delete(e);
  } finally {
    m.close();
  }
}

/** A frame from `src` (an endpoint: its own MACs) to daddr. */
function fromPod(src: Endpoint, daddr: string, protocol: number, payload: Buffer, extra: { totLen?: number; fragWord?: number; versionIhl?: number } = {}): Buffer {
  return ipv4Frame({ dmac: src.hostMac, smac: src.podMac, saddr: src.ip, daddr, protocol, payload, ...extra });
}

/** A frame the node's stack sends into `dst` (as it leaves the host veth). */
function intoPod(dst: Endpoint, saddr: string, protocol: number, payload: Buffer): Buffer {
  return ipv4Frame({ dmac: dst.podMac, smac: dst.hostMac, saddr, daddr: dst.ip, protocol, payload });
}

async function runFromPod(frame: Buffer, from: Endpoint, opts: { gsoSize?: number } = {}) {
  return testRun(P.fromPod, frame, { ifindex: from.ifindex, netns: ns!.path, ...opts });
}

beforeAll(async () => {
  ns = await createNetns('pwct');
  await ns.exec('ip', ['link', 'add', 'hA', 'type', 'veth', 'peer', 'name', 'pA']);
  await ns.exec('ip', ['link', 'add', 'hB', 'type', 'veth', 'peer', 'name', 'pB']);
  await loadDatapath({ pinDir });
  podA = { ip: '10.244.0.2', ifindex: await ifindexOf('hA'), podMac: '02:00:0a:f4:00:02', hostMac: 'ee:00:00:00:00:0a', flags: 0, endpointId: 2 };
  podB = { ip: '10.244.0.3', ifindex: await ifindexOf('hB'), podMac: '02:00:0a:f4:00:03', hostMac: 'ee:00:00:00:00:0b', flags: 0, endpointId: 3 };
  const eps = openEndpoints(pinDir);
  eps.setBatch([podA, podB]);
  eps.close();
});

afterAll(async () => {
  await unloadDatapath({ pinDir, netns: ns?.path });
  await ns?.remove();
});

beforeEach(() => clearCt());

describe('conntrack: replies of flows the stack owns', () => {
  it('a pod → Service IP packet records its initiator; the backend\'s reply then goes to the stack, other flows stay fast', async () => {
    const syn = await runFromPod(fromPod(podA, SERVICE_IP, TCP, l4Ports(40000, 80)), podA);
    expect(syn.cb[0]).toBe(R.PASS_STACK_MISS);
    const ct = ctEntries();
    expect(ct).toHaveLength(1);
    expect(ct[0]).toMatchObject({ kind: 'stack', addr: podA.ip, port: 40000, proto: TCP, origin: 'from_pod', ifindex: podA.ifindex, peer: '0.0.0.0', peerPort: 0 });
    expect(ct[0]!.lastSeenNs).toBeGreaterThan(0n);

    // backend B (after the stack's DNAT) answers A:40000 — must not be redirect_peer'ed past the un-DNAT
    const reply = fromPod(podB, podA.ip, TCP, l4Ports(8080, 40000));
    const r = await runFromPod(reply, podB);
    expect(r.cb[0]).toBe(R.PASS_STACK_NAT_REPLY);
    expect(r.retval).toBe(TC_ACT_UNSPEC);
    expect(r.dataOut).toEqual(reply); // untouched: the stack routes and NATs it

    // the same pods on another port pair: fast path
    const other = await runFromPod(fromPod(podB, podA.ip, TCP, l4Ports(8080, 40001)), podB);
    expect(other.cb[0]).toBe(R.FWD_LOCAL_PEER);
    expect(other.retval).toBe(TC_ACT_REDIRECT);
    // another protocol on the same port is another flow
    expect((await runFromPod(fromPod(podB, podA.ip, UDP, l4Ports(8080, 40000)), podB)).cb[0]).toBe(R.FWD_LOCAL_PEER);
  });

  it('to_pod records what the stack delivers into a pod (hostPort/NodePort DNAT): the pod\'s replies go back through the stack', async () => {
    // a client pod A reached B through a hostPort: the stack delivers A:51000 -> B:80 into B
    const r = await testRun(P.toPod, intoPod(podB, podA.ip, TCP, l4Ports(51000, 80)), { ifindex: podB.ifindex, netns: ns!.path });
    expect(r.retval).toBe(TC_ACT_UNSPEC);
    expect(ctEntries()).toMatchObject([{ kind: 'stack', addr: podA.ip, port: 51000, proto: TCP, origin: 'to_pod', ifindex: podB.ifindex }]);
    const reply = await runFromPod(fromPod(podB, podA.ip, TCP, l4Ports(80, 51000)), podB);
    expect(reply.cb[0]).toBe(R.PASS_STACK_NAT_REPLY);
    // other clients of B:80 keep the fast path: the server side never gets an entry
    expect((await runFromPod(fromPod(podA, podB.ip, TCP, l4Ports(52000, 80)), podA)).cb[0]).toBe(R.FWD_LOCAL_PEER);
    expect(ctEntries()).toHaveLength(1);
  });

  it('the first packet names the initiator: replies refresh it and never record the responder', async () => {
    // the node probes B:8080 (kubelet): to_pod records the node's port, not B's
    await testRun(P.toPod, intoPod(podB, NODE_IP, TCP, l4Ports(33000, 8080)), { ifindex: podB.ifindex, netns: ns!.path });
    const r = await runFromPod(fromPod(podB, NODE_IP, TCP, l4Ports(8080, 33000)), podB);
    expect(r.cb[0]).toBe(R.PASS_STACK_MISS);
    expect(ctEntries().map((e) => `${e.addr}:${e.port}`)).toEqual([`${NODE_IP}:33000`]);
    // so A -> B:8080 keeps the fast path while probes run
    expect((await runFromPod(fromPod(podA, podB.ip, TCP, l4Ports(41000, 8080)), podA)).cb[0]).toBe(R.FWD_LOCAL_PEER);

    // A -> Service: the un-DNATed reply the stack delivers into A (from the Service IP) refreshes A's entry, adds none
    await runFromPod(fromPod(podA, SERVICE_IP, UDP, l4Ports(45000, 53)), podA);
    await testRun(P.toPod, intoPod(podA, SERVICE_IP, UDP, l4Ports(53, 45000)), { ifindex: podA.ifindex, netns: ns!.path });
    expect(ctEntries().map((e) => `${e.addr}:${e.port}/${e.proto}`).sort()).toEqual([`${NODE_IP}:33000/${TCP}`, `${podA.ip}:45000/${UDP}`].sort());
    // a second query from a new port is a new initiator
    await runFromPod(fromPod(podA, SERVICE_IP, UDP, l4Ports(45001, 53)), podA);
    expect((await runFromPod(fromPod(podB, podA.ip, UDP, l4Ports(53, 45001)), podB)).cb[0]).toBe(R.PASS_STACK_NAT_REPLY);
  });

  it('from_uplink: a non-pod source (another node, a hostNetwork pod) reaching a pod directly is the initiator; remote pods record nothing', async () => {
    const routes = openRoutes(pinDir);
    try {
      routes.set({ cidr: '10.244.5.0/24', nodeIp: '172.30.0.12', kind: 'remote' });
    } finally {
      routes.close();
    }
    const fromNode = ipv4Frame({ dmac: 'ee:00:00:00:00:99', smac: '02:00:00:00:00:12', saddr: '172.30.0.12', daddr: podB.ip, protocol: TCP, payload: l4Ports(34000, 80) });
    const r = await testRun(P.fromUplink, fromNode, { ifindex: podA.ifindex, netns: ns!.path });
    expect(r.cb[0]).toBe(R.FWD_LOCAL_PEER);
    expect(ctEntries()).toMatchObject([{ addr: '172.30.0.12', port: 34000, proto: TCP, origin: 'from_node' }]);
    // B's replies to that node go to the stack as before (MISS), and B:80 never becomes an initiator
    expect((await runFromPod(fromPod(podB, '172.30.0.12', TCP, l4Ports(80, 34000)), podB)).cb[0]).toBe(R.PASS_STACK_MISS);
    const fromPodElsewhere = ipv4Frame({ dmac: 'ee:00:00:00:00:99', smac: '02:00:00:00:00:12', saddr: '10.244.5.7', daddr: podB.ip, protocol: TCP, payload: l4Ports(35000, 80) });
    expect((await testRun(P.fromUplink, fromPodElsewhere, { ifindex: podA.ifindex, netns: ns!.path })).cb[0]).toBe(R.FWD_LOCAL_PEER);
    expect(ctEntries().map((e) => e.addr)).toEqual(['172.30.0.12']);
  });

  it('ICMP echo flows are keyed by the echo id', async () => {
    await runFromPod(fromPod(podA, SERVICE_IP, ICMP, icmpHeader(8, 0, 0x4242)), podA);
    expect(ctEntries()).toMatchObject([{ addr: podA.ip, port: 0x4242, proto: ICMP, origin: 'from_pod' }]);
    expect((await runFromPod(fromPod(podB, podA.ip, ICMP, icmpHeader(0, 0, 0x4242)), podB)).cb[0]).toBe(R.PASS_STACK_NAT_REPLY);
    expect((await runFromPod(fromPod(podB, podA.ip, ICMP, icmpHeader(0, 0, 0x4243)), podB)).cb[0]).toBe(R.FWD_LOCAL_PEER);
  });
});

describe('what the fast path leaves to the stack', () => {
  it('ICMP errors, fragments and IP options between pods go through the stack, untouched', async () => {
    const cases: Array<[string, Buffer, number]> = [
      ['port unreachable', fromPod(podB, podA.ip, ICMP, icmpHeader(3, 3)), R.PASS_STACK_ICMP_ERROR],
      ['frag needed', fromPod(podB, podA.ip, ICMP, icmpHeader(3, 4)), R.PASS_STACK_ICMP_ERROR],
      ['time exceeded', fromPod(podB, podA.ip, ICMP, icmpHeader(11, 0)), R.PASS_STACK_ICMP_ERROR],
      ['first fragment (MF)', fromPod(podB, podA.ip, UDP, l4Ports(1, 2), { fragWord: 0x2000 }), R.PASS_STACK_FRAGMENT],
      ['later fragment (offset)', fromPod(podB, podA.ip, UDP, l4Ports(1, 2), { fragWord: 0x0010 }), R.PASS_STACK_FRAGMENT],
    ];
    for (const [what, frame, reason] of cases) {
      const r = await runFromPod(frame, podB);
      expect(r.cb[0], what).toBe(reason);
      expect(r.retval, what).toBe(TC_ACT_UNSPEC);
      expect(r.dataOut, what).toEqual(frame);
    }
    // DF alone is a whole packet
    expect((await runFromPod(fromPod(podB, podA.ip, UDP, l4Ports(1, 2), { fragWord: 0x4000 }), podB)).cb[0]).toBe(R.FWD_LOCAL_PEER);
    // options: IHL 6 with a 4-byte NOP option word
    const opt = fromPod(podB, podA.ip, UDP, Buffer.concat([Buffer.from([1, 1, 1, 0]), l4Ports(1, 2)]), { versionIhl: 0x46, totLen: 24 + 20 });
    expect((await runFromPod(opt, podB)).cb[0]).toBe(R.PASS_STACK_IP_OPTIONS);
  });

  it('tot_len 0 is malformed on a non-GSO skb (never forwarded) and BIG TCP on a GSO one', async () => {
    const frame = fromPod(podA, podB.ip, TCP, l4Ports(1000, 2000, 1400), { totLen: 0 });
    const plain = await runFromPod(frame, podA);
    expect(plain.cb[0]).toBe(R.DROP_MALFORMED);
    expect(plain.retval).toBe(TC_ACT_SHOT);
    const gso = await runFromPod(frame, podA, { gsoSize: 1000 });
    expect(gso.cb[0]).toBe(R.FWD_LOCAL_PEER);
    expect(gso.retval).toBe(TC_ACT_REDIRECT);
  });
});
