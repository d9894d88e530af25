// from_pod on crafted frames through BPF_PROG_TEST_RUN (real kernel, real veths for ifindexes).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatapath, pinPaths, unloadDatapath } from '../../src/loader/index.js';
import { openCounters, openEndpoints, type Endpoint } from '../../src/maps/index.js';
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
const prog = pinPaths(pinDir).progs.fromPod;
let ns: Netns | undefined;
let podA: Endpoint;
let podB: Endpoint;

async function ifindexOf(name: string): Promise<number> {
  const out = await ns!.exec('ip', ['-j', 'link', 'show', name]);
  return (JSON.parse(out.stdout) as Array<{ ifindex: number }>)[0]!.ifindex;
}

function counter(reason: string): bigint {
  const c = openCounters(pinDir);
  try {
    return c.read().find((r) => r.reason === reason && r.direction === 'EGRESS')?.packets ?? 0n;
  } finally {
    c.close();
  }
}

/** Runs the frame as if it arrived on `from`'s host veth; returns result and counter delta. */
async function send(frame: Buffer, from: Endpoint, expectReason: keyof typeof R) {
  const before = counter(expectReason);
  const r = await testRun(prog, frame, { ifindex: from.ifindex, netns: ns!.path });
  expect(r.ifindex).toBe(from.ifindex);
  expect(r.cb[0]).toBe(R[expectReason]);
  expect(counter(expectReason) - before).toBe(1n);
  return r;
}

