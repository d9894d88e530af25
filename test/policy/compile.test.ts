// Compiler semantics, checked through the TS model of the datapath lookups (PolicyEvaluator).
import { describe, expect, it } from 'vitest';
import { compilePolicy, PolicyEvaluator, SLOT_DENY, SLOT_HOST } from '../../src/policy/index.js';
import { compilePorts, rangePrefixes } from '../../src/policy/ports.js';
import { compile, ICMP, ns, pod, policy, SCTP, TCP, UDP } from './helpers.js';

const srv = (extra: Partial<Parameters<typeof pod>[0]> = {}) => pod({ ns: 'x', name: 'srv', ip: '10.0.0.10', labels: { app: 'srv' }, ...extra });
const a = pod({ ns: 'x', name: 'a', ip: '10.0.0.1', labels: { app: 'a' }, ports: [{ name: 'web', containerPort: 8080 }] });
const b = pod({ ns: 'y', name: 'b', ip: '10.0.1.1', labels: { app: 'a' }, ports: [{ name: 'web', containerPort: 9090 }] });
const allowed = (v: number | undefined) => v !== undefined && v !== SLOT_DENY;

describe('isolation and rule shapes', () => {
  it('ingress: [] isolates and admits nothing; ingress: [{}] admits everything; no policy leaves the pod open', () => {
    const deny = compile({ pods: [srv(), a], policies: [policy('x', 'deny', { podSelector: {}, ingress: [] })], local: ['10.0.0.10'] });
    const ev = new PolicyEvaluator(deny);
    expect(ev.judge('10.0.0.10', 'ingress', '10.0.0.1', TCP, 80)).toBe(SLOT_DENY);
    expect(ev.judge('10.0.0.10', 'egress', '10.0.0.1', TCP, 80)).toBeUndefined();
    expect(deny.endpoints[0]!.flags).toBe(1);
    const all = new PolicyEvaluator(compile({ pods: [srv(), a], policies: [policy('x', 'all', { podSelector: {}, ingress: [{}] })], local: ['10.0.0.10'] }));
    expect(allowed(all.judge('10.0.0.10', 'ingress', '8.8.8.8', UDP, 53))).toBe(true);
    expect(allowed(all.judge('10.0.0.10', 'ingress', '8.8.8.8', ICMP, 0))).toBe(true);
    const empty = new PolicyEvaluator(compile({ pods: [srv(), a], policies: [policy('x', 'e', { podSelector: {}, ingress: [{ from: [], ports: [] }] })], local: ['10.0.0.10'] }));
    expect(allowed(empty.judge('10.0.0.10', 'ingress', '8.8.8.8', TCP, 1))).toBe(true);
    const none = compile({ pods: [srv(), a], policies: [policy('y', 'other-ns', { podSelector: {}, ingress: [] })], local: ['10.0.0.10'] });
    expect(none.endpoints).toEqual([]);
  });

  it('policyTypes: egress-only isolates egress only; Egress defaults in when egress rules exist', () => {
    const c = compile({ pods: [srv(), a], policies: [policy('x', 'eg', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] })], local: ['10.0.0.10'] });
    const ev = new PolicyEvaluator(c);
    expect(ev.judge('10.0.0.10', 'ingress', '10.0.0.1', TCP, 80)).toBeUndefined();
    expect(allowed(ev.judge('10.0.0.10', 'egress', '1.1.1.1', UDP, 53))).toBe(true);
    expect(ev.judge('10.0.0.10', 'egress', '1.1.1.1', TCP, 53)).toBe(SLOT_DENY);
    expect(c.endpoints[0]!.flags).toBe(2);
    const d = compile({ pods: [srv()], policies: [policy('x', 'both', { podSelector: {}, egress: [{}] })], local: ['10.0.0.10'] });
    expect(d.endpoints[0]!.flags).toBe(3);
  });

  it('the union of policies and rules admits; ICMP only through rules without ports', () => {
    const c = compile({
      pods: [srv(), a, b],
      policies: [
        policy('x', 'p1', { podSelector: { matchLabels: { app: 'srv' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }], ports: [{ port: 80 }] }] }),
        policy('x', 'p2', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] }),
      ],
      local: ['10.0.0.10'],
    });
    const ev = new PolicyEvaluator(c);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.0.0.1', TCP, 80))).toBe(true);
    expect(ev.judge('10.0.0.10', 'ingress', '10.0.0.1', ICMP, 0)).toBe(SLOT_DENY);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.0.1.1', ICMP, 0))).toBe(true);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.0.1.1', UDP, 5000))).toBe(true);
    expect(c.endpoints[0]!.policies.ingress).toEqual(['x/p1', 'x/p2']);
  });

  it('namespaceSelector AND podSelector in one peer; matchExpressions', () => {
    const c = compile({
      pods: [srv(), a, b, pod({ ns: 'y', name: 'c', ip: '10.0.1.2', labels: { app: 'c' } })],
      namespaces: [ns('x'), ns('y', { team: 'blue' })],
      policies: [
        policy('x', 'p', {
          podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['srv'] }] },
          ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } }, podSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['c'] }] } }] }],
        }),
      ],
      local: ['10.0.0.10'],
    });
    const ev = new PolicyEvaluator(c);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.0.1.1', TCP, 1))).toBe(true);
    expect(ev.judge('10.0.0.10', 'ingress', '10.0.1.2', TCP, 1)).toBe(SLOT_DENY);
    expect(ev.judge('10.0.0.10', 'ingress', '10.0.0.1', TCP, 1)).toBe(SLOT_DENY);
  });
});

