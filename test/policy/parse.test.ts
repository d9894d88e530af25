// API JSON -> records: defaults applied, malformed input a warning (never a throw, never wider).
import { describe, expect, it } from 'vitest';
import { namespaceRecord, parsePolicy, podRecord } from '../../src/policy/index.js';

describe('parsePolicy', () => {
  it('defaults policyTypes and protocol as the API server does', () => {
    const { policy, warnings } = parsePolicy({ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] } });
    expect(warnings).toEqual([]);
    expect(policy!.policyTypes).toEqual(['Ingress']);
    expect(policy!.ingress![0]!.ports).toEqual([{ protocol: 'TCP', port: 80 }]);
    expect(parsePolicy({ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, egress: [{}] } }).policy!.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(parsePolicy({ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, egress: [] } }).policy!.policyTypes).toEqual(['Ingress']);
    expect(parsePolicy({ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, policyTypes: ['Egress'] } }).policy!.policyTypes).toEqual(['Egress']);
  });

  it('never throws; malformed parts become warnings and admit nothing', () => {
    for (const junk of [null, 1, 'x', [], {}, { metadata: {} }, { metadata: { namespace: 'x', name: 'p' } }, { metadata: { namespace: 'x', name: 'p' }, spec: 7 }]) {
      const r = parsePolicy(junk);
      expect(r.policy).toBeUndefined();
      expect(r.warnings.length).toBeGreaterThan(0);
    }
    const bad = parsePolicy({
      metadata: { namespace: 'x', name: 'p' },
      spec: {
        podSelector: {},
        ingress: [
          { from: [{ podSelector: { matchExpressions: [{ key: 'a', operator: 'Bogus' }] } }] },
          { ports: [{ protocol: 'ICMP', port: 1 }] },
          { ports: [{ port: 70000 }, { port: 80, endPort: 10 }] },
          { from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] },
          { from: [{ podSelector: {} }], ports: [{ port: 'web', protocol: 'UDP' }] },
        ],
      },
    });
    expect(bad.policy!.ingress!.length).toBe(5);
    expect(bad.policy!.ingress!.slice(0, 4).every((r) => (r as { dead?: boolean }).dead)).toBe(true);
    expect(bad.policy!.ingress![4]!.ports).toEqual([{ protocol: 'UDP', port: 'web' }]);
    expect(bad.warnings.map((w) => w.code).sort()).toEqual(['INVALID_POLICY', 'INVALID_POLICY', 'INVALID_POLICY', 'INVALID_POLICY', 'INVALID_SELECTOR']);
    expect(bad.warnings.every((w) => w.policy === 'x/p')).toBe(true);
    // an unreadable podSelector: which pods it isolates is unknowable -> not applied
    expect(parsePolicy({ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: { matchLabels: 'x' } } }).policy).toBeUndefined();
  });
});

describe('podRecord / namespaceRecord', () => {
  it('compact records: first IPv4, named ports with protocol, terminal pods without an IP', () => {
    const p = podRecord({
      metadata: { namespace: 'x', name: 'a', labels: { app: 'a', n: 1 } },
      spec: { nodeName: 'n1', containers: [{ ports: [{ name: 'web', containerPort: 80 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }, { containerPort: 9 }] }] },
      status: { phase: 'Running', podIPs: [{ ip: 'fd00::1' }, { ip: '10.0.0.1' }] },
    });
    expect(p).toEqual({ namespace: 'x', name: 'a', ip: '10.0.0.1', node: 'n1', hostNetwork: false, labels: { app: 'a' }, ports: [{ name: 'web', protocol: 'TCP', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }] });
    expect(podRecord({ metadata: { namespace: 'x', name: 'a' }, status: { phase: 'Succeeded', podIP: '10.0.0.1' } })!.ip).toBeUndefined();
    expect(podRecord({ metadata: { namespace: 'x', name: 'a' }, spec: { hostNetwork: true }, status: { podIP: '192.168.1.1' } })!.hostNetwork).toBe(true);
    for (const junk of [null, 3, {}, { metadata: { name: 'a' } }]) expect(podRecord(junk)).toBeUndefined();
    expect(namespaceRecord({ metadata: { name: 'x', labels: { team: 'a' } } })).toEqual({ name: 'x', labels: { 'kubernetes.io/metadata.name': 'x', team: 'a' } });
    expect(namespaceRecord({})).toBeUndefined();
  });
});
