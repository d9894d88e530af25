// The cross-node paths on crafted frames through BPF_PROG_TEST_RUN: from_pod toward a remote
// pod (native: the kernel FIB picks the uplink and next hop; vxlan: tunnel key + VXLAN device),
// route misses and dead local addresses, and from_uplink / from_vxlan delivering into a local pod.
// The FIB lookups are real: the namespace has an uplink with an address and a neighbour.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatapath, pinPaths, unloadDatapath } from '../../src/loader/index.js';
import { ipv4Bytes, openCounters, openEndpoints, openNodeConfig, openRoutes, type Endpoint, type NodeConfig } from '../../src/maps/index.js';
import { enums } from '../../src/maps/generated/layouts.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { arpRequest, ETH_HLEN, ethHeader, ipChecksum, ipv4Frame, testRun } from './packets.js';

// "pass to the stack" is TC_ACT_UNSPEC (-1, tcx "next"); BPF_PROG_TEST_RUN reports the u32 retval.
const TC_ACT_UNSPEC = 0xffffffff;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;
const R = enums.pw_reason.values;
const A = enums.pw_action.values;

const pinDir = `/sys/fs/bpf/pwtest-${randomBytes(4).toString('hex')}`;
const progs = pinPaths(pinDir).progs;
const UPLINK_MAC = '02:aa:00:00:00:01';
const PEER_MAC = '02:aa:00:00:00:02';
const NODE_IP = '172.31.0.1';
const REMOTE_NODE = '172.31.0.2';
const OTHER_NODE = '172.31.0.3';
let ns: Netns | undefined;
let podA: Endpoint;
let uplink = 0;
let vxlan = 0;

async function ifindexOf(name: string): Promise<number> {
  const out = await ns!.exec('ip', ['-j', 'link', 'show', name]);
  return (JSON.parse(out.stdout) as Array<{ ifindex: number }>)[0]!.ifindex;
}

function counter(reason: keyof typeof R, direction: 'EGRESS' | 'INGRESS'): bigint {
  const c = openCounters(pinDir);
  try {
    return c.read().find((r) => r.reason === reason && r.direction === direction)?.packets ?? 0n;
  } finally {
    c.close();
  }
}

function setCfg(c: Partial<NodeConfig>): void {
  const m = openNodeConfig(pinDir);
  try {
    m.set({ mode: 'native', nodeIp: NODE_IP, uplinkIfindex: uplink, vxlanIfindex: 0, vni: 0, ...c });
  } finally {
    m.close();
  }
}

async function run(prog: string, frame: Buffer, ifindex: number, expectReason: keyof typeof R, direction: 'EGRESS' | 'INGRESS') {
  const before = counter(expectReason, direction);
  const r = await testRun(prog, frame, { ifindex, netns: ns!.path });
  expect(r.cb[0]).toBe(R[expectReason]);
  expect(counter(expectReason, direction) - before).toBe(1n);
  return r;
}

const ipOf = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.'); // cb holds be32 as read little-endian
const toRemote = (o: { ttl?: number; daddr?: string } = {}) =>
  ipv4Frame({ dmac: podA.hostMac, smac: podA.podMac, saddr: podA.ip, daddr: o.daddr ?? '10.244.9.7', ttl: o.ttl ?? 64, protocol: 6 });

