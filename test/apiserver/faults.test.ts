// Fault injection, in-process and over HTTP, and the `podwire lab apiserver` background process:
// watches closed, watches answered with 500, history expired (ERROR 410, rewatch 410, relist
// works), connections refused for a while and then accepted again on the same port.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { call, pod, WatchReader, withServer, bundleLabApiserver } from './harness.js';

const servers: ApiServer[] = [];
const readers: WatchReader[] = [];
let child: ChildProcess | undefined;
let tmp: string | undefined;
afterAll(async () => {
  for (const r of readers) r.close();
  await Promise.all(servers.map((s) => s.stop()));
  if (child && child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  if (tmp) await rm(tmp, { recursive: true, force: true });
});
const start = async (o: Parameters<typeof withServer>[0] = {}) => {
  const s = await withServer(o);
  servers.push(s);
  return s;
};
const watch = (base: string, path: string) => {
  const w = new WatchReader(base, path);
  readers.push(w);
  return w;
};
const refused = async (url: string): Promise<string> => {
  try {
    await call(url, 'GET', '/api/v1/namespaces');
    return 'answered';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
};

describe('apiserver faults (in-process)', () => {
  it('closeWatches ends every open watch; a rewatch from the last version loses nothing', async () => {
    const s = await start();
    const w = watch(s.url, `/api/v1/pods?watch=true&resourceVersion=${s.resourceVersion}`);
    await w.headers;
    await call(s.url, 'POST', '/api/v1/namespaces/default/pods', pod('a'));
    await w.waitFor(1);
    expect(s.faults.closeWatches()).toBe(1);
    await w.done;
    expect(w.ended).toBe(true);
    expect(s.stats().openWatches).toBe(0);
    await call(s.url, 'POST', '/api/v1/namespaces/default/pods', pod('b'));
    const again = watch(s.url, `/api/v1/pods?watch=true&resourceVersion=${w.events[0]!.object.metadata.resourceVersion}`);
    await again.waitFor(1);
    expect(again.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED b']);
  });

  it('failNextWatches(n) answers the next n watches with 500 InternalError, lists keep working', async () => {
    const s = await start();
    s.faults.failNextWatches(2);
    for (let i = 0; i < 2; i++) {
      const r = await call(s.url, 'GET', '/api/v1/pods?watch=true');
      expect(r.status).toBe(500);
      expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'InternalError', code: 500 });
    }
    expect((await call(s.url, 'GET', '/api/v1/pods')).status).toBe(200);
    const ok = watch(s.url, '/api/v1/pods?watch=true');
    await ok.headers;
    expect(ok.status).toBe(200);
  });

  it('expireHistory sends ERROR 410 to open watches; rewatching the old version is 410; a relist recovers', async () => {
    const s = await start();
    await call(s.url, 'POST', '/api/v1/namespaces/default/pods', pod('a'));
    const rv = s.resourceVersion;
    const w = watch(s.url, `/api/v1/pods?watch=true&resourceVersion=${rv}`);
    await w.headers;
    expect(s.faults.expireHistory()).toBe(1);
    await w.done;
    expect(w.events.map((e) => [e.type, e.object.code, e.object.reason])).toEqual([['ERROR', 410, 'Expired']]);
    await call(s.url, 'POST', '/api/v1/namespaces/default/pods', pod('b'));
    const old = watch(s.url, `/api/v1/pods?watch=true&resourceVersion=${rv}`);
    await old.done;
    expect(old.events[0]).toMatchObject({ type: 'ERROR', object: { code: 410 } });
    const list = await call(s.url, 'GET', '/api/v1/pods');
    expect(list.body.items.map((p: any) => p.metadata.name)).toEqual(['a', 'b']);
    const fresh = watch(s.url, `/api/v1/pods?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`);
    await call(s.url, 'POST', '/api/v1/namespaces/default/pods', pod('c'));
    await fresh.waitFor(1);
    expect(fresh.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED c']);
  });

  it('refuseConnections closes the port and open connections, then listens again on the same port', async () => {
    const s = await start();
    const w = watch(s.url, '/api/v1/pods?watch=true');
    await w.headers;
    const { reopened } = await s.faults.refuseConnections(2000);
    await w.done;
    expect(w.ended).toBe(true);
    expect(await refused(s.url)).toBe('ECONNREFUSED');
    await reopened;
    const r = await call(s.url, 'GET', '/api/v1/namespaces/default');
    expect(r.status).toBe(200);
    // State survived the outage.
    expect(r.body.metadata.name).toBe('default');
  });
});

describe('apiserver faults over HTTP', () => {
  it('POST /_podwire/faults drives the same faults and rejects unknown ones', async () => {
    const s = await start();
    const w = watch(s.url, '/api/v1/nodes?watch=true');
    await w.headers;
    expect((await call(s.url, 'POST', '/_podwire/faults', { closeWatches: true })).body).toEqual({ closedWatches: 1 });
    await w.done;
    expect((await call(s.url, 'POST', '/_podwire/faults', { failNextWatches: 1 })).body).toEqual({ failNextWatches: 1 });
    expect((await call(s.url, 'GET', '/_podwire/faults')).body).toMatchObject({ failNextWatches: 1 });
    expect((await call(s.url, 'GET', '/api/v1/nodes?watch=true')).status).toBe(500);
    const w2 = watch(s.url, '/api/v1/nodes?watch=true');
    await w2.headers;
    expect((await call(s.url, 'POST', '/_podwire/faults', { expireHistory: true })).body).toEqual({ expiredWatches: 1 });
    await w2.done;
    expect(w2.events[0]).toMatchObject({ type: 'ERROR', object: { code: 410 } });
    const bad = await call(s.url, 'POST', '/_podwire/faults', { explode: true });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/unknown fault explode/);
  });
});

describe('podwire lab apiserver (background process)', () => {
  it('prints {"url"} when listening, serves, takes faults over HTTP, exits 0 on SIGTERM', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'pwapi-'));
    const entry = await bundleLabApiserver(join(tmp, 'apiserver.mjs'));
    child = spawn(process.execPath, [entry, 'lab', 'apiserver', '--listen', '127.0.0.1:0', '--cluster-cidr', '10.77.0.0/16'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    const lines = createInterface({ input: child.stdout! });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child!.once('exit', (code) => reject(new Error(`apiserver exited ${code} before printing its URL`)));
    });
    const { url } = JSON.parse(first) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await call(url, 'POST', '/api/v1/nodes', { metadata: { name: 'bg' } });
    expect((await call(url, 'GET', '/api/v1/nodes/bg')).body.spec.podCIDR).toBe('10.77.0.0/24');
    const f = await call(url, 'POST', '/_podwire/faults', { refuseConnectionsMs: 1500 });
    expect(f.body).toEqual({ refusingForMs: 1500 });
    // The port closes right after the answer went out; poll (bounded) until it is refused.
    let state = 'answered';
    for (let i = 0; i < 50 && state !== 'ECONNREFUSED'; i++) {
      state = await refused(url);
      if (state !== 'ECONNREFUSED') await new Promise((r) => setTimeout(r, 20));
    }
    expect(state).toBe('ECONNREFUSED');
    for (let i = 0; i < 100 && state !== 'answered'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = await refused(url);
    }
    expect(state).toBe('answered');
    expect((await call(url, 'GET', '/api/v1/nodes/bg')).status).toBe(200);
    process.kill(child.pid!, 'SIGTERM');
    expect(await exited).toBe(0);
  });

  it('rejects a malformed --listen with a usage message', async () => {
    expect(tmp).toBeDefined();
    const p = spawn(process.execPath, [join(tmp!, 'apiserver.mjs'), 'lab', 'apiserver', '--listen', 'nonsense'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => p.once('exit', r));
    expect(code).not.toBe(0);
    expect(err).toMatch(/--listen "nonsense" is not HOST:PORT/);
  });
});
