// Lists: label and field selectors (parser and matching), list resourceVersion semantics,
// limit/continue paging in key order, and the all-namespaces pod collection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchLabels, parseFieldSelector, parseLabelSelector, type ApiServer } from '../../src/apiserver/index.js';
import { call, pod, withServer } from './harness.js';

let s: ApiServer;
const names = (r: { body: any }) => r.body.items.map((i: any) => `${i.metadata.namespace ?? ''}/${i.metadata.name}`);
const q = encodeURIComponent;

beforeAll(async () => {
  s = await withServer();
  await call(s.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'other' } });
  const specs: Array<[string, string, string, Record<string, string>]> = [
    ['default', 'web-1', 'node-a', { app: 'web', tier: 'front' }],
    ['default', 'web-2', 'node-b', { app: 'web', tier: 'back' }],
    ['default', 'db-1', 'node-a', { app: 'db' }],
    ['other', 'web-3', 'node-b', { app: 'web' }],
    ['other', 'lone', '', {}],
  ];
  for (const [ns, name, node, labels] of specs) {
    const r = await call(s.url, 'POST', `/api/v1/namespaces/${ns}/pods`, pod(name, { nodeName: node || undefined, labels }));
    expect(r.status).toBe(201);
  }
  await call(s.url, 'PATCH', '/api/v1/namespaces/default/pods/web-1/status', { status: { phase: 'Running' } }, 'application/merge-patch+json');
});
afterAll(async () => {
  await s?.stop();
});

describe('label selector parser', () => {
  it('understands =, ==, !=, in, notin, exists, !exists', () => {
    const m = (sel: string, labels: Record<string, string>) => matchLabels(parseLabelSelector(sel), labels);
    expect(m('a=1', { a: '1' })).toBe(true);
    expect(m('a==1', { a: '2' })).toBe(false);
    expect(m('a!=1', {})).toBe(true);
    expect(m('a in (1, 2),b', { a: '2', b: '' })).toBe(true);
    expect(m('a notin (1,2)', { a: '3' })).toBe(true);
    expect(m('a notin (1,2)', { a: '1' })).toBe(false);
    expect(m('!a', { b: '1' })).toBe(true);
    expect(m('example.com/role=x', { 'example.com/role': 'x' })).toBe(true);
    expect(() => parseLabelSelector('a=(')).toThrow(/invalid label value/);
    expect(() => parseFieldSelector('spec.nodeName=x,metadata.uid=y', new Set(['spec.nodeName']))).toThrow(/field label not supported: metadata.uid/);
    expect(parseFieldSelector('metadata.name=a\\,b', new Set(['metadata.name']))).toEqual([{ field: 'metadata.name', neq: false, value: 'a,b' }]);
  });
});

