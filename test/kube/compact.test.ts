// Compact informer records: what the ListWatch cache keeps for an object (keyed by its metadata),
// and that a converter's failure never escapes (it would make client-node drop the event).
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { compactInformer, compactOf, recordsOf } from '../../src/kube/compact.js';
import { podRecord } from '../../src/policy/parse.js';
import { PodStore } from '../../src/policy/pod-store.js';
import type { KubeObject } from '../../src/apiserver/index.js';
import { call, kubeConfigFor, pod, withServer } from '../apiserver/harness.js';

async function waitFor(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('compactOf', () => {
  it('keeps the metadata the cache keys and diffs on, and the record', () => {
    const c = compactOf({ metadata: { name: 'a', namespace: 'n', resourceVersion: '7', labels: { x: 'y' } }, spec: { big: 'x'.repeat(1000) } }, { convert: (o) => ({ keep: (o as { metadata: { labels: object } }).metadata.labels }) });
    expect(c).toEqual({ metadata: { name: 'a', namespace: 'n', resourceVersion: '7' }, record: { keep: { x: 'y' } } });
  });

  it('a converter that throws or returns undefined leaves no record and is reported with the key', () => {
    const bad: string[] = [];
    const onMalformed = (key: string, error: string) => bad.push(`${key}: ${error}`);
    const thrown = compactOf({ metadata: { name: 'p', namespace: 'n', resourceVersion: '1' } }, { convert: () => { throw new Error('boom'); }, onMalformed });
    expect(thrown).toEqual({ metadata: { name: 'p', namespace: 'n', resourceVersion: '1' } });
    compactOf({ metadata: { name: 'cluster-scoped' } }, { convert: () => undefined, onMalformed });
    compactOf(42, { convert: () => undefined, onMalformed });
    expect(bad).toEqual(['n/p: boom', 'cluster-scoped: not a usable object', ': not a usable object']);
  });
});

describe('compactInformer against the lab API server', () => {
  let s: ApiServer;
  let kc: KubeConfig;
  beforeAll(async () => {
    s = await withServer();
    kc = kubeConfigFor(s);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('keeps records only, and calls onChange only when a record changed', async () => {
    let changes = 0;
    const quiet = { debug() {}, info() {}, warn() {} };
    const inf = compactInformer(kc, { name: 'pods', path: '/api/v1/pods', convert: podRecord }, { onChange: () => changes++, log: quiet });
    inf.start();
    try {
      await waitFor('the first list', () => inf.synced && changes > 0);
      expect((await call(s.url, 'POST', '/api/v1/namespaces/default/pods', pod('w', { labels: { app: 'a' } }))).status).toBe(201);
      await waitFor('the pod in the cache', () => recordsOf(inf).get('default/w')?.labels['app'] === 'a');
      const afterAdd = changes;
      // a status condition is nothing a PodRecord carries: no recompute
      const cond = { status: { conditions: [{ type: 'Ready', status: 'False' }] } };
      expect((await call(s.url, 'PATCH', '/api/v1/namespaces/default/pods/w/status', cond, 'application/merge-patch+json')).status).toBe(200);
      // a label is: the change is seen, and it is the only one since the add
      expect((await call(s.url, 'PATCH', '/api/v1/namespaces/default/pods/w', { metadata: { labels: { app: 'b' } } }, 'application/merge-patch+json')).status).toBe(200);
      await waitFor('the relabelled pod', () => recordsOf(inf).get('default/w')?.labels['app'] === 'b');
      expect(changes).toBe(afterAdd + 1);
      const cached = inf.list().find((c) => c.metadata.name === 'w')!;
      expect(Object.keys(cached).sort()).toEqual(['metadata', 'record']);
      // no per-object resourceVersion unless the spec keeps them (a million pods' worth of strings)
      expect(Object.keys(cached.metadata).sort()).toEqual(['name', 'namespace']);
    } finally {
      await inf.stop();
    }
  });

  it('over the columnar PodStore: paged list, add/update/delete, and a 410 relist that drops what was deleted meanwhile', async () => {
    const podObj = (name: string, ip: string, labels: Record<string, string>): KubeObject =>
      ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'st', labels }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] }, status: { phase: 'Running', podIP: ip } }) as KubeObject;
    s.objects.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'st' } } as KubeObject);
    for (let i = 1; i <= 5; i++) s.objects.create('pods', podObj(`p${i}`, `10.7.0.${i}`, { app: 'a' }), { keepStatus: true });
    let changes = 0;
    const quiet = { debug() {}, info() {}, warn() {} };
    const inf = compactInformer(kc, { name: 'pods', path: '/api/v1/namespaces/st/pods', convert: podRecord, store: () => new PodStore(), pageSize: 2 }, { onChange: () => changes++, log: quiet, backoff: { initialMs: 50, maxMs: 200 } });
    inf.start();
    try {
      await waitFor('the first list', () => inf.synced && changes > 0);
      const pods = () => recordsOf(inf) as PodStore;
      expect(pods()).toBeInstanceOf(PodStore);
      expect([...pods().keys()].sort()).toEqual(['st/p1', 'st/p2', 'st/p3', 'st/p4', 'st/p5']);
      expect(pods().get('st/p3')).toEqual({ namespace: 'st', name: 'p3', ip: '10.7.0.3', node: 'n1', hostNetwork: false, labels: { app: 'a' }, ports: [] });
      // add, relabel, an update no record reads (no change), delete
      s.objects.create('pods', podObj('p6', '10.7.0.6', { app: 'a' }), { keepStatus: true });
      await waitFor('p6', () => pods().get('st/p6')?.ip === '10.7.0.6');
      const p2 = s.objects.get('pods', 'st', 'p2')!;
      s.objects.update('pods', { ...p2, metadata: { ...p2.metadata, labels: { app: 'b' } } } as KubeObject);
      await waitFor('p2 relabelled', () => pods().get('st/p2')?.labels['app'] === 'b');
      const before = changes;
      const p4 = s.objects.get('pods', 'st', 'p4')!;
      s.objects.update('pods', { ...p4, status: { ...(p4 as { status: object }).status, conditions: [{ type: 'Ready', status: 'False' }] } } as KubeObject, { subresource: 'status' });
      s.objects.delete('pods', 'st', 'p5');
      await waitFor('p5 gone', () => !pods().has('st/p5'));
      expect(changes).toBe(before + 1);
      expect(pods().localPods(new Set(['10.7.0.2', '10.7.0.5'])).map((p) => p.name)).toEqual(['p2']);
      // 410: p1 deleted and the history compacted while the watch is away: the relist drops it
      const { reopened } = await s.faults.refuseConnections(300);
      s.objects.delete('pods', 'st', 'p1');
      s.faults.expireHistory();
      await reopened;
      await waitFor('the relist after 410', () => !pods().has('st/p1'));
      expect([...pods().keys()].sort()).toEqual(['st/p2', 'st/p3', 'st/p4', 'st/p6']);
      expect(pods().shared()).toEqual({ names: 2, labelSets: 2, portLists: 1 });
      // and it watches again from the relist
      s.objects.create('pods', podObj('p7', '10.7.0.7', { app: 'c' }), { keepStatus: true });
      await waitFor('p7 after the relist', () => pods().get('st/p7')?.labels['app'] === 'c');
    } finally {
      await inf.stop();
    }
  });
});
