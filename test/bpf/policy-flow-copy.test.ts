// Established NetworkPolicy flows on the real kernel (BPF_PROG_TEST_RUN): the FLOW lookup refreshes
// the entries it finds, the CPU keeps a copy of the last admitted entry (ct_cache,
// bpf/lib/lookups.h) that answers the next packets of that flow, and the copy never outlives a
// policy change: the next packet after a revision bump is judged again, denied flows keep their
// stale entries and are judged on every packet, a re-admitted flow is stamped with the new revision.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatapath, pinPaths, unloadDatapath } from '../../src/loader/index.js';
import { encodeEndpointKey, monotonicNs, openConntrack, openEndpoints, type CtEntry, type Endpoint } from '../../src/maps/index.js';
import { encodeCtKey } from '../../src/maps/conntrack.js';
import { enums, maps, structs } from '../../src/maps/generated/layouts.js';
import { openRawPinned } from '../../src/maps/pinned.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { ipv4Frame, l4Ports, testRun } from './packets.js';

const R = enums.pw_reason.values;
const UDP = 17;
const RULESET = 7;
const PORT = 5201;
const CLIENT_PORT = 40000;

const pinDir = `/sys/fs/bpf/pwtest-polcost-${randomBytes(4).toString('hex')}`;
const P = pinPaths(pinDir).progs;
let ns: Netns | undefined;
let client: Endpoint;
let server: Endpoint;

const u32s = (...v: number[]): Buffer => {
  const b = Buffer.alloc(v.length * 4);
  v.forEach((n, i) => b.writeUInt32LE(n >>> 0, i * 4));
  return b;
};

async function ifindexOf(name: string): Promise<number> {
  const out = await ns!.exec('ip', ['-j', 'link', 'show', name]);
  return (JSON.parse(out.stdout) as Array<{ ifindex: number }>)[0]!.ifindex;
}

function withRaw<T>(name: string, f: (m: ReturnType<typeof openRawPinned>) => T): T {
  const m = openRawPinned(pinDir, name);
  try {
    return f(m);
  } finally {
    m.close();
  }
}

function setRevision(revision: number): void {
  withRaw('pol_state', (m) => m.map.set(u32s(0), u32s(revision, 0, 0, 0)));
}

function portKey(): Buffer {
  const F = structs.pw_pol_port_key.fields;
  const k = Buffer.alloc(structs.pw_pol_port_key.size);
  k.writeUInt32LE(64, F.prefixlen.offset);
  k.writeUInt32LE(RULESET, F.ruleset.offset);
  k.writeUInt8(UDP, F.proto.offset);
  k.writeUInt16BE(PORT, F.port.offset);
  return k;
}

/** The server's ingress rule: UDP/PORT from any peer (slot 0), or nothing at all. */
function setRule(admit: boolean): void {
  withRaw('pol_ports', (m) => {
    if (admit) {
      const bits = Buffer.alloc(8);
      bits.writeBigUInt64LE(1n);
      m.map.set(portKey(), bits);
    } else {
      m.map.delete(portKey());
    }
  });
}

function flows(): CtEntry[] {
  const m = openConntrack(pinDir);
  try {
    return m.list().filter((e) => e.kind === 'flow');
  } finally {
    m.close();
  }
}

/** The FLOW keys the CPUs' copies hold (every flow slot of every possible CPU; empty ones left out). */
function copies(): { key: Buffer; revision: number }[] {
  const C = structs.pw_ct_cache;
  const flowSlots = maps.ct_cache.maxEntries - 1; // the last slot is the clock
  return withRaw('ct_cache', (m) => {
    const out: { key: Buffer; revision: number }[] = [];
    for (let slot = 0; slot < flowSlots; slot++) {
      const all = m.map.get(u32s(slot))!;
      for (let at = 0; at + C.size <= all.length; at += Math.ceil(C.size / 8) * 8) {
        const key = all.subarray(at + C.fields.key.offset, at + C.fields.key.offset + C.fields.key.size);
        if (key.readUInt8(structs.pw_ct_key.fields.kind.offset) === 0) continue;
        out.push({ key: Buffer.from(key), revision: all.readUInt32LE(at + C.fields.entry.offset + structs.pw_ct_entry.fields.revision.offset) });
      }
    }
    return out;
  });
}

const request = () => ipv4Frame({ dmac: client.hostMac, smac: client.podMac, saddr: client.ip, daddr: server.ip, protocol: UDP, payload: l4Ports(CLIENT_PORT, PORT) });
// every run on CPU 0: consecutive packets meet the copy the previous one left
const send = () => testRun(P.fromPod, request(), { ifindex: client.ifindex, netns: ns!.path, cpu: 0 });
const fwdKey = () => encodeCtKey({ kind: 'flow', addr: client.ip, peer: server.ip, port: CLIENT_PORT, peerPort: PORT, proto: UDP });