beforeAll(async () => {
  ns = await createNetns('pwxbpf');
  await ns.exec('ip', ['-batch', '-'], {
    input: [
      'link add hA type veth peer name pA',
      `link add up0 address ${UPLINK_MAC} type veth peer name up1`,
      `addr add ${NODE_IP}/24 dev up0`,
      'link set up0 up',
      'link set up1 up',
      'link set hA up',
      `neigh replace ${REMOTE_NODE} lladdr ${PEER_MAC} dev up0 nud permanent`,
      'link add pwvxlan0 type vxlan external dstport 8472',
      '',
    ].join('\n'),
  });
  // bpf_fib_lookup needs forwarding on the ingress device (hA): ip_forward first, it resets devices
  await ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  await loadDatapath({ pinDir });
  uplink = await ifindexOf('up0');
  vxlan = await ifindexOf('pwvxlan0');
  podA = { ip: '10.244.0.2', ifindex: await ifindexOf('hA'), podMac: '02:00:0a:f4:00:02', hostMac: 'ee:00:00:00:00:0a', flags: 0, endpointId: 2 };
  const eps = openEndpoints(pinDir);
  eps.set(podA);
  eps.close();
  const routes = openRoutes(pinDir);
  routes.setBatch([
    { cidr: '10.244.0.0/24', nodeIp: NODE_IP, kind: 'local' },
    { cidr: '10.244.9.0/24', nodeIp: REMOTE_NODE, kind: 'remote' },
    { cidr: '10.244.10.0/24', nodeIp: '10.99.99.99', kind: 'remote' }, // a node IP with no route
    { cidr: '10.244.11.0/24', nodeIp: OTHER_NODE, kind: 'remote' }, // on-link, never cached here
  ]);
  routes.close();
});

afterAll(async () => {
  await unloadDatapath({ pinDir, netns: ns?.path });
  await ns?.remove();
});