describe('ports', () => {
  it('TCP/UDP/SCTP, all ports of a protocol, endPort ranges; any-proto bits carried into longer entries', () => {
    const c = compile({
      pods: [srv(), a],
      policies: [
        policy('x', 'p', {
          podSelector: {},
          ingress: [
            { ports: [{ protocol: 'SCTP', port: 3868 }] },
            { from: [{ ipBlock: { cidr: '10.9.0.0/16' } }], ports: [{ protocol: 'TCP', port: 8000, endPort: 8080 }] },
            { from: [{ ipBlock: { cidr: '10.8.0.0/16' } }], ports: [{ protocol: 'UDP' }] },
            { from: [{ ipBlock: { cidr: '10.7.0.0/16' } }] },
          ],
        }),
      ],
      local: ['10.0.0.10'],
    });
    const ev = new PolicyEvaluator(c);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '1.2.3.4', SCTP, 3868))).toBe(true);
    expect(ev.judge('10.0.0.10', 'ingress', '1.2.3.4', TCP, 3868)).toBe(SLOT_DENY);
    expect(ev.judge('10.0.0.10', 'ingress', '1.2.3.4', SCTP, 3869)).toBe(SLOT_DENY);
    for (const port of [8000, 8001, 8040, 8079, 8080]) expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.9.1.1', TCP, port))).toBe(true);
    for (const port of [7999, 8081]) expect(ev.judge('10.0.0.10', 'ingress', '10.9.1.1', TCP, port)).toBe(SLOT_DENY);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.8.1.1', UDP, 12345))).toBe(true);
    expect(ev.judge('10.0.0.10', 'ingress', '10.8.1.1', TCP, 12345)).toBe(SLOT_DENY);
    // the any-port slot (10.7/16) must be carried into the SCTP, TCP-range and UDP entries
    for (const [proto, port] of [[SCTP, 3868], [TCP, 8040], [UDP, 1], [ICMP, 0]] as const) expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.7.0.1', proto, port))).toBe(true);
  });

  it('range decomposition into aligned prefixes, overlapping ranges as elementary intervals', () => {
    expect(rangePrefixes(8000, 8080)).toEqual([
      { value: 8000, len: 10 },
      { value: 8064, len: 12 },
      { value: 8080, len: 16 },
    ]);
    expect(rangePrefixes(1, 65535).length).toBe(16);
    const e = compilePorts([[{ proto: 6, lo: 10, hi: 20 }], [{ proto: 6, lo: 15, hi: 30 }], [{ proto: 0, lo: 0, hi: 65535 }]]);
    const bitsAt = (port: number) => {
      let best: { prefixlen: number; slots: bigint } | undefined;
      for (const x of e) {
        const n = x.prefixlen - 48;
        const ok = x.prefixlen === 32 || (x.proto === 6 && (n === 0 || port >>> (16 - n) === x.port >>> (16 - n)));
        if (ok && (!best || x.prefixlen > best.prefixlen)) best = x;
      }
      return best?.slots;
    };
    expect(bitsAt(9)).toBe(0b100n);
    expect(bitsAt(12)).toBe(0b101n);
    expect(bitsAt(15)).toBe(0b111n);
    expect(bitsAt(25)).toBe(0b110n);
    expect(bitsAt(31)).toBe(0b100n);
  });

  it('named ports: ingress resolves on the local pod, egress per peer pod (one slot per number), never on ipBlocks', () => {
    const local = pod({ ns: 'x', name: 'srv', ip: '10.0.0.10', labels: { app: 'srv' }, ports: [{ name: 'web', containerPort: 7070 }] });
    const c = compile({
      pods: [local, a, b],
      namespaces: [ns('x'), ns('y')],
      policies: [
        policy('x', 'in', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] }),
        policy('x', 'out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }, { ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ port: 'web' }] }] }),
      ],
      local: ['10.0.0.10'],
    });
    const ev = new PolicyEvaluator(c);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.0.0.1', TCP, 7070))).toBe(true);
    expect(ev.judge('10.0.0.10', 'ingress', '10.0.0.1', TCP, 8080)).toBe(SLOT_DENY);
    expect(allowed(ev.judge('10.0.0.10', 'egress', '10.0.0.1', TCP, 8080))).toBe(true);
    expect(ev.judge('10.0.0.10', 'egress', '10.0.0.1', TCP, 9090)).toBe(SLOT_DENY);
    expect(allowed(ev.judge('10.0.0.10', 'egress', '10.0.1.1', TCP, 9090))).toBe(true);
    expect(ev.judge('10.0.0.10', 'egress', '10.5.5.5', TCP, 8080)).toBe(SLOT_DENY); // ipBlock: no named port
    const eg = c.rulesets.find((r) => r.direction === 'egress')!;
    expect(eg.slots.map((s) => s.ports).sort()).toEqual(['TCP/7070', 'TCP/8080', 'TCP/9090']);
    const unresolved = compile({ pods: [srv(), a], policies: [policy('x', 'in', { podSelector: {}, ingress: [{ ports: [{ port: 'nope' }] }] })], local: ['10.0.0.10'] });
    expect(unresolved.warnings.map((w) => w.code)).toContain('NAMED_PORT_UNRESOLVED');
    expect(new PolicyEvaluator(unresolved).judge('10.0.0.10', 'ingress', '10.0.0.1', TCP, 80)).toBe(SLOT_DENY);
  });
});

