// Compact informer records: what the ListWatch cache keeps for an object (keyed by its metadata),
// and that a converter's failure never escapes (it would make client-node drop the event).
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { compactInformer, compactOf, recordsOf } from '../../src/kube/compact.js';
import { podRecord } from '../../src/policy/parse.js';
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
});
