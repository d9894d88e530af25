// The controllers inside the API server process, driven over HTTP and observed through a watch:
// the EndpointSlice controller (pods published with an IP and a Ready condition through the
// status subresource, named target ports resolved per pod, label changes, readiness, deletes)
// and the tiny scheduler (fewest pods, Ready nodes only, taints, waiting for a node) plus the
// pods/binding subresource.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { call, withServer } from './harness.js';

let s: ApiServer;
beforeAll(async () => {
  s = await withServer();
});
afterAll(async () => {
  await s?.stop();
});

const SLICES = '/apis/discovery.k8s.io/v1/namespaces/ctl/endpointslices';

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await f();
    if (last !== undefined) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const webPod = (name: string, port: number, labels: Record<string, string> = { app: 'web' }, portName = 'http') => ({
  metadata: { name, labels },
  spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x', ports: [{ name: portName, containerPort: port }] }] },
});

async function publish(name: string, ip: string, ready: boolean): Promise<void> {
  const cur = (await call(s.url, 'GET', `/api/v1/namespaces/ctl/pods/${name}`)).body;
  const r = await call(s.url, 'PUT', `/api/v1/namespaces/ctl/pods/${name}/status`, {
    ...cur,
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

/** The slices of a service as "ip:ports ready" strings, sorted. */
async function view(svc: string): Promise<string[]> {
  const list = await call(s.url, 'GET', `${SLICES}?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${svc}`)}`);
  const out: string[] = [];
  for (const sl of list.body.items) {
    const ports = (sl.ports ?? []).map((p: any) => `${p.name}/${p.protocol}/${p.port}`).join(',');
    for (const ep of sl.endpoints) out.push(`${ep.addresses[0]} ${ports} ${ep.conditions.ready ? 'ready' : 'notready'} ${ep.targetRef.name}`);
  }
  return out.sort();
}

const settle = (svc: string, want: string[]) =>
  until(`${svc} slices = ${JSON.stringify(want)}`, async () => {
    const v = await view(svc);
    return JSON.stringify(v) === JSON.stringify(want) ? v : undefined;
  });

describe('EndpointSlice controller', () => {
  it('keeps a Service\'s slices equal to the ready Pods it selects, resolving named ports per pod', async () => {
    await call(s.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'ctl' } });
    for (const [n, port] of [['w1', 8080], ['w2', 9090]] as const) {
      expect((await call(s.url, 'POST', '/api/v1/namespaces/ctl/pods', webPod(n, port))).status).toBe(201);
    }
    // w3 selects but has no port named "http": left out of that port group (its own slice, no ports).
    await call(s.url, 'POST', '/api/v1/namespaces/ctl/pods', webPod('w3', 7070, { app: 'web' }, 'other'));
    await call(s.url, 'POST', '/api/v1/namespaces/ctl/pods', webPod('x1', 8080, { app: 'other' }));
    const svc = await call(s.url, 'POST', '/api/v1/namespaces/ctl/services', {
      metadata: { name: 'web', labels: { tier: 'front' } },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'fixed', port: 81, targetPort: 5000, protocol: 'UDP' }] },
    });
    expect(svc.status).toBe(201);
    // No pod has an IP yet: one empty placeholder slice.
    const empty = await until('placeholder slice', async () => {
      const l = await call(s.url, 'GET', SLICES);
      return l.body.items.length === 1 ? l.body.items[0] : undefined;
    });
    expect(empty.endpoints).toEqual([]);
    expect(empty.metadata.labels).toEqual({
      tier: 'front', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
    });
    expect(empty.metadata.ownerReferences[0]).toMatchObject({ kind: 'Service', name: 'web', uid: svc.body.metadata.uid, controller: true });
    expect(empty.addressType).toBe('IPv4');

    await publish('w1', '10.244.0.11', true);
    await publish('w2', '10.244.0.12', false);
    await publish('w3', '10.244.0.13', true);
    await publish('x1', '10.244.0.14', true);
    await settle('web', [
      '10.244.0.11 http/TCP/8080,fixed/UDP/5000 ready w1',
      '10.244.0.12 http/TCP/9090,fixed/UDP/5000 notready w2',
      '10.244.0.13 fixed/UDP/5000 ready w3',
    ]);
    const full = (await call(s.url, 'GET', SLICES)).body.items.flatMap((sl: any) => sl.endpoints);
    expect(full.find((e: any) => e.targetRef.name === 'w2')).toEqual({
      addresses: ['10.244.0.12'],
      conditions: { ready: false, serving: false, terminating: false },
      nodeName: 'n1',
      targetRef: { kind: 'Pod', namespace: 'ctl', name: 'w2', uid: expect.any(String) },
    });
  });

  it('follows readiness, label changes and pod deletes; recreates a slice deleted by hand', async () => {
    await publish('w2', '10.244.0.12', true);
    await call(s.url, 'PATCH', '/api/v1/namespaces/ctl/pods/w3', { metadata: { labels: { app: 'gone' } } }, 'application/strategic-merge-patch+json');
    await call(s.url, 'PATCH', '/api/v1/namespaces/ctl/pods/x1', { metadata: { labels: { app: 'web' } } }, 'application/merge-patch+json');
    await settle('web', [
      '10.244.0.11 http/TCP/8080,fixed/UDP/5000 ready w1',
      '10.244.0.12 http/TCP/9090,fixed/UDP/5000 ready w2',
      '10.244.0.14 http/TCP/8080,fixed/UDP/5000 ready x1',
    ]);
    await call(s.url, 'DELETE', '/api/v1/namespaces/ctl/pods/w1');
    await settle('web', ['10.244.0.12 http/TCP/9090,fixed/UDP/5000 ready w2', '10.244.0.14 http/TCP/8080,fixed/UDP/5000 ready x1']);
    const one = (await call(s.url, 'GET', SLICES)).body.items[0];
    await call(s.url, 'DELETE', `${SLICES}/${one.metadata.name}`);
    await settle('web', ['10.244.0.12 http/TCP/9090,fixed/UDP/5000 ready w2', '10.244.0.14 http/TCP/8080,fixed/UDP/5000 ready x1']);
  });

  it('removes the slices when the Service is deleted or loses its selector', async () => {
    await call(s.url, 'POST', '/api/v1/namespaces/ctl/services', { metadata: { name: 'manual' }, spec: { selector: { app: 'web' }, ports: [{ port: 1 }] } });
    await until('manual slices', async () => ((await view('manual')).length === 2 ? true : undefined));
    await call(s.url, 'PATCH', '/api/v1/namespaces/ctl/services/manual', { spec: { selector: null } }, 'application/merge-patch+json');
    await until('manual slices gone', async () => ((await call(s.url, 'GET', `${SLICES}?labelSelector=kubernetes.io/service-name%3Dmanual`)).body.items.length === 0 ? true : undefined));
    expect((await call(s.url, 'DELETE', '/api/v1/namespaces/ctl/services/web')).status).toBe(200);
    await until('all slices gone', async () => ((await call(s.url, 'GET', SLICES)).body.items.length === 0 ? true : undefined));
    // A cluster-wide list of slices also works (kube-proxy's view).
    const all = await call(s.url, 'GET', '/apis/discovery.k8s.io/v1/endpointslices');
    expect(all.body).toMatchObject({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', items: [] });
  });
});

describe('scheduler and pods/binding', () => {
  const ready = (name: string, extra: Record<string, unknown> = {}) => ({
    metadata: { name },
    spec: extra,
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const nodeOf = async (ns: string, name: string) => (await call(s.url, 'GET', `/api/v1/namespaces/${ns}/pods/${name}`)).body.spec.nodeName as string | undefined;

  it('binds an unbound pod to the Ready node with the fewest pods, waits when none fits', async () => {
    await call(s.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'sch' } });
    // No Ready node yet: the pod waits.
    await call(s.url, 'POST', '/api/v1/namespaces/sch/pods', { metadata: { name: 'early' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    await new Promise((r) => setTimeout(r, 200));
    expect(await nodeOf('sch', 'early')).toBeUndefined();
    s.objects.create('nodes', ready('busy') as any, { keepStatus: true });
    s.objects.create('nodes', ready('idle') as any, { keepStatus: true });
    s.objects.create('nodes', ready('tainted', { taints: [{ key: 'k', effect: 'NoSchedule' }] }) as any, { keepStatus: true });
    s.objects.create('nodes', { metadata: { name: 'notready' } } as any);
    await until('early bound', async () => (await nodeOf('sch', 'early')) || undefined);
    for (let i = 0; i < 3; i++) {
      await call(s.url, 'POST', '/api/v1/namespaces/sch/pods', { metadata: { name: `b${i}` }, spec: { nodeName: 'busy', containers: [{ name: 'c', image: 'x' }] } });
    }
    await call(s.url, 'POST', '/api/v1/namespaces/sch/pods', { metadata: { name: 'free' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    expect(await until('free bound', async () => (await nodeOf('sch', 'free')) || undefined)).toBe('idle');
    // A toleration opens the tainted node, which has the fewest pods (none).
    await call(s.url, 'POST', '/api/v1/namespaces/sch/pods', { metadata: { name: 'tol' }, spec: { tolerations: [{ key: 'k', operator: 'Exists' }], containers: [{ name: 'c', image: 'x' }] } });
    expect(await until('tol bound', async () => (await nodeOf('sch', 'tol')) || undefined)).toBe('tainted');
  });

  it('pods/binding binds once; a second bind is a 409', async () => {
    const sched = await withServer({ scheduler: false });
    try {
      await call(sched.url, 'POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
      const b = await call(sched.url, 'POST', '/api/v1/namespaces/default/pods/p/binding', { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { kind: 'Node', name: 'n9' } });
      expect(b.status, JSON.stringify(b.body)).toBe(201);
      expect(b.body).toMatchObject({ kind: 'Status', status: 'Success' });
      expect((await call(sched.url, 'GET', '/api/v1/namespaces/default/pods/p')).body.spec.nodeName).toBe('n9');
      const again = await call(sched.url, 'POST', '/api/v1/namespaces/default/pods/p/binding', { target: { name: 'n8' } });
      expect(again.status).toBe(409);
      expect(again.body.message).toBe('Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "n9"');
    } finally {
      await sched.stop();
    }
  });
});