describe('from_pod toward other nodes (BPF_PROG_TEST_RUN)', () => {
  it('native: FIB lookup of the remote NODE IP, redirect_neigh to the uplink with that next hop, TTL-1, MACs left to the neighbour layer', async () => {
    setCfg({ mode: 'native' });
    const frame = toRemote();
    const r = await run(progs.fromPod, frame, podA.ifindex, 'FWD_REMOTE_NATIVE', 'EGRESS');
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.cb[1]).toBe(A.REDIRECT_NEIGH);
    expect(r.cb[2]).toBe(uplink);
    expect(ipOf(r.cb[3]!)).toBe(REMOTE_NODE);
    expect(r.dataOut.subarray(0, ETH_HLEN)).toEqual(frame.subarray(0, ETH_HLEN));
    const ip = r.dataOut.subarray(ETH_HLEN, ETH_HLEN + 20);
    expect(ip.readUInt8(8)).toBe(63);
    expect(ipChecksum(ip)).toBe(0);
    expect(ip.subarray(16, 20)).toEqual(ipv4Bytes('10.244.9.7')); // no NAT: the pod address stays
  });

  it('native: the next packet to that node within a second takes the cached next hop — the uplink and neighbour MACs written, TTL-1, same verdict — and after a second the FIB and the neighbour layer again', async () => {
    setCfg({ mode: 'native' });
    const frame = toRemote({ daddr: '10.244.9.8' });
    await new Promise((res) => setTimeout(res, 1100)); // whatever an earlier test cached is stale now
    const first = await run(progs.fromPod, frame, podA.ifindex, 'FWD_REMOTE_NATIVE', 'EGRESS');
    expect(first.dataOut.subarray(0, ETH_HLEN)).toEqual(frame.subarray(0, ETH_HLEN)); // through the FIB, which fills the cache
    const r = await run(progs.fromPod, frame, podA.ifindex, 'FWD_REMOTE_NATIVE', 'EGRESS');
    expect([r.retval, r.cb[1], r.cb[2], ipOf(r.cb[3]!)]).toEqual([TC_ACT_REDIRECT, A.REDIRECT_NEIGH, uplink, REMOTE_NODE]);
    expect(r.dataOut.subarray(0, ETH_HLEN)).toEqual(ethHeader(PEER_MAC, UPLINK_MAC, 0x0800));
    const ip = r.dataOut.subarray(ETH_HLEN, ETH_HLEN + 20);
    expect(ip.readUInt8(8)).toBe(63);
    expect(ipChecksum(ip)).toBe(0);
    expect(r.dataOut.subarray(ETH_HLEN + 20)).toEqual(frame.subarray(ETH_HLEN + 20));
    const cached = await ns!.exec('bpftool', ['-j', 'map', 'dump', 'pinned', `${pinDir}/maps/nh_cache`]);
    const entries = JSON.parse(cached.stdout) as Array<{ formatted: { key: number; value: { ifindex: number; nexthop: number } } }>;
    expect(entries.map(({ formatted: e }) => [ipOf(e.key), e.value.ifindex, ipOf(e.value.nexthop)])).toEqual([[REMOTE_NODE, uplink, REMOTE_NODE]]);
    await new Promise((res) => setTimeout(res, 1100));
    const again = await run(progs.fromPod, frame, podA.ifindex, 'FWD_REMOTE_NATIVE', 'EGRESS');
    expect([again.retval, again.cb[2], ipOf(again.cb[3]!)]).toEqual([TC_ACT_REDIRECT, uplink, REMOTE_NODE]);
    expect(again.dataOut.subarray(0, ETH_HLEN)).toEqual(frame.subarray(0, ETH_HLEN)); // refreshed through the FIB: MACs left to the neighbour layer
  });

  it('native: FWD_DISABLED on the pod veth is its own drop reason (a node setup bug), packet untouched', async () => {
    setCfg({ mode: 'native' });
    await ns!.exec('sysctl', ['-qw', 'net.ipv4.conf.hA.forwarding=0']);
    try {
      // a node without a cached next hop: the cache (per node, 1 s) does not re-check the ingress device
      const frame = toRemote({ daddr: '10.244.11.5' });
      const r = await run(progs.fromPod, frame, podA.ifindex, 'DROP_FIB_FWD_DISABLED', 'EGRESS');
      expect(r.retval).toBe(TC_ACT_SHOT);
      expect(r.dataOut).toEqual(frame);
    } finally {
      await ns!.exec('sysctl', ['-qw', 'net.ipv4.conf.hA.forwarding=1']);
    }
  });

  it('native: a remote node the kernel cannot route to drops with DROP_FIB_FAILED', async () => {
    setCfg({ mode: 'native' });
    const r = await run(progs.fromPod, toRemote({ daddr: '10.244.10.5' }), podA.ifindex, 'DROP_FIB_FAILED', 'EGRESS');
    expect(r.retval).toBe(TC_ACT_SHOT);
  });

  // test_run cannot observe the skb's tunnel key (it lives in skb metadata, not in data_out or
  // cb): this checks the verdict the program records; the key on the wire (outer destination,
  // VNI) is checked on a real device in test/hostnet/cross-node.test.ts
  it('vxlan: the recorded verdict names the tunnel (remote node IP, VNI) and the VXLAN device; TTL-1, inner frame otherwise intact', async () => {
    setCfg({ mode: 'vxlan', vxlanIfindex: vxlan, vni: 4242 });
    const frame = toRemote();
    const r = await run(progs.fromPod, frame, podA.ifindex, 'FWD_REMOTE_VXLAN', 'EGRESS');
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.cb[1]).toBe(A.REDIRECT_TUNNEL);
    expect(r.cb[2]).toBe(vxlan);
    expect(ipOf(r.cb[3]!)).toBe(REMOTE_NODE);
    expect(r.cb[4]).toBe(4242);
    expect(r.dataOut.subarray(0, ETH_HLEN)).toEqual(frame.subarray(0, ETH_HLEN));
    const ip = r.dataOut.subarray(ETH_HLEN, ETH_HLEN + 20);
    expect(ip.readUInt8(8)).toBe(63);
    expect(ipChecksum(ip)).toBe(0);
  });

  it('TTL 1 toward a remote pod dies here without a write', async () => {
    setCfg({ mode: 'native' });
    const frame = toRemote({ ttl: 1 });
    const r = await run(progs.fromPod, frame, podA.ifindex, 'DROP_TTL_EXCEEDED', 'EGRESS');
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.dataOut).toEqual(frame);
  });

  it('route miss (node IPs, the outside) goes to the stack untouched', async () => {
    setCfg({ mode: 'native' });
    const frame = toRemote({ daddr: REMOTE_NODE });
    const r = await run(progs.fromPod, frame, podA.ifindex, 'PASS_STACK_MISS', 'EGRESS');
    expect(r.retval).toBe(TC_ACT_UNSPEC);
    expect(r.dataOut).toEqual(frame);
  });

  it('an address of our own podCIDR without an endpoint is dropped (the stack would bounce it out)', async () => {
    const r = await run(progs.fromPod, toRemote({ daddr: '10.244.0.99' }), podA.ifindex, 'DROP_NO_ENDPOINT', 'EGRESS');
    expect(r.retval).toBe(TC_ACT_SHOT);
  });

  it('before the agent configured the node (mode none) remote traffic is left to the stack', async () => {
    setCfg({ mode: 'none', nodeIp: '0.0.0.0', uplinkIfindex: 0 });
    const frame = toRemote();
    const r = await run(progs.fromPod, frame, podA.ifindex, 'PASS_STACK_NO_NODE_CFG', 'EGRESS');
    expect(r.retval).toBe(TC_ACT_UNSPEC);
    expect(r.dataOut).toEqual(frame);
  });
});