beforeAll(async () => {
  ns = await createNetns('pwbpf');
  // two host veths; their peers stay in the same namespace (test_run never transmits)
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

describe('from_pod (BPF_PROG_TEST_RUN)', () => {
  it('redirects a packet to a local endpoint with rewritten MACs, TTL-1 and a valid checksum', async () => {
    const frame = ipv4Frame({ dmac: podA.hostMac, smac: podA.podMac, saddr: podA.ip, daddr: podB.ip, ttl: 64 });
    const r = await send(frame, podA, 'FWD_LOCAL_PEER');
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.cb[1]).toBe(A.REDIRECT_PEER);
    expect(r.cb[2]).toBe(podB.ifindex);

    const out = r.dataOut;
    expect(out.length).toBe(frame.length);
    expect(out.subarray(0, 14)).toEqual(ethHeader(podB.podMac, podB.hostMac, 0x0800));
    const ip = out.subarray(ETH_HLEN, ETH_HLEN + 20);
    expect(ip.readUInt8(8)).toBe(63);
    expect(ipChecksum(ip)).toBe(0); // a valid header sums to 0xffff, i.e. checksums to 0
    // nothing but TTL and checksum changed in the IP header, and the payload is intact
    const before = frame.subarray(ETH_HLEN);
    const after = out.subarray(ETH_HLEN);
    const changed = [...after].map((b, i) => (b !== before[i] ? i : -1)).filter((i) => i >= 0);
    expect(changed.every((i) => i === 8 || i === 10 || i === 11)).toBe(true);
  });

  it('keeps the incremental checksum exact across TTLs and headers', async () => {
    for (let i = 0; i < 12; i++) {
      const ttl = 2 + Math.floor(Math.random() * 254);
      const frame = ipv4Frame({
        dmac: podA.hostMac, smac: podA.podMac, saddr: podA.ip, daddr: podB.ip, ttl,
        id: Math.floor(Math.random() * 0x10000), protocol: [1, 6, 17][i % 3]!,
      });
      const r = await testRun(prog, frame, { ifindex: podA.ifindex, netns: ns!.path });
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      const ip = r.dataOut.subarray(ETH_HLEN, ETH_HLEN + 20);
      expect(ip.readUInt8(8)).toBe(ttl - 1);
      expect(ipChecksum(ip)).toBe(0);
    }
  });

  it('passes a packet for an unknown destination to the stack, untouched', async () => {
    const frame = ipv4Frame({ dmac: podA.hostMac, smac: podA.podMac, saddr: podA.ip, daddr: '192.0.2.1' });
    const r = await send(frame, podA, 'PASS_STACK_MISS');
    expect(r.retval).toBe(TC_ACT_UNSPEC);
    expect(r.cb[1]).toBe(A.PASS);
    expect(r.dataOut).toEqual(frame);
  });

  it('drops a source IP that is no endpoint', async () => {
    const frame = ipv4Frame({ dmac: podA.hostMac, smac: podA.podMac, saddr: '10.244.0.99', daddr: podB.ip });
    const r = await send(frame, podA, 'DROP_SPOOFED_SRC_IP');
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.cb[1]).toBe(A.DROP);
    expect(r.dataOut).toEqual(frame);
  });

  it("drops another pod's source IP arriving on this veth", async () => {
    const frame = ipv4Frame({ dmac: podA.hostMac, smac: podB.podMac, saddr: podB.ip, daddr: '192.0.2.1' });
    const r = await send(frame, podA, 'DROP_SPOOFED_SRC_IFINDEX');
    expect(r.retval).toBe(TC_ACT_SHOT);
  });

  it('drops the right source IP with a spoofed source MAC', async () => {
    const frame = ipv4Frame({ dmac: podA.hostMac, smac: '02:66:66:66:66:66', saddr: podA.ip, daddr: podB.ip });
    const r = await send(frame, podA, 'DROP_SPOOFED_SRC_MAC');
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.dataOut).toEqual(frame);
  });

  it('passes ARP to the stack', async () => {
    const frame = arpRequest(podA.podMac, podA.ip, '169.254.1.1');
    const r = await send(frame, podA, 'PASS_STACK_ARP');
    expect(r.retval).toBe(TC_ACT_UNSPEC);
    expect(r.dataOut).toEqual(frame);
  });

  it('drops IPv6 from a pod (the pod network is IPv4-only: IPv6 would skip anti-spoofing)', async () => {
    const ip6 = Buffer.alloc(40);
    ip6.writeUInt8(0x60, 0);
    ip6.writeUInt8(59, 6); // no next header
    ip6.writeUInt8(64, 7);
    const frame = Buffer.concat([ethHeader('33:33:00:00:00:01', podA.podMac, 0x86dd), ip6]);
    const r = await send(frame, podA, 'DROP_IPV6');
    expect(r.retval).toBe(TC_ACT_SHOT);
  });

  it('passes other non-IP ethertypes to the stack', async () => {
    const frame = Buffer.concat([ethHeader('ff:ff:ff:ff:ff:ff', podA.podMac, 0x88cc), Buffer.alloc(46)]); // LLDP
    const r = await send(frame, podA, 'PASS_STACK_NON_IP');
    expect(r.retval).toBe(TC_ACT_UNSPEC);
  });

  it('drops TTL 1 on a forward, without writing the packet', async () => {
    const frame = ipv4Frame({ dmac: podA.hostMac, smac: podA.podMac, saddr: podA.ip, daddr: podB.ip, ttl: 1 });
    const r = await send(frame, podA, 'DROP_TTL_EXCEEDED');
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.dataOut).toEqual(frame);
  });

  it('drops a truncated packet (total length beyond the frame)', async () => {
    const frame = ipv4Frame({ dmac: podA.hostMac, smac: podA.podMac, saddr: podA.ip, daddr: podB.ip, totLen: 1500 });
    const r = await send(frame, podA, 'DROP_MALFORMED');
    expect(r.retval).toBe(TC_ACT_SHOT);
  });

  it('drops a header whose options run past the frame, and a bad version/IHL', async () => {
    // IHL 15 = 60-byte header, but the frame holds 20 header bytes + 4 payload bytes
    const longIhl = ipv4Frame({ dmac: podA.hostMac, smac: podA.podMac, saddr: podA.ip, daddr: podB.ip, versionIhl: 0x4f, payload: Buffer.alloc(4), totLen: 24 });
    expect((await send(longIhl, podA, 'DROP_MALFORMED')).retval).toBe(TC_ACT_SHOT);
    const shortIhl = ipv4Frame({ dmac: podA.hostMac, smac: podA.podMac, saddr: podA.ip, daddr: podB.ip, versionIhl: 0x44 });
    expect((await send(shortIhl, podA, 'DROP_MALFORMED')).retval).toBe(TC_ACT_SHOT);
  });

  it('test_run facts: ctx.ifindex selects a device in the caller netns; without it skb->ifindex is loopback', async () => {
    const frame = ipv4Frame({ dmac: podA.hostMac, smac: podA.podMac, saddr: podA.ip, daddr: podB.ip });
    const noCtx = await testRun(prog, frame, { netns: ns!.path });
    expect(noCtx.ifindex).toBe(1);
    expect(noCtx.cb[0]).toBe(R.DROP_SPOOFED_SRC_IFINDEX); // the anti-spoof check saw lo, not hA
    await expect(testRun(prog, frame, { ifindex: 999_999, netns: ns!.path })).rejects.toThrow(/No such device|ENODEV/i);
  });
});
