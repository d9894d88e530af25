// Service addresses for svc_addrs and the pod of a CNI ADD: the pure conversions the agent's
// NetworkPolicy loop relies on (the map writes are exercised by test/agent/policy.test.ts).
import { describe, expect, it } from 'vitest';
import { addedPod } from '../../src/agent/cni-server.js';
import { serviceAddrs } from '../../src/agent/services.js';

describe('serviceAddrs', () => {
  it('takes ClusterIPs, externalIPs and load-balancer ingress IPs, IPv4 only, deduplicated', () => {
    expect(
      serviceAddrs({
        spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00::a'], externalIPs: ['192.0.2.1', '192.0.2.1', 'nonsense'] },
        status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }, { hostname: 'lb.example' }, { ip: '2001:db8::1' }] } },
      }),
    ).toEqual(['10.96.0.10', '192.0.2.1', '198.51.100.7']);
  });

  it('falls back to spec.clusterIP; a headless Service has no address', () => {
    expect(serviceAddrs({ spec: { clusterIP: '10.96.1.1' } })).toEqual(['10.96.1.1']);
    expect(serviceAddrs({ spec: { clusterIP: 'None', clusterIPs: ['None'] } })).toEqual([]);
  });

  it('never throws on malformed objects', () => {
    expect(serviceAddrs(null)).toBeUndefined();
    expect(serviceAddrs('x')).toBeUndefined();
    expect(serviceAddrs({ spec: 5, status: { loadBalancer: { ingress: 'x' } } })).toEqual([]);
    expect(serviceAddrs({ spec: { clusterIPs: [1, null, '10.0.0.256'], externalIPs: {} } })).toEqual([]);
  });
});

describe('addedPod', () => {
  const env = { CNI_COMMAND: 'ADD', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0;K8S_POD_UID=u' };
  it('reads the pod from CNI_ARGS and its first IPv4 address from the result', () => {
    const result = { cniVersion: '1.0.0', ips: [{ address: 'fd00::5/64' }, { address: '10.244.0.5/24', gateway: '10.244.0.1' }] };
    expect(addedPod(env, JSON.stringify(result))).toEqual({ namespace: 'ns1', name: 'web-0', ip: '10.244.0.5' });
  });
  it('is undefined without the pod names or an IPv4 result', () => {
    expect(addedPod({ CNI_ARGS: 'K8S_POD_NAME=x' }, '{"ips":[{"address":"10.0.0.1/24"}]}')).toBeUndefined();
    expect(addedPod(env, 'not json')).toBeUndefined();
    expect(addedPod(env, '{"ips":"x"}')).toBeUndefined();
    expect(addedPod(env, '{"ips":[{"address":"fd00::1/64"}]}')).toBeUndefined();
  });
});