describe('from_uplink / from_vxlan (BPF_PROG_TEST_RUN)', () => {
  const fromRemote = (daddr: string, ttl = 63) =>
    ipv4Frame({ dmac: UPLINK_MAC, smac: PEER_MAC, saddr: '10.244.9.7', daddr, ttl, protocol: 6 });

  for (const [name, prog, dev] of [
    ['from_uplink', () => progs.fromUplink, () => uplink],
    ['from_vxlan', () => progs.fromVxlan, () => vxlan],
  ] as const) {
    it(`${name}: a packet for a local pod gets the pod's MACs, TTL-1 and is redirect_peer'd into it (INGRESS)`, async () => {
      const frame = fromRemote(podA.ip);
      const r = await run(prog(), frame, dev(), 'FWD_LOCAL_PEER', 'INGRESS');
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect(r.cb[1]).toBe(A.REDIRECT_PEER);
      expect(r.cb[2]).toBe(podA.ifindex);
      expect(r.dataOut.subarray(0, ETH_HLEN)).toEqual(ethHeader(podA.podMac, podA.hostMac, 0x0800));
      const ip = r.dataOut.subarray(ETH_HLEN, ETH_HLEN + 20);
      expect(ip.readUInt8(8)).toBe(62);
      expect(ipChecksum(ip)).toBe(0);
      expect(ip.subarray(12, 16)).toEqual(ipv4Bytes('10.244.9.7')); // the remote pod's address, no NAT
    });
  }

  it('from_uplink: the node\'s own traffic, ARP and junk go to the stack untouched; only a dead local pod address drops', async () => {
    const toNode = fromRemote(NODE_IP);
    expect((await run(progs.fromUplink, toNode, uplink, 'PASS_STACK_MISS', 'INGRESS')).dataOut).toEqual(toNode);
    const arp = arpRequest(PEER_MAC, REMOTE_NODE, NODE_IP);
    expect((await run(progs.fromUplink, arp, uplink, 'PASS_STACK_ARP', 'INGRESS')).retval).toBe(TC_ACT_UNSPEC);
    const junk = ipv4Frame({ dmac: UPLINK_MAC, smac: PEER_MAC, saddr: '10.244.9.7', daddr: podA.ip, totLen: 1500 });
    expect((await run(progs.fromUplink, junk, uplink, 'PASS_STACK_UNPARSED', 'INGRESS')).retval).toBe(TC_ACT_UNSPEC);
    expect((await run(progs.fromUplink, fromRemote('10.244.0.77'), uplink, 'DROP_NO_ENDPOINT', 'INGRESS')).retval).toBe(TC_ACT_SHOT);
    expect((await run(progs.fromUplink, fromRemote(podA.ip, 1), uplink, 'DROP_TTL_EXCEEDED', 'INGRESS')).retval).toBe(TC_ACT_SHOT);
  });
});
