// CRUD over HTTP with the real server's semantics: server-owned metadata, one global
// resourceVersion, optimistic concurrency (409 Conflict), Status objects shaped like the real
// API server's, status subresource rules, patches, generateName, namespace cascade.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { call, pod, withServer } from './harness.js';

let s: ApiServer;
beforeAll(async () => {
  s = await withServer();
});
afterAll(async () => {
  await s?.stop();
});

describe('apiserver CRUD', () => {
  it('starts with the system namespaces and answers discovery', async () => {
    const ns = await call(s.url, 'GET', '/api/v1/namespaces');
    expect(ns.status).toBe(200);
    expect(ns.body.kind).toBe('NamespaceList');
    expect(ns.body.items.map((n: any) => n.metadata.name)).toEqual(expect.arrayContaining(['default', 'kube-system']));
    const res = await call(s.url, 'GET', '/api/v1');
    const names = res.body.resources.map((r: any) => r.name);
    expect(names).toEqual(expect.arrayContaining(['pods', 'pods/status', 'nodes', 'nodes/status', 'namespaces']));
    expect(res.body.resources.find((r: any) => r.name === 'pods')).toMatchObject({ namespaced: true, kind: 'Pod', shortNames: ['po'] });
    expect(res.body.resources.find((r: any) => r.name === 'nodes')).toMatchObject({ namespaced: false, kind: 'Node' });
    expect((await call(s.url, 'GET', '/api')).body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = (await call(s.url, 'GET', '/apis')).body;
    expect(groups.kind).toBe('APIGroupList');
    expect(groups.groups.map((g: any) => g.preferredVersion.groupVersion)).toEqual(['discovery.k8s.io/v1', 'networking.k8s.io/v1']);
    expect((await call(s.url, 'GET', '/apis/networking.k8s.io')).body).toMatchObject({ kind: 'APIGroup', name: 'networking.k8s.io' });
    const net = (await call(s.url, 'GET', '/apis/networking.k8s.io/v1')).body;
    expect(net.resources.map((r: any) => r.name)).toEqual(['networkpolicies']);
    const disc = (await call(s.url, 'GET', '/apis/discovery.k8s.io/v1')).body;
    expect(disc.resources.map((r: any) => `${r.name} ${r.kind}`)).toEqual(['endpointslices EndpointSlice']);
    expect(names).toEqual(expect.arrayContaining(['services', 'services/status', 'pods/binding']));
    expect((await call(s.url, 'GET', '/apis/nothing.example/v1')).status).toBe(404);
    expect((await call(s.url, 'GET', '/version')).body).toMatchObject({ major: '1', minor: '34' });
    expect((await call(s.url, 'GET', '/_podwire/healthz')).body).toMatchObject({ ok: true });
  });

  it('create fills server metadata and bumps one global resourceVersion', async () => {
    const before = s.resourceVersion;
    const a = await call(s.url, 'POST', '/api/v1/namespaces/default/pods', pod('crud-a'));
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'crud-a', namespace: 'default' }, status: { phase: 'Pending' } });
    expect(a.body.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.body.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Number(a.body.metadata.resourceVersion)).toBe(before + 1);
    const n = await call(s.url, 'POST', '/api/v1/nodes', { metadata: { name: 'crud-node' } });
    // The node gets its own version; node-IPAM's update follows with another one.
    expect(Number(n.body.metadata.resourceVersion)).toBe(before + 2);
    expect(s.resourceVersion).toBe(before + 3);
    const got = await call(s.url, 'GET', '/api/v1/namespaces/default/pods/crud-a');
    expect(got.body).toEqual(a.body);
  });

  it('answers errors with Status objects shaped like the real server', async () => {
    const missing = await call(s.url, 'GET', '/api/v1/namespaces/default/pods/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: 'pods "nope" not found', reason: 'NotFound', details: { name: 'nope', kind: 'pods' }, code: 404,
    });
    const dup = await call(s.url, 'POST', '/api/v1/namespaces/default/pods', pod('crud-a'));
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({ reason: 'AlreadyExists', message: 'pods "crud-a" already exists', code: 409 });
    const bad = await call(s.url, 'POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'Bad_Name' }, spec: {} });
    expect(bad.status).toBe(422);
    expect(bad.body.reason).toBe('Invalid');
    expect(bad.body.message).toMatch(/^Pod "Bad_Name" is invalid: \[metadata.name: Invalid value: "Bad_Name"/);
    expect(bad.body.details.causes.map((c: any) => c.field)).toEqual(['metadata.name', 'spec.containers']);
    const noNs = await call(s.url, 'POST', '/api/v1/namespaces/ghost/pods', pod('x'));
    expect(noNs.status).toBe(404);
    expect(noNs.body.message).toBe('namespaces "ghost" not found');
    const wrongPath = await call(s.url, 'GET', '/api/v1/widgets');
    expect(wrongPath.status).toBe(404);
    expect(wrongPath.body.message).toBe('the server could not find the requested resource');
    const badSel = await call(s.url, 'GET', '/api/v1/pods?fieldSelector=spec.colour%3Dred');
    expect(badSel.status).toBe(400);
    expect(badSel.body).toMatchObject({ reason: 'BadRequest', message: 'field label not supported: spec.colour' });
  });

  it('update is optimistic: a stale resourceVersion gets 409 Conflict, an empty one is unconditional', async () => {
    const cur = (await call(s.url, 'GET', '/api/v1/namespaces/default/pods/crud-a')).body;
    const v1 = { ...cur, metadata: { ...cur.metadata, labels: { tier: 'one' } } };
    const ok = await call(s.url, 'PUT', '/api/v1/namespaces/default/pods/crud-a', v1);
    expect(ok.status).toBe(200);
    expect(Number(ok.body.metadata.resourceVersion)).toBeGreaterThan(Number(cur.metadata.resourceVersion));
    expect(ok.body.metadata.uid).toBe(cur.metadata.uid);
    const stale = await call(s.url, 'PUT', '/api/v1/namespaces/default/pods/crud-a', { ...v1, metadata: { ...v1.metadata, labels: { tier: 'two' } } });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on pods "crud-a": the object has been modified; please apply your changes to the latest version and try again',
      details: { name: 'crud-a', kind: 'pods' },
    });
    const uncond = await call(s.url, 'PUT', '/api/v1/namespaces/default/pods/crud-a', {
      ...v1, metadata: { ...v1.metadata, resourceVersion: undefined, labels: { tier: 'three' } },
    });
    expect(uncond.status).toBe(200);
    expect(uncond.body.metadata.labels).toEqual({ tier: 'three' });
    // A write that changes nothing keeps the version (etcd skips identical writes).
    const same = await call(s.url, 'PUT', '/api/v1/namespaces/default/pods/crud-a', uncond.body);
    expect(same.body.metadata.resourceVersion).toBe(uncond.body.metadata.resourceVersion);
    const renamed = await call(s.url, 'PUT', '/api/v1/namespaces/default/pods/crud-a', { ...uncond.body, metadata: { ...uncond.body.metadata, name: 'other' } });
    expect(renamed.status).toBe(400);
    const missing = await call(s.url, 'PUT', '/api/v1/namespaces/default/pods/ghost', pod('ghost'));
    expect(missing.status).toBe(404);
  });

  it('the status subresource changes only status; the main resource keeps status', async () => {
    const cur = (await call(s.url, 'GET', '/api/v1/namespaces/default/pods/crud-a')).body;
    const st = await call(s.url, 'PUT', '/api/v1/namespaces/default/pods/crud-a/status', {
      ...cur, metadata: { ...cur.metadata, labels: { ignored: 'yes' } }, status: { phase: 'Running', podIP: '10.244.0.7', podIPs: [{ ip: '10.244.0.7' }] },
    });
    expect(st.status).toBe(200);
    expect(st.body.status).toMatchObject({ phase: 'Running', podIP: '10.244.0.7' });
    expect(st.body.metadata.labels).toEqual(cur.metadata.labels);
    const main = await call(s.url, 'PUT', '/api/v1/namespaces/default/pods/crud-a', { ...st.body, status: { phase: 'Failed' } });
    expect(main.body.status.phase).toBe('Running');
    const patched = await call(s.url, 'PATCH', '/api/v1/namespaces/default/pods/crud-a/status', { status: { phase: 'Succeeded' } }, 'application/merge-patch+json');
    expect(patched.body.status).toMatchObject({ phase: 'Succeeded', podIP: '10.244.0.7' });
  });

  it('patches: merge, strategic (as merge) and JSON patch; apply-patch is 415', async () => {
    const p = '/api/v1/namespaces/default/pods/crud-a';
    const m = await call(s.url, 'PATCH', p, { metadata: { labels: { a: '1', tier: null } } }, 'application/merge-patch+json');
    expect(m.status).toBe(200);
    expect(m.body.metadata.labels).toEqual({ a: '1' });
    const sm = await call(s.url, 'PATCH', p, { metadata: { labels: { b: '2' } }, $setElementOrder: {} }, 'application/strategic-merge-patch+json');
    expect(sm.body.metadata.labels).toEqual({ a: '1', b: '2' });
    expect(sm.body.$setElementOrder).toBeUndefined();
    const jp = await call(s.url, 'PATCH', p, [{ op: 'test', path: '/metadata/labels/a', value: '1' }, { op: 'remove', path: '/metadata/labels/a' }, { op: 'add', path: '/metadata/annotations', value: { x: 'y' } }], 'application/json-patch+json');
    expect(jp.status).toBe(200);
    expect(jp.body.metadata.labels).toEqual({ b: '2' });
    expect(jp.body.metadata.annotations).toEqual({ x: 'y' });
    const stale = await call(s.url, 'PATCH', p, { metadata: { resourceVersion: '1', labels: { c: '3' } } }, 'application/merge-patch+json');
    expect(stale.status).toBe(409);
    const apply = await call(s.url, 'PATCH', p, 'metadata: {}', 'application/apply-patch+yaml');
    expect(apply.status).toBe(415);
    expect(apply.body.reason).toBe('UnsupportedMediaType');
  });

  it('generateName gives a unique name with a five-character suffix', async () => {
    const a = await call(s.url, 'POST', '/api/v1/namespaces/default/pods', { ...pod(''), metadata: { generateName: 'gen-' } });
    const b = await call(s.url, 'POST', '/api/v1/namespaces/default/pods', { ...pod(''), metadata: { generateName: 'gen-' } });
    expect(a.status).toBe(201);
    expect(a.body.metadata.name).toMatch(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(b.body.metadata.name).not.toBe(a.body.metadata.name);
  });

  it('delete returns the pod, a Status for nodes, honours preconditions; namespaces take their pods along', async () => {
    const cur = (await call(s.url, 'GET', '/api/v1/namespaces/default/pods/crud-a')).body;
    const pre = await call(s.url, 'DELETE', '/api/v1/namespaces/default/pods/crud-a', { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'not-it' } });
    expect(pre.status).toBe(409);
    const del = await call(s.url, 'DELETE', '/api/v1/namespaces/default/pods/crud-a');
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ kind: 'Pod', metadata: { name: 'crud-a', uid: cur.metadata.uid } });
    expect((await call(s.url, 'GET', '/api/v1/namespaces/default/pods/crud-a')).status).toBe(404);
    const node = await call(s.url, 'DELETE', '/api/v1/nodes/crud-node');
    expect(node.body).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'crud-node', kind: 'nodes' } });

    expect((await call(s.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'crud-ns' } })).body.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'crud-ns' });
    await call(s.url, 'POST', '/api/v1/namespaces/crud-ns/pods', pod('p1'));
    await call(s.url, 'POST', '/api/v1/namespaces/crud-ns/pods', pod('p2'));
    expect((await call(s.url, 'GET', '/api/v1/namespaces/crud-ns/pods')).body.items).toHaveLength(2);
    const ns = await call(s.url, 'DELETE', '/api/v1/namespaces/crud-ns');
    expect(ns.body).toMatchObject({ kind: 'Namespace', status: { phase: 'Terminating' } });
    expect((await call(s.url, 'GET', '/api/v1/pods?fieldSelector=metadata.namespace%3Dcrud-ns')).body.items).toHaveLength(0);
  });

  it('in-process objects API applies the same rules and can keep status on create', async () => {
    const p = s.objects.create('pods', { ...pod('inproc'), status: { phase: 'Running', podIP: '10.244.9.9' } } as any, { keepStatus: true });
    expect(p.status).toMatchObject({ phase: 'Running', podIP: '10.244.9.9' });
    expect(() => s.objects.create('pods', pod('inproc') as any)).toThrow(/already exists/);
    expect(s.objects.get('pods', 'default', 'inproc')?.metadata.uid).toBe(p.metadata.uid);
    s.objects.delete('pods', 'default', 'inproc');
    expect(s.objects.get('pods', 'default', 'inproc')).toBeUndefined();
  });
  it('stores core/v1 Events in a namespace: create (generateName), get, list with an involvedObject field selector', async () => {
    const ev = (name: string) => ({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${name}.`, namespace: 'default' },
      involvedObject: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespace: 'default', name },
      reason: 'IPV6_CIDR',
      message: 'an IPv6 ipBlock never matches',
      type: 'Warning',
    });
    const a = await call(s.url, 'POST', '/api/v1/namespaces/default/events', ev('pol-a'));
    expect(a.status).toBe(201);
    expect(a.body.metadata.name).toMatch(/^pol-a\./);
    await call(s.url, 'POST', '/api/v1/namespaces/default/events', ev('pol-b'));
    const got = await call(s.url, 'GET', `/api/v1/namespaces/default/events/${a.body.metadata.name}`);
    expect(got.body).toMatchObject({ kind: 'Event', reason: 'IPV6_CIDR', type: 'Warning', involvedObject: { kind: 'NetworkPolicy', name: 'pol-a' } });
    const l = await call(s.url, 'GET', '/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dpol-b');
    expect(l.body.kind).toBe('EventList');
    expect(l.body.items.map((e: any) => e.involvedObject.name)).toEqual(['pol-b']);
    const bad = await call(s.url, 'POST', '/api/v1/namespaces/default/events', { apiVersion: 'v1', kind: 'Event', metadata: { name: 'x', namespace: 'default' } });
    expect(bad.status).toBe(422);
  });
});
