// Watches: initial state as synthetic ADDED, replay from a resourceVersion out of the bounded
// history, ERROR 410 Expired for versions the history no longer reaches, selector transitions
// (ADDED/DELETED when an object enters/leaves a selector), bookmarks, timeoutSeconds,
// sendInitialEvents, headers flushed before the first event, fan-out to many watchers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { call, pod, WatchReader, withServer } from './harness.js';

let s: ApiServer;
const readers: WatchReader[] = [];
const watch = (server: ApiServer, path: string): WatchReader => {
  const w = new WatchReader(server.url, path);
  readers.push(w);
  return w;
};
const summary = (evs: Array<{ type: string; object: any }>) => evs.map((e) => `${e.type} ${e.object?.metadata?.name ?? ''}`.trim());

beforeAll(async () => {
  s = await withServer({ historyLimit: 50, bookmarkIntervalMs: 100 });
});
afterAll(async () => {
  for (const r of readers) r.close();
  await s?.stop();
});

describe('apiserver watch', () => {
  it('without a version: current state as ADDED, then live ADDED/MODIFIED/DELETED; headers flushed at once', async () => {
    await call(s.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'w1' } });
    await call(s.url, 'POST', '/api/v1/namespaces/w1/pods', pod('pre'));
    const w = watch(s, '/api/v1/namespaces/w1/pods?watch=true');
    await w.headers;
    expect(w.status).toBe(200);
    await w.waitFor(1);
    expect(summary(w.events)).toEqual(['ADDED pre']);
    // The stream is open with nothing more to send: headers had to be flushed explicitly.
    await call(s.url, 'POST', '/api/v1/namespaces/w1/pods', pod('live'));
    await call(s.url, 'PATCH', '/api/v1/namespaces/w1/pods/live', { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json');
    await call(s.url, 'DELETE', '/api/v1/namespaces/w1/pods/live');
    await w.waitFor(4);
    expect(summary(w.events)).toEqual(['ADDED pre', 'ADDED live', 'MODIFIED live', 'DELETED live']);
    const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs);
    expect(w.events[1]!.object.kind).toBe('Pod');
    // The DELETED object carries the deletion's own resourceVersion.
    expect(rvs[3]).toBeGreaterThan(rvs[2]!);
  });

  it('from a resourceVersion: replays what happened after it, then continues live', async () => {
    await call(s.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'w2' } });
    const a = await call(s.url, 'POST', '/api/v1/namespaces/w2/pods', pod('a'));
    await call(s.url, 'POST', '/api/v1/namespaces/w2/pods', pod('b'));
    await call(s.url, 'DELETE', '/api/v1/namespaces/w2/pods/a');
    const w = watch(s, `/api/v1/namespaces/w2/pods?watch=1&resourceVersion=${a.body.metadata.resourceVersion}`);
    await w.waitFor(2);
    expect(summary(w.events)).toEqual(['ADDED b', 'DELETED a']);
    await call(s.url, 'POST', '/api/v1/namespaces/w2/pods', pod('c'));
    await w.waitFor(3);
    expect(summary(w.events)).toEqual(['ADDED b', 'DELETED a', 'ADDED c']);
    // The legacy /api/v1/watch/ prefix works too.
    const legacy = watch(s, `/api/v1/watch/namespaces/w2/pods?resourceVersion=${a.body.metadata.resourceVersion}`);
    await legacy.waitFor(3);
    expect(summary(legacy.events)).toEqual(['ADDED b', 'DELETED a', 'ADDED c']);
  });

  it('a version older than the history gets 200 then one ERROR 410 Expired event, and the stream ends', async () => {
    const small = await withServer({ historyLimit: 5 });
    try {
      for (let i = 0; i < 10; i++) await call(small.url, 'POST', '/api/v1/namespaces/default/pods', pod(`p${i}`));
      const w = new WatchReader(small.url, '/api/v1/namespaces/default/pods?watch=true&resourceVersion=3');
      await w.done;
      expect(w.status).toBe(200);
      expect(w.events).toHaveLength(1);
      expect(w.events[0]!.type).toBe('ERROR');
      expect(w.events[0]!.object).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });
      expect(w.events[0]!.object.message).toMatch(/^too old resource version: 3 \(\d+\)$/);
      // The newest versions are still replayable.
      const ok = new WatchReader(small.url, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${small.resourceVersion - 1}`);
      await ok.waitFor(1);
      expect(summary(ok.events)).toEqual(['ADDED p9']);
      ok.close();
    } finally {
      await small.stop();
    }
  });

  it('applies selectors to events: leaving a selector is DELETED, entering it is ADDED', async () => {
    await call(s.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'w3' } });
    const byLabel = watch(s, `/api/v1/namespaces/w3/pods?watch=true&resourceVersion=${s.resourceVersion}&labelSelector=app%3Dweb`);
    const byPhase = watch(s, `/api/v1/pods?watch=true&resourceVersion=${s.resourceVersion}&fieldSelector=status.phase%3DRunning`);
    const byNode = watch(s, `/api/v1/pods?watch=true&resourceVersion=${s.resourceVersion}&fieldSelector=spec.nodeName%3Dnode-a`);
    await Promise.all([byLabel.headers, byPhase.headers, byNode.headers]);
    await call(s.url, 'POST', '/api/v1/namespaces/w3/pods', pod('x', { nodeName: 'node-a', labels: { app: 'web' } }));
    await call(s.url, 'POST', '/api/v1/namespaces/w3/pods', pod('y', { nodeName: 'node-b', labels: { app: 'db' } }));
    await call(s.url, 'PATCH', '/api/v1/namespaces/w3/pods/x', { metadata: { labels: { app: 'db' } } }, 'application/merge-patch+json');
    await call(s.url, 'PATCH', '/api/v1/namespaces/w3/pods/y', { metadata: { labels: { app: 'web' } } }, 'application/merge-patch+json');
    await call(s.url, 'PATCH', '/api/v1/namespaces/w3/pods/y/status', { status: { phase: 'Running' } }, 'application/merge-patch+json');
    await call(s.url, 'PATCH', '/api/v1/namespaces/w3/pods/y/status', { status: { phase: 'Succeeded' } }, 'application/merge-patch+json');
    await call(s.url, 'DELETE', '/api/v1/namespaces/w3/pods/x');
    await byLabel.waitFor(4);
    await byPhase.waitFor(2);
    await byNode.waitFor(3);
    expect(summary(byLabel.events)).toEqual(['ADDED x', 'DELETED x', 'ADDED y', 'MODIFIED y', 'MODIFIED y']);
    expect(summary(byPhase.events)).toEqual(['ADDED y', 'DELETED y']);
    expect(summary(byNode.events)).toEqual(['ADDED x', 'MODIFIED x', 'DELETED x']);
  });

  it('sends bookmarks when allowed, ends at timeoutSeconds, and supports sendInitialEvents', async () => {
    const b = watch(s, `/api/v1/nodes?watch=true&resourceVersion=${s.resourceVersion}&allowWatchBookmarks=true`);
    await b.waitFor(1);
    expect(b.events[0]).toMatchObject({ type: 'BOOKMARK', object: { kind: 'Node', apiVersion: 'v1' } });
    expect(Number(b.events[0]!.object.metadata.resourceVersion)).toBeGreaterThan(0);

    const t = watch(s, `/api/v1/nodes?watch=true&resourceVersion=${s.resourceVersion}&timeoutSeconds=1`);
    await t.done;
    expect(t.ended).toBe(true);
    expect(t.events).toEqual([]);

    const init = watch(s, '/api/v1/namespaces?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan');
    await init.waitFor(5);
    const firstBookmark = init.events.findIndex((e) => e.type === 'BOOKMARK');
    expect(init.events.slice(0, firstBookmark).every((e) => e.type === 'ADDED')).toBe(true);
    expect(init.events.slice(0, firstBookmark).map((e) => e.object.metadata.name)).toEqual(expect.arrayContaining(['default', 'kube-system']));
    expect(init.events[firstBookmark]!.object.metadata.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
  });

  it('fans one event out to many watchers and respects their namespaces', async () => {
    await call(s.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'w4' } });
    const rv = s.resourceVersion;
    const many = Array.from({ length: 40 }, () => watch(s, `/api/v1/pods?watch=true&resourceVersion=${rv}`));
    const elsewhere = watch(s, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${rv}`);
    await Promise.all([...many, elsewhere].map((w) => w.headers));
    expect(s.stats().openWatches).toBeGreaterThanOrEqual(41);
    await call(s.url, 'POST', '/api/v1/namespaces/w4/pods', pod('fan'));
    await call(s.url, 'POST', '/api/v1/namespaces/default/pods', pod('marker'));
    for (const w of many) await w.waitFor(2);
    await elsewhere.waitFor(1);
    for (const w of many) expect(summary(w.events)).toEqual(['ADDED fan', 'ADDED marker']);
    expect(summary(elsewhere.events)).toEqual(['ADDED marker']);
  });
});