describe('peers', () => {
  it('ipBlock with excepts matches pod IPs too; pods inside an except stay members through their /32', () => {
    const c = compile({
      pods: [srv(), a],
      policies: [
        policy('x', 'p', {
          podSelector: {},
          ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/24', '10.0.1.128/25'] } }, { podSelector: { matchLabels: { app: 'a' } } }] }],
        }),
      ],
      local: ['10.0.0.10'],
    });
    const ev = new PolicyEvaluator(c);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.0.0.1', TCP, 1))).toBe(true); // pod a, inside the except
    expect(ev.judge('10.0.0.10', 'ingress', '10.0.0.2', TCP, 1)).toBe(SLOT_DENY); // in the except
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.0.1.1', TCP, 1))).toBe(true);
    expect(ev.judge('10.0.0.10', 'ingress', '10.0.1.200', TCP, 1)).toBe(SLOT_DENY);
    expect(ev.judge('10.0.0.10', 'ingress', '10.1.0.1', TCP, 1)).toBe(SLOT_DENY);
    const set = c.sets.find((s) => s.id !== 1)!;
    expect(set.entries).toEqual([
      { cidr: '10.0.0.0/16', include: true },
      { cidr: '10.0.0.0/24', include: false },
      { cidr: '10.0.0.1/32', include: true },
      { cidr: '10.0.1.128/25', include: false },
    ]);
  });

  it('hostNetwork pods and Failed/Succeeded pods are never selector members; the host is always admitted for ingress', () => {
    const hn = pod({ ns: 'x', name: 'hn', ip: '192.168.99.2', labels: { app: 'a' }, hostNetwork: true });
    const failed = pod({ ns: 'x', name: 'f', ip: '10.0.0.3', labels: { app: 'a' }, phase: 'Failed' });
    expect(failed.ip).toBeUndefined();
    const c = compile({ pods: [srv(), a, hn, failed], policies: [policy('x', 'p', { podSelector: { matchLabels: { app: 'srv' } }, ingress: [{ from: [{ podSelector: {} }] }], egress: [{ to: [{ podSelector: {} }] }] })], local: ['10.0.0.10'], hostIps: ['192.168.99.1'] });
    const ev = new PolicyEvaluator(c);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.0.0.1', TCP, 1))).toBe(true);
    expect(ev.judge('10.0.0.10', 'ingress', '192.168.99.2', TCP, 1)).toBe(SLOT_DENY);
    expect(ev.judge('10.0.0.10', 'ingress', '10.0.0.3', TCP, 1)).toBe(SLOT_DENY);
    expect(ev.judge('10.0.0.10', 'ingress', '192.168.99.1', TCP, 1)).toBe(SLOT_HOST);
    expect(ev.judge('10.0.0.10', 'egress', '192.168.99.1', TCP, 1)).toBe(SLOT_DENY); // egress to the node: subject to policy
  });

  it('IPv6 CIDRs warn and never match', () => {
    const c = compile({ pods: [srv()], policies: [policy('x', 'p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'fd00::/8' } }] }] })], local: ['10.0.0.10'] });
    expect(c.warnings.map((w) => w.code)).toEqual(['IPV6_CIDR']);
    expect(new PolicyEvaluator(c).judge('10.0.0.10', 'ingress', '10.0.0.1', TCP, 1)).toBe(SLOT_DENY);
  });
});

describe('slots, ids, sharing', () => {
  const manyRules = (n: number, samePorts: boolean) =>
    policy('x', 'many', {
      podSelector: {},
      ingress: Array.from({ length: n }, (_, i) => ({ from: [{ ipBlock: { cidr: `10.${100 + (i >> 8)}.${i & 255}.0/24` } }], ports: [{ port: samePorts ? 80 : 1000 + i }] })),
    });

  it('more than 64 slots: rules with equal ports merge into one slot with the union set', () => {
    const c = compile({ pods: [srv()], policies: [manyRules(100, true)], local: ['10.0.0.10'] });
    const rs = c.rulesets[0]!;
    expect(rs.slots.length).toBe(1);
    expect(rs.slots[0]!.rules.length).toBe(100);
    const ev = new PolicyEvaluator(c);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.100.99.7', TCP, 80))).toBe(true);
    expect(ev.judge('10.0.0.10', 'ingress', '10.100.100.7', TCP, 80)).toBe(SLOT_DENY);
    expect(c.warnings).toEqual([]);
  });

  it('still more than 64: SLOTS_EXCEEDED and the rest fail closed', () => {
    const c = compile({ pods: [srv()], policies: [manyRules(70, false)], local: ['10.0.0.10'] });
    expect(c.rulesets[0]!.slots.length).toBe(64);
    expect(c.warnings.map((w) => w.code)).toEqual(['SLOTS_EXCEEDED']);
    const ev = new PolicyEvaluator(c);
    expect(allowed(ev.judge('10.0.0.10', 'ingress', '10.100.63.1', TCP, 1063))).toBe(true);
    expect(ev.judge('10.0.0.10', 'ingress', '10.100.64.1', TCP, 1064)).toBe(SLOT_DENY);
  });

  it('ids are stable and never reserved; pods with the same effective policy share a ruleset; sets are named by definition', () => {
    const pods = [srv(), pod({ ns: 'x', name: 'srv2', ip: '10.0.0.11', labels: { app: 'srv' } }), a];
    const pols = [policy('x', 'p', { podSelector: { matchLabels: { app: 'srv' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }] }] })];
    const c1 = compile({ pods, policies: pols, local: ['10.0.0.10', '10.0.0.11'] });
    const c2 = compile({ pods: [...pods].reverse(), policies: pols, local: ['10.0.0.11', '10.0.0.10'] });
    expect(c2).toEqual(c1);
    expect(c1.rulesets.length).toBe(1);
    expect(c1.endpoints.map((e) => e.ingress)).toEqual([c1.rulesets[0]!.id, c1.rulesets[0]!.id]);
    for (const id of [...c1.sets.map((s) => s.id), ...c1.rulesets.map((r) => r.id), ...c1.policyIds.keys()]) expect(id).not.toBe(0);
    expect(c1.sets.filter((s) => s.id === 1).length).toBe(1);
    // a new member pod changes the set's entries, not its id nor the ruleset
    const c3 = compile({ pods: [...pods, pod({ ns: 'x', name: 'a2', ip: '10.0.0.2', labels: { app: 'a' } })], policies: pols, local: ['10.0.0.10', '10.0.0.11'] });
    expect(c3.rulesets).toEqual(c1.rulesets);
    expect(c3.sets.find((s) => s.id !== 1)!.entries.length).toBe(2);
  });

  it('a 5,000-pod / 500-policy cluster compiles with selectors resolved across namespaces', () => {
    const pods = Array.from({ length: 5000 }, (_, i) => pod({ ns: `ns${i % 50}`, name: `p${i}`, ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, labels: { app: `a${i % 10}` } }));
    const pols = Array.from({ length: 500 }, (_, i) => policy(`ns${i % 50}`, `pol${i}`, { podSelector: { matchLabels: { app: `a${i % 10}` } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: `a${(i + 1) % 10}` } } }] }] }));
    const c = compilePolicy({
      pods: new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p])),
      namespaces: new Map(),
      policies: new Map(pols.map((p) => [`${p.namespace}/${p.name}`, p])),
      localIps: new Set(pods.slice(0, 110).map((p) => p.ip!)),
      hostIps: [],
    });
    expect(c.endpoints.length).toBe(110);
    const ev = new PolicyEvaluator(c);
    // p0 (ns0, a0) is selected by pol0/pol10/... admitting app a1 from every namespace
    expect(allowed(ev.judge(pods[0]!.ip!, 'ingress', pods[4001]!.ip!, TCP, 1))).toBe(true);
    expect(ev.judge(pods[0]!.ip!, 'ingress', pods[4002]!.ip!, TCP, 1)).toBe(SLOT_DENY);
  });
});
