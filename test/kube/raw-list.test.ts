// rawList against the lab API server (in process): pages through limit/continue, converts every
// item, returns the snapshot's resourceVersion for the watch, and lists objects whose shape a
// typed client would refuse to deserialize.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { rawList, rawPages } from '../../src/kube/raw-list.js';
import { call, kubeConfigFor, pod, withServer } from '../apiserver/harness.js';

let s: ApiServer;
let kc: KubeConfig;
beforeAll(async () => {
  s = await withServer();
  kc = kubeConfigFor(s);
});
afterAll(async () => {
  await s?.stop();
});

describe('rawList', () => {
  it('pages through every item and returns the list resourceVersion', async () => {
    for (let i = 0; i < 7; i++) expect((await call(s.url, 'POST', '/api/v1/namespaces/default/pods', pod(`p${i}`, { nodeName: i % 2 ? 'a' : 'b' }))).status).toBe(201);
    const seen: unknown[] = [];
    const l = await rawList(kc, '/api/v1/pods', (o) => (seen.push(o), { metadata: { name: (o as { metadata: { name: string } }).metadata.name } }), { pageSize: 3 });
    expect(l.items.map((i) => i.metadata?.name).sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    expect(seen).toHaveLength(7);
    expect(Number(l.metadata?.resourceVersion)).toBeGreaterThan(0);
    const onA = await rawList(kc, '/api/v1/pods', (o) => o as { metadata: { name: string } }, { fieldSelector: 'spec.nodeName=a', pageSize: 2 });
    expect(onA.items.map((i) => i.metadata.name).sort()).toEqual(['p1', 'p3', 'p5']);
    // the first page tells the whole list's size (remainingItemCount), before its items; a
    // filtered list does not know it
    const told: [number, number][] = [];
    let items = 0;
    await rawPages(kc, '/api/v1/pods', () => items++, { pageSize: 3, onTotal: (n) => told.push([n, items]) });
    expect(told).toEqual([[7, 0]]);
    const toldA: number[] = [];
    await rawPages(kc, '/api/v1/pods', () => undefined, { fieldSelector: 'spec.nodeName=a', pageSize: 2, onTotal: (n) => toldA.push(n) });
    expect(toldA).toEqual([]);
  });

  it('lists a NetworkPolicy whose rules are not a list as plain JSON (no model deserialization)', async () => {
    const np = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'odd', namespace: 'default' }, spec: { podSelector: {}, ingress: 5 } };
    expect((await call(s.url, 'POST', '/apis/networking.k8s.io/v1/namespaces/default/networkpolicies', np)).status).toBe(201);
    const l = await rawList(kc, '/apis/networking.k8s.io/v1/networkpolicies', (o) => o as { metadata: { name: string }; spec: { ingress: unknown } });
    expect(l.items.map((i) => [i.metadata.name, i.spec.ingress])).toEqual([['odd', 5]]);
  });

  it('an HTTP error rejects with its status code', async () => {
    await expect(rawList(kc, '/api/v1/nothings', (o) => o as never)).rejects.toMatchObject({ statusCode: 404 });
  });
});
