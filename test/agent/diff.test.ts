// The reconcile core without Kubernetes or a kernel: desired routes from Node facts, the diff
// against what a map holds, and that a relist never turns into a flush.
import { describe, expect, it } from 'vitest';
import { diffByKey, isEmptyDiff } from '../../src/agent/diff.js';
import { desiredRoutes, diffRoutes, type Route } from '../../src/agent/routes.js';
import type { NodeFacts } from '../../src/kube/objects.js';

const node = (name: string, cidr: string | string[] | undefined, ip?: string): NodeFacts => ({
  name,
  podCIDRs: cidr === undefined ? [] : Array.isArray(cidr) ? cidr : [cidr],
  ...(ip === undefined ? {} : { internalIp: ip }),
});

describe('desiredRoutes', () => {
  it('maps every podCIDR to its node, local for our own node', () => {
    const d = desiredRoutes([node('a', '10.244.0.0/24', '172.30.0.11'), node('b', '10.244.1.0/24', '172.30.0.12')], 'a');
    expect([...d.routes.values()]).toEqual([
      { cidr: '10.244.0.0/24', nodeIp: '172.30.0.11', kind: 'local' },
      { cidr: '10.244.1.0/24', nodeIp: '172.30.0.12', kind: 'remote' },
    ]);
    expect(d.ownPodCIDR).toBe('10.244.0.0/24');
    expect(d.ownNodeIp).toBe('172.30.0.11');
    expect(d.skipped).toEqual([]);
  });

  it('skips nodes without podCIDR or InternalIP, and says why', () => {
    const d = desiredRoutes([node('a', '10.244.0.0/24', '172.30.0.11'), node('b', undefined, '172.30.0.12'), node('c', '10.244.2.0/24')], 'a');
    expect([...d.routes.keys()]).toEqual(['10.244.0.0/24']);
    expect(d.skipped).toEqual([
      { node: 'b', reason: 'no podCIDR yet' },
      { node: 'c', reason: 'no IPv4 InternalIP' },
    ]);
  });

  it('our own node has no podCIDR yet: nothing local, ownPodCIDR undefined', () => {
    const d = desiredRoutes([node('a', undefined, '172.30.0.11'), node('b', '10.244.1.0/24', '172.30.0.12')], 'a');
    expect(d.ownPodCIDR).toBeUndefined();
    expect([...d.routes.values()].map((r) => r.kind)).toEqual(['remote']);
  });

  it('a podCIDR claimed twice goes to our own node first, else to the first name, on every agent alike', () => {
    const nodes = [node('z', '10.244.5.0/24', '172.30.0.19'), node('m', '10.244.5.0/24', '172.30.0.18')];
    expect(desiredRoutes(nodes, 'x').routes.get('10.244.5.0/24')?.nodeIp).toBe('172.30.0.18');
    expect(desiredRoutes([...nodes].reverse(), 'y').routes.get('10.244.5.0/24')?.nodeIp).toBe('172.30.0.18');
    const self = desiredRoutes(nodes, 'z');
    expect(self.routes.get('10.244.5.0/24')).toEqual({ cidr: '10.244.5.0/24', nodeIp: '172.30.0.19', kind: 'local' });
    expect(self.skipped).toEqual([{ node: 'm', reason: 'podCIDR 10.244.5.0/24 is also claimed by z' }]);
  });

  it('dual podCIDRs (spec.podCIDRs) each get a route', () => {
    const d = desiredRoutes([node('b', ['10.244.1.0/24', '10.245.1.0/24'], '172.30.0.12')], 'a');
    expect([...d.routes.keys()]).toEqual(['10.244.1.0/24', '10.245.1.0/24']);
  });
});

describe('diffRoutes', () => {
  const r = (cidr: string, nodeIp: string, kind: Route['kind'] = 'remote'): Route => ({ cidr, nodeIp, kind });

  it('adds, updates and removes only what differs', () => {
    const desired = new Map([r('10.244.0.0/24', '1.1.1.1', 'local'), r('10.244.1.0/24', '2.2.2.2'), r('10.244.3.0/24', '4.4.4.4')].map((x) => [x.cidr, x]));
    const actual = [r('10.244.0.0/24', '1.1.1.1', 'local'), r('10.244.1.0/24', '9.9.9.9'), r('10.244.2.0/24', '3.3.3.3')];
    const d = diffRoutes(desired, actual);
    expect(d.add).toEqual([r('10.244.3.0/24', '4.4.4.4')]);
    expect(d.update).toEqual([r('10.244.1.0/24', '2.2.2.2')]);
    expect(d.remove).toEqual(['10.244.2.0/24']);
    expect(d.unchanged).toBe(1);
  });

  it('a kind change (node became ours) is an update', () => {
    const d = diffRoutes(new Map([['10.244.1.0/24', r('10.244.1.0/24', '2.2.2.2', 'local')]]), [r('10.244.1.0/24', '2.2.2.2', 'remote')]);
    expect(d.update).toHaveLength(1);
  });

  it('a relist of the same cluster is an empty diff, never a flush and re-add', () => {
    const routes = Array.from({ length: 200 }, (_, i) => r(`10.${100 + (i >> 8)}.${i & 255}.0/24`, `172.30.${i >> 8}.${i & 255}`));
    const desired = new Map(routes.map((x) => [x.cidr, x]));
    const d = diffRoutes(desired, [...routes].reverse());
    expect(isEmptyDiff(d)).toBe(true);
    expect(d.unchanged).toBe(200);
  });

  it('an empty desired set removes everything (callers only pass a synced cache)', () => {
    const d = diffByKey(new Map<string, number>(), new Map([['a', 1], ['b', 2]]), (x, y) => x === y);
    expect(d.remove.sort()).toEqual(['a', 'b']);
  });
});