beforeAll(async () => {
  ns = await createNetns('pwpolcost');
  await ns.exec('ip', ['link', 'add', 'hA', 'type', 'veth', 'peer', 'name', 'pA']);
  await ns.exec('ip', ['link', 'add', 'hB', 'type', 'veth', 'peer', 'name', 'pB']);
  await loadDatapath({ pinDir });
  client = { ip: '10.244.0.2', ifindex: await ifindexOf('hA'), podMac: '02:00:0a:f4:00:02', hostMac: 'ee:00:00:00:00:0a', flags: 0, endpointId: 2 };
  server = { ip: '10.244.0.3', ifindex: await ifindexOf('hB'), podMac: '02:00:0a:f4:00:03', hostMac: 'ee:00:00:00:00:0b', flags: enums.pw_endpoint_flags.values.INGRESS_ISOLATED, endpointId: 3 };
  const eps = openEndpoints(pinDir);
  eps.setBatch([client, server]);
  eps.close();
  withRaw('pol_endpoints', (m) => m.map.set(encodeEndpointKey(server.ip), u32s(RULESET, 0)));
  // slot 0 of the ruleset admits any peer
  withRaw('pol_slots', (m) => m.map.set(u32s(RULESET, 0), u32s(0, enums.pw_pol_slot_flags.values.ANY_PEER, 1, 0)));
  setRule(true);
  setRevision(1);
  // the established flow, both directions, revision 1, last seen at boot
  const ct = openConntrack(pinDir);
  try {
    const base = { kind: 'flow' as const, proto: UDP, lastSeenNs: 0n, createdNs: 0n, origin: 'from_pod' as const, ifindex: client.ifindex, revision: 1 };
    ct.set({ ...base, addr: client.ip, peer: server.ip, port: CLIENT_PORT, peerPort: PORT, flags: 0 });
    ct.set({ ...base, addr: server.ip, peer: client.ip, port: PORT, peerPort: CLIENT_PORT, flags: 1 });
  } finally {
    ct.close();
  }
});

afterAll(async () => {
  await unloadDatapath({ pinDir, netns: ns?.path });
  await ns?.remove();
});

describe('NetworkPolicy: established flows and the CPU copy of their entry', () => {
  it('the packet that finds an established flow refreshes both its entries and leaves a copy on its CPU', async () => {
    const before = monotonicNs();
    const r = await send();
    expect(r.cb[0]).toBe(R.FWD_LOCAL_PEER);
    const after = monotonicNs();
    const f = flows();
    expect(f).toHaveLength(2);
    for (const e of f) {
      // the coarse clock lags the precise one by at most a tick (and a jiffy of the cached read)
      expect(e.lastSeenNs).toBeGreaterThan(before - 100_000_000n);
      expect(e.lastSeenNs).toBeLessThanOrEqual(after);
      expect(e.revision).toBe(1);
    }
    expect(copies()).toContainEqual({ key: fwdKey(), revision: 1 });
    // later packets of the flow (answered from the copy or the map) are admitted the same way
    for (let i = 0; i < 5; i++) expect((await send()).cb[0]).toBe(R.FWD_LOCAL_PEER);
  });

  it('the copy answers only its own flow: the next flow from the same client to another port is judged (and denied)', async () => {
    expect((await send()).cb[0]).toBe(R.FWD_LOCAL_PEER);
    expect(copies()).toContainEqual({ key: fwdKey(), revision: 1 });
    const other = ipv4Frame({ dmac: client.hostMac, smac: client.podMac, saddr: client.ip, daddr: server.ip, protocol: UDP, payload: l4Ports(CLIENT_PORT, PORT + 1) });
    expect((await testRun(P.fromPod, other, { ifindex: client.ifindex, netns: ns!.path, cpu: 0 })).cb[0]).toBe(R.POLICY_DENIED_INGRESS);
    expect(flows()).toHaveLength(2); // a denied new flow records nothing
  });

  it('a CPU keeps copies of several flows at once (direct-mapped slots), each answering its own flow', async () => {
    const ports = [41000, 41001, 41002, 41003, 41004, 41005, 41006, 41007];
    const ct = openConntrack(pinDir);
    try {
      for (const port of ports) ct.set({ kind: 'flow', addr: client.ip, peer: server.ip, port, peerPort: PORT, proto: UDP, lastSeenNs: 0n, createdNs: 0n, origin: 'from_pod', ifindex: client.ifindex, flags: 0, revision: 1 });
    } finally {
      ct.close();
    }
    for (const port of ports) {
      const frame = ipv4Frame({ dmac: client.hostMac, smac: client.podMac, saddr: client.ip, daddr: server.ip, protocol: UDP, payload: l4Ports(port, PORT) });
      expect((await testRun(P.fromPod, frame, { ifindex: client.ifindex, netns: ns!.path, cpu: 0 })).cb[0]).toBe(R.FWD_LOCAL_PEER);
    }
    const held = ports.filter((port) => copies().some((c) => c.key.equals(encodeCtKey({ kind: 'flow', addr: client.ip, peer: server.ip, port, peerPort: PORT, proto: UDP }))));
    expect(held.length).toBeGreaterThan(1);
    const ct2 = openConntrack(pinDir);
    try {
      for (const port of ports) ct2.delete({ kind: 'flow', addr: client.ip, peer: server.ip, port, peerPort: PORT, proto: UDP });
    } finally {
      ct2.close();
    }
  });

  it('a policy change is enforced on the very next packet although a CPU holds a copy of the flow', async () => {
    expect((await send()).cb[0]).toBe(R.FWD_LOCAL_PEER);
    expect(copies().some((c) => c.key.equals(fwdKey()))).toBe(true);
    setRule(false);
    setRevision(2);
    // denied flows are judged on every packet and keep their stale entries (never copied)
    for (let i = 0; i < 3; i++) expect((await send()).cb[0]).toBe(R.POLICY_DENIED_INGRESS);
    expect(flows().map((e) => e.revision)).toEqual([1, 1]);
    expect(copies().filter((c) => c.key.equals(fwdKey()) && c.revision === 2)).toEqual([]);
  });

  it('a flow admitted again is stamped with the new revision and answered from a fresh copy', async () => {
    setRule(true);
    setRevision(3);
    expect((await send()).cb[0]).toBe(R.FWD_LOCAL_PEER); // judged again (RECHECK): both entries rewritten
    expect(flows().map((e) => e.revision)).toEqual([3, 3]);
    expect((await send()).cb[0]).toBe(R.FWD_LOCAL_PEER);
    expect(copies()).toContainEqual({ key: fwdKey(), revision: 3 });
  });
});
