// What the lab kubelet hands the CNI chain for a Pod, compared with what containerd's CRI sends
// (pkg/cri/server: toCNIPortMappings, toCNIBandWidth; K8S_POD_* CNI_ARGS).
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { bandwidth, capabilityArgs, criCniArgs, parseQuantity, portMappings, servePorts } from '../../src/lab/pod-network.js';
import { parseServePorts } from '../../src/lab/serve.js';

const pod = (extra: Partial<V1Pod> = {}): V1Pod => ({
  metadata: { name: 'web', namespace: 'shop', uid: 'u-1', ...extra.metadata },
  spec: {
    containers: [
      { name: 'a', image: 'x', ports: [{ name: 'http', containerPort: 80, hostPort: 8080 }, { containerPort: 53, protocol: 'UDP', hostPort: 5353, hostIP: '172.30.0.11' }, { name: 'metrics', containerPort: 9100 }] },
      { name: 'b', image: 'y', ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 7, protocol: 'SCTP' }] },
    ],
    ...extra.spec,
  },
});

describe('CRI-equivalent CNI arguments', () => {
  it('CNI_ARGS carry the K8S_POD_* keys in containerd\'s order', () => {
    expect(criCniArgs({ namespace: 'shop', name: 'web', uid: 'u-1' }, 'abc')).toBe('IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1');
  });

  it('portMappings: only ports with a hostPort, protocol lowercased (TCP by default), hostIP as given', () => {
    expect(portMappings(pod())).toEqual([
      { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '172.30.0.11' },
    ]);
  });

  it('bandwidth from the annotations in bit/s with MaxUint32 bursts; absent without annotations', () => {
    expect(bandwidth(pod())).toBeUndefined();
    expect(capabilityArgs(pod())).not.toHaveProperty('bandwidth');
    const both = pod({ metadata: { annotations: { 'kubernetes.io/ingress-bandwidth': '10M', 'kubernetes.io/egress-bandwidth': '1Gi' } } });
    expect(bandwidth(both)).toEqual({ ingressRate: 10_000_000, ingressBurst: 4294967295, egressRate: 1073741824, egressBurst: 4294967295 });
    const egressOnly = pod({ metadata: { annotations: { 'kubernetes.io/egress-bandwidth': '500k' } } });
    expect(bandwidth(egressOnly)).toEqual({ ingressRate: 0, ingressBurst: 0, egressRate: 500_000, egressBurst: 4294967295 });
    expect(() => bandwidth(pod({ metadata: { annotations: { 'kubernetes.io/ingress-bandwidth': '10' } } }))).toThrow(/outside 1k\.\.1P/);
    expect(() => bandwidth(pod({ metadata: { annotations: { 'kubernetes.io/ingress-bandwidth': 'fast' } } }))).toThrow(/not a Kubernetes quantity/);
  });

  it('parses quantities as Quantity.Value() does (rounded up)', () => {
    expect(parseQuantity('1')).toBe(1);
    expect(parseQuantity('1k')).toBe(1000);
    expect(parseQuantity('1.5M')).toBe(1_500_000);
    expect(parseQuantity('1.1M')).toBe(1_100_000);
    expect(parseQuantity('2Mi')).toBe(2 * 1024 * 1024);
    expect(parseQuantity('1e6')).toBe(1_000_000);
    expect(parseQuantity('1500m')).toBe(2);
    expect(() => parseQuantity('1.5.5')).toThrow();
  });

  it('the pod answers on every TCP/UDP container port once (SCTP has no lab server)', () => {
    expect(servePorts(pod())).toEqual([{ protocol: 'tcp', port: 80 }, { protocol: 'udp', port: 53 }, { protocol: 'tcp', port: 9100 }]);
    expect(parseServePorts('tcp:80,udp:53')).toEqual([{ protocol: 'tcp', port: 80 }, { protocol: 'udp', port: 53 }]);
    expect(() => parseServePorts('tcp:0')).toThrow(/tcp:PORT/);
    expect(() => parseServePorts('sctp:9')).toThrow(/tcp:PORT/);
  });
});
