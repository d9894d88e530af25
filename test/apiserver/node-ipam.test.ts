// Node-IPAM: podCIDR assignment like kube-controller-manager's range allocator — a separate
// update after the create (watchers see ADDED then MODIFIED), next free subnet of the mask,
// podCIDR immutable once set, subnets released on delete, nothing assigned when exhausted.
import { afterAll, describe, expect, it } from 'vitest';
import { NodeCidrAllocator, type ApiServer } from '../../src/apiserver/index.js';
import { isPodwireError } from '../../src/errors/index.js';
import { call, WatchReader, withServer } from './harness.js';

const servers: ApiServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});
const start = async (o: Parameters<typeof withServer>[0]) => {
  const s = await withServer(o);
  servers.push(s);
  return s;
};
const cidrOf = async (s: ApiServer, name: string) => (await call(s.url, 'GET', `/api/v1/nodes/${name}`)).body.spec;

describe('node-IPAM', () => {
  it('assigns the next free /24 of 10.244.0.0/16 by a separate update, and releases it on delete', async () => {
    const s = await start({});
    const w = new WatchReader(s.url, `/api/v1/nodes?watch=true&resourceVersion=${s.resourceVersion}`);
    await w.headers;
    const created = await call(s.url, 'POST', '/api/v1/nodes', { metadata: { name: 'n1' } });
    // The create response is the object as written: the controller's update comes after.
    expect(created.body.spec.podCIDR).toBeUndefined();
    expect(await cidrOf(s, 'n1')).toEqual({ podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] });
    await call(s.url, 'POST', '/api/v1/nodes', { metadata: { name: 'n2' } });
    expect((await cidrOf(s, 'n2')).podCIDR).toBe('10.244.1.0/24');
    await w.waitFor(4);
    expect(w.events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.spec.podCIDR ?? '-'}`)).toEqual([
      'ADDED n1 -', 'MODIFIED n1 10.244.0.0/24', 'ADDED n2 -', 'MODIFIED n2 10.244.1.0/24',
    ]);
    w.close();

    // A node that brings its own podCIDR keeps it and takes it out of the pool.
    const own = await call(s.url, 'POST', '/api/v1/nodes', { metadata: { name: 'n3' }, spec: { podCIDR: '10.244.2.0/24' } });
    expect(own.body.spec).toEqual({ podCIDR: '10.244.2.0/24', podCIDRs: ['10.244.2.0/24'] });
    await call(s.url, 'POST', '/api/v1/nodes', { metadata: { name: 'n4' } });
    expect((await cidrOf(s, 'n4')).podCIDR).toBe('10.244.3.0/24');

    // podCIDR is immutable once set (ValidateNodeUpdate).
    const cur = (await call(s.url, 'GET', '/api/v1/nodes/n1')).body;
    const change = await call(s.url, 'PUT', '/api/v1/nodes/n1', { ...cur, spec: { podCIDR: '10.244.9.0/24', podCIDRs: ['10.244.9.0/24'] } });
    expect(change.status).toBe(422);
    expect(change.body.message).toMatch(/node updates may not change podCIDR/);

    expect(s.stats().podCIDRsAllocated).toBe(4);
    await call(s.url, 'DELETE', '/api/v1/nodes/n1');
    expect(s.stats().podCIDRsAllocated).toBe(3);
  });

  it('honours cluster CIDR and mask, rotates past released subnets, and leaves nodes unassigned when exhausted', async () => {
    const s = await start({ clusterCIDR: '10.99.0.0/24', nodeCIDRMaskSize: 26 });
    for (const n of ['a', 'b', 'c', 'd']) await call(s.url, 'POST', '/api/v1/nodes', { metadata: { name: n } });
    expect(await Promise.all(['a', 'b', 'c', 'd'].map(async (n) => (await cidrOf(s, n)).podCIDR))).toEqual([
      '10.99.0.0/26', '10.99.0.64/26', '10.99.0.128/26', '10.99.0.192/26',
    ]);
    await call(s.url, 'POST', '/api/v1/nodes', { metadata: { name: 'e' } });
    expect((await cidrOf(s, 'e')).podCIDR).toBeUndefined();
    await call(s.url, 'DELETE', '/api/v1/nodes/b');
    await call(s.url, 'POST', '/api/v1/nodes', { metadata: { name: 'f' } });
    expect((await cidrOf(s, 'f')).podCIDR).toBe('10.99.0.64/26');
  });

  it('rejects a bad cluster CIDR or mask with a message that names the key', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const e1 = err(() => new NodeCidrAllocator('10.244.0.1/16', 24));
    expect(isPodwireError(e1, 'CONFIG_INVALID') && e1.message).toMatch(/clusterCIDR "10.244.0.1\/16" has host bits set/);
    const e2 = err(() => new NodeCidrAllocator('10.244.0.0/16', 8));
    expect(isPodwireError(e2, 'CONFIG_INVALID') && e2.message).toMatch(/nodeCIDRMaskSize 8/);
    // 65,536 node subnets (the benchmark's 65,000 nodes) fit a /8 with /24s.
    expect(new NodeCidrAllocator('10.0.0.0/8', 24).capacity).toBe(65536);
  });
});
