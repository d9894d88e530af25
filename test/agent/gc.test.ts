// Endpoint GC planning: what goes at once (veth gone), what waits (grace, API not trusted),
// and what never goes (the pod is in the API by IP or by the name the runtime recorded).
import { describe, expect, it } from 'vitest';
import { planEndpointGc, type GcInput, type GcRecord } from '../../src/agent/gc.js';

const GRACE = 1000;
const owned = (ip: string) => ip.startsWith('10.244.1.');

function input(over: Partial<GcInput> = {}): GcInput {
  return {
    endpoints: [],
    links: new Map(),
    api: { ips: new Set(), pods: new Set() },
    records: new Map(),
    owned,
    staleSince: new Map(),
    now: 100_000,
    graceMs: GRACE,
    ...over,
  };
}

const rec = (createdAtMs: number, extra: Partial<GcRecord> = {}): GcRecord => ({
  createdAtMs,
  containerID: 'c1',
  ifname: 'eth0',
  hostVeth: 'pw0123456789a',
  ...extra,
});

describe('planEndpointGc', () => {
  it('keeps an endpoint whose pod the API lists by IP', () => {
    const p = planEndpointGc(input({
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[5, 'pw0123456789a']]),
      api: { ips: new Set(['10.244.1.2']), pods: new Set() },
      records: new Map([['10.244.1.2', rec(0)]]),
    }));
    expect(p).toEqual({ actions: [], waiting: 0 });
  });

  it('keeps an endpoint whose pod is in the API by the recorded name, even before its IP is published', () => {
    const st = new Map<string, number>([['10.244.1.2', 0]]);
    const p = planEndpointGc(input({
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[5, 'pw0123456789a']]),
      api: { ips: new Set(), pods: new Set(['default/web']) },
      records: new Map([['10.244.1.2', rec(0, { pod: 'default/web' })]]),
      staleSince: st,
    }));
    expect(p.actions).toEqual([]);
    expect(st.size).toBe(0);
  });

  it('removes an entry whose veth is gone at once, without releasing the address while the pod exists', () => {
    const p = planEndpointGc(input({
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[6, 'pwother']]),
      api: { ips: new Set(['10.244.1.2']), pods: new Set() },
      records: new Map([['10.244.1.2', rec(0)]]),
    }));
    expect(p.actions).toEqual([{ ip: '10.244.1.2', ifindex: 5, reason: 'veth-gone' }]);
  });

  it('a pod missing from the API waits for the grace period (fresh record, or first seen stale just now)', () => {
    const st = new Map<string, number>();
    const base = {
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[5, 'pw0123456789a']]),
      records: new Map([['10.244.1.2', rec(99_500)]]),
      staleSince: st,
    };
    let p = planEndpointGc(input({ ...base, now: 100_000 }));
    expect(p).toEqual({ actions: [], waiting: 1 });
    expect(st.get('10.244.1.2')).toBe(100_000);
    // record old enough, but stale only for 500 ms
    p = planEndpointGc(input({ ...base, now: 100_500 }));
    expect(p.actions).toEqual([]);
    // stale for the whole grace period and the record is old: collect entry, veth, address
    p = planEndpointGc(input({ ...base, now: 101_000 }));
    expect(p.actions).toEqual([
      { ip: '10.244.1.2', ifindex: 5, reason: 'pod-gone', deleteVeth: 'pw0123456789a', release: { containerID: 'c1', ifname: 'eth0' } },
    ]);
    expect(st.size).toBe(0);
  });

  it('a pod that reappears in the API resets the stale clock', () => {
    const st = new Map<string, number>([['10.244.1.2', 0]]);
    planEndpointGc(input({
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[5, 'x']]),
      api: { ips: new Set(['10.244.1.2']), pods: new Set() },
      staleSince: st,
    }));
    expect(st.has('10.244.1.2')).toBe(false);
  });

  it('does nothing from the API side while the pod cache is not trusted', () => {
    const st = new Map<string, number>([['10.244.1.2', 0]]);
    const p = planEndpointGc(input({
      endpoints: [{ ip: '10.244.1.2', ifindex: 5 }],
      links: new Map([[5, 'pw0123456789a']]),
      records: new Map([['10.244.1.2', rec(0)]]),
      staleSince: st,
      api: undefined,
    }));
    expect(p).toEqual({ actions: [], waiting: 0 });
  });

  it('leaves IPs outside our podCIDR to their owner (unless the veth is gone)', () => {
    const p = planEndpointGc(input({
      endpoints: [{ ip: '10.99.0.2', ifindex: 5 }, { ip: '10.99.0.3', ifindex: 7 }],
      links: new Map([[5, 'a']]),
      staleSince: new Map([['10.99.0.2', 0]]),
    }));
    expect(p.actions).toEqual([{ ip: '10.99.0.3', ifindex: 7, reason: 'veth-gone' }]);
  });

  it('an endpoint without an IPAM record is collected after being stale for the grace period; a veth that is not its own is left', () => {
    const st = new Map<string, number>([['10.244.1.9', 98_000]]);
    const p = planEndpointGc(input({ endpoints: [{ ip: '10.244.1.9', ifindex: 5 }], links: new Map([[5, 'eth7']]), staleSince: st }));
    expect(p.actions).toEqual([{ ip: '10.244.1.9', ifindex: 5, reason: 'pod-gone' }]);
  });

  it('forgets stale clocks of IPs that left the map', () => {
    const st = new Map<string, number>([['10.244.1.50', 0]]);
    planEndpointGc(input({ staleSince: st }));
    expect(st.size).toBe(0);
  });
});