describe('apiserver lists', () => {
  it('lists pods across namespaces in key order, and per namespace', async () => {
    const all = await call(s.url, 'GET', '/api/v1/pods');
    expect(all.body.kind).toBe('PodList');
    expect(names(all)).toEqual(['default/db-1', 'default/web-1', 'default/web-2', 'other/lone', 'other/web-3']);
    // Items in a list carry no kind/apiVersion, as on the real server.
    expect(all.body.items[0].kind).toBeUndefined();
    expect(names(await call(s.url, 'GET', '/api/v1/namespaces/other/pods'))).toEqual(['other/lone', 'other/web-3']);
    expect(all.body.metadata.resourceVersion).toBe(String(s.resourceVersion));
  });

  it('filters with label selectors', async () => {
    expect(names(await call(s.url, 'GET', `/api/v1/pods?labelSelector=${q('app=web')}`))).toEqual(['default/web-1', 'default/web-2', 'other/web-3']);
    expect(names(await call(s.url, 'GET', `/api/v1/pods?labelSelector=${q('app=web,tier!=back')}`))).toEqual(['default/web-1', 'other/web-3']);
    expect(names(await call(s.url, 'GET', `/api/v1/pods?labelSelector=${q('tier in (front,back)')}`))).toEqual(['default/web-1', 'default/web-2']);
    expect(names(await call(s.url, 'GET', `/api/v1/pods?labelSelector=${q('app notin (web),app')}`))).toEqual(['default/db-1']);
    expect(names(await call(s.url, 'GET', `/api/v1/pods?labelSelector=${q('!app')}`))).toEqual(['other/lone']);
    const bad = await call(s.url, 'GET', `/api/v1/pods?labelSelector=${q('a in (b')}`);
    expect(bad.status).toBe(400);
  });

  it('filters with field selectors (spec.nodeName, status.phase, metadata.*)', async () => {
    expect(names(await call(s.url, 'GET', `/api/v1/pods?fieldSelector=${q('spec.nodeName=node-a')}`))).toEqual(['default/db-1', 'default/web-1']);
    expect(names(await call(s.url, 'GET', `/api/v1/pods?fieldSelector=${q('spec.nodeName==node-b,metadata.namespace=other')}`))).toEqual(['other/web-3']);
    expect(names(await call(s.url, 'GET', `/api/v1/pods?fieldSelector=${q('spec.nodeName=')}`))).toEqual(['other/lone']);
    expect(names(await call(s.url, 'GET', `/api/v1/pods?fieldSelector=${q('status.phase!=Pending')}`))).toEqual(['default/web-1']);
    expect(names(await call(s.url, 'GET', `/api/v1/namespaces/default/pods?fieldSelector=${q('metadata.name=web-2')}`))).toEqual(['default/web-2']);
    expect(names(await call(s.url, 'GET', `/api/v1/namespaces?fieldSelector=${q('metadata.name=other')}`))).toEqual(['/other']);
  });

  it('pages with limit/continue in key order and reports remainingItemCount', async () => {
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const r = await call(s.url, 'GET', `/api/v1/pods?limit=2${token ? `&continue=${q(token)}` : ''}`);
      expect(r.status).toBe(200);
      seen.push(...names(r));
      if (pages === 0) expect(r.body.metadata.remainingItemCount).toBe(3);
      token = r.body.metadata.continue ?? '';
      pages++;
    } while (token && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(['default/db-1', 'default/web-1', 'default/web-2', 'other/lone', 'other/web-3']);
    expect((await call(s.url, 'GET', '/api/v1/pods?continue=garbage')).status).toBe(400);
  });

  it('pages a selected or namespaced list from the continue key: no token after the last match', async () => {
    const walk = async (path: string, limit: number) => {
      const pages: string[][] = [];
      let token = '';
      do {
        const sep = path.includes('?') ? '&' : '?';
        const r = await call(s.url, 'GET', `${path}${sep}limit=${limit}${token ? `&continue=${q(token)}` : ''}`);
        expect(r.status).toBe(200);
        pages.push(names(r));
        token = r.body.metadata.continue ?? '';
        if (token) expect(r.body.metadata.remainingItemCount === undefined || path.includes('namespaces/')).toBe(true);
      } while (token && pages.length < 10);
      return pages;
    };
    // app=web matches web-1, web-2, web-3: the page after web-2 is the last, and a page whose
    // limit ends exactly at the last match has no continue token
    expect(await walk(`/api/v1/pods?labelSelector=${q('app=web')}`, 2)).toEqual([['default/web-1', 'default/web-2'], ['other/web-3']]);
    expect(await walk(`/api/v1/pods?labelSelector=${q('app=web')}`, 3)).toEqual([['default/web-1', 'default/web-2', 'other/web-3']]);
    expect(await walk(`/api/v1/pods?labelSelector=${q('app=db')}`, 1)).toEqual([['default/db-1']]);
    expect(await walk('/api/v1/namespaces/default/pods', 2)).toEqual([['default/db-1', 'default/web-1'], ['default/web-2']]);
    // limit = everything: one page, no token
    expect(await walk('/api/v1/pods', 5)).toEqual([['default/db-1', 'default/web-1', 'default/web-2', 'other/lone', 'other/web-3']]);
    // a token resumes right after its key whatever the next limit
    const first = await call(s.url, 'GET', '/api/v1/pods?limit=1');
    const second = await call(s.url, 'GET', `/api/v1/pods?limit=10&continue=${q(first.body.metadata.continue)}`);
    expect(names(second)).toEqual(['default/web-1', 'default/web-2', 'other/lone', 'other/web-3']);
    expect(second.body.metadata.continue).toBeUndefined();
  });

  it('follows list resourceVersion semantics: not-older-than, Exact, too large', async () => {
    const rv = s.resourceVersion;
    expect((await call(s.url, 'GET', `/api/v1/pods?resourceVersion=0`)).status).toBe(200);
    expect((await call(s.url, 'GET', `/api/v1/pods?resourceVersion=1`)).body.metadata.resourceVersion).toBe(String(rv));
    const exact = await call(s.url, 'GET', `/api/v1/pods?resourceVersion=1&resourceVersionMatch=Exact`);
    expect(exact.status).toBe(410);
    expect(exact.body).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410 });
    const future = await call(s.url, 'GET', `/api/v1/pods?resourceVersion=${rv + 1000}`);
    expect(future.status).toBe(504);
    expect(future.body.details.causes[0].reason).toBe('ResourceVersionTooLarge');
  });
});
