// The agent's conntrack GC on a loaded datapath: entries idle past their protocol's timeout go,
// fresh ones and long-lived TCP stay; timestamps are the datapath's clock (CLOCK_MONOTONIC).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCtGc, ctTimeouts } from '../../src/agent/ct-gc.js';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { CT_F_REPLY, monotonicNs, openConntrack, type CtEntry } from '../../src/maps/index.js';

const pinDir = `/sys/fs/bpf/pwtest-${randomBytes(4).toString('hex')}`;
const SEC = 1_000_000_000n;

beforeAll(async () => {
  await loadDatapath({ pinDir });
});

afterAll(async () => {
  await unloadDatapath({ pinDir });
});

function entry(addr: string, port: number, proto: number, idleSeconds: number): CtEntry {
  const now = monotonicNs();
  return {
    kind: 'stack',
    addr,
    port,
    proto,
    peer: '0.0.0.0',
    peerPort: 0,
    lastSeenNs: now - BigInt(idleSeconds) * SEC,
    createdNs: now - BigInt(idleSeconds + 1) * SEC,
    origin: 'from_pod',
    ifindex: 7,
    flags: 0,
    revision: 0,
    reply: false,
  };
}

/** A NetworkPolicy FLOW pair member (forward or REPLY) admitted under policy revision 3. */
function flow(addr: string, port: number, peer: string, peerPort: number, proto: number, idleSeconds: number, reply: boolean): CtEntry {
  return { ...entry(addr, port, proto, idleSeconds), kind: 'flow', peer, peerPort, flags: reply ? CT_F_REPLY : 0, revision: 3, reply };
}

describe('conntrack GC', () => {
  it('expires idle entries by protocol timeout and keeps the rest', () => {
    // small timeouts: monotonic time starts at boot, and a fresh CI machine has not been up long
    const t = { tcpSeconds: 120, otherSeconds: 30 };
    const m = openConntrack(pinDir);
    try {
      m.set(entry('10.244.0.2', 40000, 17, 31)); // UDP idle past 30 s: expires
      m.set(entry('10.244.0.2', 40001, 17, 5)); // UDP fresh: stays
      m.set(entry('10.244.0.2', 40002, 6, 31)); // TCP idle 31 s < 120 s: stays
      m.set(entry('10.244.0.2', 40003, 6, 121)); // TCP past its timeout: expires
      m.set(entry('10.244.0.2', 7, 1, 40)); // ICMP echo id 7 idle: expires
      const r = runCtGc(pinDir, t);
      expect(r).toMatchObject({ scanned: 5, expired: 3 });
      expect(m.list().map((e) => `${e.port}/${e.proto}`)).toEqual(['40001/17', '40002/6']);
      expect(runCtGc(pinDir, t)).toMatchObject({ scanned: 2, expired: 0 });
    } finally {
      m.close();
    }
  });

  it('expires NetworkPolicy FLOW entries too, and reads back their peer, reply flag and revision', () => {
    const t = { tcpSeconds: 120, otherSeconds: 30 };
    const m = openConntrack(pinDir);
    try {
      for (const e of m.list()) m.delete(e);
      m.set(flow('10.244.0.2', 41000, '10.244.0.3', 80, 6, 5, false)); // fresh TCP forward: stays
      m.set(flow('10.244.0.3', 80, '10.244.0.2', 41000, 6, 5, true)); // its reply: stays
      m.set(flow('10.244.0.2', 41001, '10.244.0.3', 53, 17, 31, false)); // idle UDP forward: expires
      m.set(flow('10.244.0.3', 53, '10.244.0.2', 41001, 17, 31, true)); // idle UDP reply: expires
      expect(runCtGc(pinDir, t)).toMatchObject({ scanned: 4, expired: 2 });
      const left = m.list();
      expect(left.map((e) => [e.kind, `${e.addr}:${e.port}`, `${e.peer}:${e.peerPort}`, e.reply, e.revision])).toEqual([
        ['flow', '10.244.0.2:41000', '10.244.0.3:80', false, 3],
        ['flow', '10.244.0.3:80', '10.244.0.2:41000', true, 3],
      ]);
    } finally {
      m.close();
    }
  });

  it('TCP follows netfilter\'s established timeout when this namespace has conntrack', () => {
    const t = ctTimeouts();
    expect(t.otherSeconds).toBe(600);
    expect(t.tcpSeconds).toBeGreaterThanOrEqual(3600);
  });
});
