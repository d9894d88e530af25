// The writer on a real loaded datapath: the compiled policy lands in the pinned maps so that the
// kernel's own LPM lookups (the programs' pw_pol_match path) agree with the compiled model;
// a restarted writer writes nothing; changes bump the revision and clean up; flags never
// resurrect a deleted endpoint.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { openEndpoints, openPinnedMap, type Endpoint } from '../../src/maps/index.js';
import { LivePolicy, PolicyEvaluator, PolicyWriter, type CompiledPolicy } from '../../src/policy/index.js';
import { decodeState } from '../../src/policy/map-codec.js';
import { RawMap } from 'bpf';
import { compile, ICMP, pod, policy, SCTP, TCP, UDP } from './helpers.js';

const tag = randomBytes(4).toString('hex');
const pinDir = `/sys/fs/bpf/pwtest-policy-cp-${tag}`;

const ep = (ip: string, i: number): Endpoint => ({ ip, ifindex: 500 + i, podMac: `02:00:00:00:00:${(i + 16).toString(16)}`, hostMac: 'ee:ff:ff:ff:ff:ff', flags: 0, endpointId: i + 1 });

const pods = [
  pod({ ns: 'x', name: 'srv', ip: '10.0.0.10', labels: { app: 'srv' }, ports: [{ name: 'web', containerPort: 8080 }] }),
  pod({ ns: 'x', name: 'srv2', ip: '10.0.0.11', labels: { app: 'srv' }, ports: [{ name: 'web', containerPort: 8080 }] }),
  pod({ ns: 'x', name: 'cli', ip: '10.0.0.12', labels: { app: 'cli' } }),
  pod({ ns: 'y', name: 'db', ip: '10.0.1.5', labels: { app: 'db' }, ports: [{ name: 'sql', containerPort: 5432 }] }),
  pod({ ns: 'y', name: 'db2', ip: '10.0.1.6', labels: { app: 'db' }, ports: [{ name: 'sql', containerPort: 5433 }] }),
];
const policies = [
  policy('x', 'srv-in', {
    podSelector: { matchLabels: { app: 'srv' } },
    ingress: [
      { from: [{ podSelector: { matchLabels: { app: 'cli' } } }], ports: [{ port: 'web' }, { port: 9000, endPort: 9100 }] },
      { from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/24'] } }], ports: [{ protocol: 'UDP' }, { protocol: 'SCTP', port: 3868 }] },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] },
    ],
  }),
  policy('x', 'cli-out', {
    podSelector: { matchLabels: { app: 'cli' } },
    policyTypes: ['Egress'],
    egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'db' } } }], ports: [{ port: 'sql' }] }, { ports: [{ protocol: 'UDP', port: 53 }] }],
  }),
];
const LOCAL = ['10.0.0.10', '10.0.0.11', '10.0.0.12'];
const PEERS = ['10.0.0.10', '10.0.0.12', '10.0.1.5', '10.0.1.6', '10.0.2.9', '10.1.0.1', '192.168.99.1', '8.8.8.8'];
const QUERIES: [number, number][] = [[TCP, 8080], [TCP, 9000], [TCP, 9050], [TCP, 9100], [TCP, 9101], [TCP, 5432], [TCP, 5433], [UDP, 53], [UDP, 7], [SCTP, 3868], [SCTP, 3869], [ICMP, 0]];

function state(): { revision: number; egressIsolated: number } {
  const ref = openPinnedMap(pinDir, 'pol_state');
  try {
    return decodeState(new RawMap(ref).get(Buffer.alloc(4))!);
  } finally {
    ref.close();
  }
}

function count(name: 'pol_ports' | 'pol_slots' | 'pol_sets' | 'pol_endpoints'): number {
  const ref = openPinnedMap(pinDir, name);
  try {
    return [...new RawMap(ref).keys()].length;
  } finally {
    ref.close();
  }
}

function agree(c: CompiledPolicy): number {
  const ev = new PolicyEvaluator(c);
  const live = new LivePolicy(pinDir);
  const eps = openEndpoints(pinDir);
  let checked = 0;
  try {
    for (const ip of LOCAL) {
      const flags = eps.get(ip)!.flags;
      for (const dir of ['ingress', 'egress'] as const) {
        for (const peer of PEERS) {
          for (const [proto, port] of QUERIES) {
            expect({ ip, dir, peer, proto, port, slot: live.judge(ip, dir, peer, proto, port, flags) }).toEqual({ ip, dir, peer, proto, port, slot: ev.judge(ip, dir, peer, proto, port) });
            checked++;
          }
        }
      }
    }
  } finally {
    live.close();
    eps.close();
  }
  return checked;
}

beforeAll(async () => {
  await loadDatapath({ pinDir });
  const eps = openEndpoints(pinDir);
  LOCAL.forEach((ip, i) => eps.set(ep(ip, i)));
  eps.close();
});

afterAll(async () => {
  await unloadDatapath({ pinDir });
});

