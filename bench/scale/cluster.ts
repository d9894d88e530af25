// The simulated cluster's objects: deterministic names, node IPs and podCIDRs, so the
// orchestrator knows what the agent must converge to without asking the server.
import type { KubeObject } from '../../src/apiserver/index.js';

export const CLUSTER_CIDR = '10.0.0.0/8';
/** /24 per node out of 10.0.0.0/8: room for 65,536 nodes (GKE's ceiling is 65,000). */
export const MAX_NODES = 65_536;

export const nodeName = (i: number) => `sim-${i}`;
export const nodeCidr = (i: number) => `10.${(i >>> 8) & 255}.${i & 255}.0/24`;
export const nodeIp = (i: number) => `100.${64 + ((i >>> 16) & 63)}.${(i >>> 8) & 255}.${i & 255}`;

export function nodeObject(name: string, cidr: string, ip: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'podwire.io/bench': 'scale' } },
    spec: { podCIDR: cidr, podCIDRs: [cidr] },
    status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }], conditions: [{ type: 'Ready', status: 'True' }] },
  } as KubeObject;
}

/** Pod k of the cluster: spread round-robin over the simulated nodes, IP inside that node's /24. */
export function podObject(k: number, nodes: number): KubeObject {
  const i = k % nodes;
  const slot = Math.floor(k / nodes);
  const base = nodeCidr(i).split('.').slice(0, 3).join('.');
  const ip = `${base}.${2 + (slot % 250)}`;
  const name = `pod-${k}`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: `app-${k % 1000}` } },
    spec: { nodeName: nodeName(i), containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
    status: { phase: 'Running', hostIP: nodeIp(i), podIP: ip, podIPs: [{ ip }] },
  } as KubeObject;
}
