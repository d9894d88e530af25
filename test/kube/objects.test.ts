import { describe, expect, it } from 'vitest';
import { nodeFacts, podFacts } from '../../src/kube/objects.js';

describe('nodeFacts / podFacts', () => {
  it('reads podCIDRs (plural first), the IPv4 InternalIP, and ignores IPv6', () => {
    expect(
      nodeFacts({
        metadata: { name: 'n1' },
        spec: { podCIDR: '10.244.9.0/24', podCIDRs: ['fd00::/64', '10.244.1.0/24'] },
        status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: 'fd00::1' }, { type: 'InternalIP', address: '172.30.0.11' }] },
      }),
    ).toEqual({ name: 'n1', podCIDRs: ['10.244.1.0/24'], internalIp: '172.30.0.11' });
    expect(nodeFacts({ metadata: { name: 'n2' }, spec: { podCIDR: '10.244.2.0/24' } })).toEqual({ name: 'n2', podCIDRs: ['10.244.2.0/24'] });
    expect(nodeFacts({ metadata: { name: 'n3' } })).toEqual({ name: 'n3', podCIDRs: [] });
  });

  it('reads pod IPs, node and hostNetwork', () => {
    expect(
      podFacts({
        metadata: { name: 'p', namespace: 'default', uid: 'u1' },
        spec: { nodeName: 'n1', hostNetwork: false, containers: [] },
        status: { podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00::5' }] },
      }),
    ).toEqual({ namespace: 'default', name: 'p', uid: 'u1', nodeName: 'n1', hostNetwork: false, ips: ['10.244.1.5'] });
    expect(podFacts({ metadata: { name: 'h', namespace: 'kube-system' }, spec: { hostNetwork: true, containers: [] }, status: { podIP: '172.30.0.11' } })).toEqual({
      namespace: 'kube-system',
      name: 'h',
      hostNetwork: true,
      ips: ['172.30.0.11'],
    });
    expect(podFacts({ metadata: { name: 'pending', namespace: 'd' } }).ips).toEqual([]);
  });
});