describe('PolicyWriter on a loaded datapath', () => {
  const c1 = compile({ pods, policies, local: LOCAL, hostIps: ['192.168.99.1'] });

  it('writes the compiled policy; the kernel lookups agree with the compiled model', () => {
    const w = new PolicyWriter(pinDir);
    const s = w.apply(c1);
    w.close();
    expect(s.changed).toBe(true);
    expect(s.revision).toBe(1);
    expect(s.deletes).toBe(0);
    expect(s.egressIsolated).toBe(1);
    expect(state()).toEqual({ revision: 1, egressIsolated: 1 });
    const eps = openEndpoints(pinDir);
    expect(LOCAL.map((ip) => eps.get(ip)!.flags)).toEqual([1, 1, 2]);
    eps.close();
    expect(agree(c1)).toBe(LOCAL.length * 2 * PEERS.length * QUERIES.length);
    // spot checks of the semantics through the kernel's answers
    const live = new LivePolicy(pinDir);
    expect(live.judge('10.0.0.10', 'ingress', '10.0.0.12', TCP, 8080, 1)).toBe(0);
    expect(live.judge('10.0.0.10', 'ingress', '10.0.2.9', SCTP, 3868, 1)).toBe(1);
    expect(live.judge('10.0.0.12', 'egress', '10.0.1.6', TCP, 5433, 2)).not.toBe(0xfe);
    expect(live.judge('10.0.0.12', 'egress', '10.0.1.6', TCP, 5432, 2)).toBe(0xfe);
    live.close();
  });

  it('a restarted writer (fresh instance) with the same input writes nothing', () => {
    const w = new PolicyWriter(pinDir);
    const s = w.apply(compile({ pods: [...pods].reverse(), policies: [...policies].reverse(), local: [...LOCAL].reverse(), hostIps: ['192.168.99.1'] }));
    w.close();
    expect(s).toMatchObject({ writes: 0, deletes: 0, changed: false, revision: 1 });
    expect(state().revision).toBe(1);
  });

  it('a change bumps the revision once, rewrites members in place and deletes what nothing references', () => {
    const w = new PolicyWriter(pinDir);
    const morePods = [...pods, pod({ ns: 'x', name: 'cli2', ip: '10.0.0.13', labels: { app: 'cli' } })];
    const c2 = compile({ pods: morePods, policies, local: LOCAL, hostIps: ['192.168.99.1'] });
    const s2 = w.apply(c2);
    expect(s2).toMatchObject({ changed: true, revision: 2, writes: 2, deletes: 0 }); // one set member + pol_state
    expect(agree(c2)).toBeGreaterThan(0);
    const c3 = compile({ pods: morePods, policies: [policies[1]!], local: LOCAL, hostIps: ['192.168.99.1'] });
    const s3 = w.apply(c3);
    expect(s3.changed).toBe(true);
    expect(s3.revision).toBe(3);
    expect(s3.deletes).toBeGreaterThan(0);
    const eps = openEndpoints(pinDir);
    expect(LOCAL.map((ip) => eps.get(ip)!.flags)).toEqual([0, 0, 2]);
    eps.close();
    expect(agree(c3)).toBeGreaterThan(0);
    expect(count('pol_endpoints')).toBe(1);
    const c4 = compile({ pods: morePods, policies: [], local: LOCAL, hostIps: ['192.168.99.1'] });
    const s4 = w.apply(c4);
    expect(s4).toMatchObject({ changed: true, revision: 4, egressIsolated: 0 });
    expect([count('pol_endpoints'), count('pol_ports'), count('pol_slots'), count('pol_sets')]).toEqual([0, 0, 0, 1]); // the host set stays
    expect(state()).toEqual({ revision: 4, egressIsolated: 0 });
    expect(w.apply(c4)).toMatchObject({ writes: 0, deletes: 0, changed: false, revision: 4 });
    w.close();
  });

  it('never resurrects a deleted endpoint: flags are written with BPF_EXIST only to endpoints the CNI wrote', () => {
    const eps = openEndpoints(pinDir);
    eps.delete('10.0.0.12');
    const w = new PolicyWriter(pinDir);
    const s = w.apply(c1);
    w.close();
    expect(eps.get('10.0.0.12')).toBeUndefined();
    expect(s.missingEndpoints).toBe(1);
    expect(s.egressIsolated).toBe(0);
    expect(eps.get('10.0.0.10')!.flags).toBe(1);
    eps.close();
  });
});

describe('PolicyWriter capacity', () => {
  const small = `/sys/fs/bpf/pwtest-policy-cp-small-${tag}`;
  afterAll(async () => {
    await unloadDatapath({ pinDir: small });
  });

  it('refuses before writing anything when a map would overflow, naming the map and the define to raise', async () => {
    await loadDatapath({ pinDir: small, defines: { PW_POL_SETS_MAX: 4 } });
    const w = new PolicyWriter(small);
    const big = compile({ pods, policies, local: LOCAL, hostIps: ['192.168.99.1'] });
    expect(big.sets.reduce((n, s) => n + s.entries.length, 0)).toBeGreaterThan(4);
    expect(() => w.apply(big)).toThrow(/needs \d+ entries in pol_sets .* holds 4: nothing was written.*PW_POL_SETS_MAX/);
    const ref = openPinnedMap(small, 'pol_ports');
    expect([...new RawMap(ref).keys()].length).toBe(0);
    ref.close();
    // a policy that fits is written
    const fits = compile({ pods, policies: [policy('x', 'deny', { podSelector: {}, ingress: [] })], local: LOCAL, hostIps: ['192.168.99.1'] });
    expect(w.apply(fits).changed).toBe(true);
    w.close();
  });
});
