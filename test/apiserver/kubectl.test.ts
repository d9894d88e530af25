// The real kubectl v1.34 against the lab API server: discovery, `get -o json`, the default table
// output, `create -f` (server-side field validation through the OpenAPI v3 stub), `label`,
// `delete`, and `get -w -o json` streaming events while pods come and go.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/apiserver/index.js';
import { kubectlBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { pod, withServer } from './harness.js';

let s: ApiServer;
let dir: string;
const children: number[] = [];

beforeAll(async () => {
  if (!existsSync(kubectlBin())) throw new Error(`kubectl v1.34 missing at ${kubectlBin()}: run deploy/host-prereqs.sh`);
  s = await withServer();
  dir = await mkdtemp(join(tmpdir(), 'pwkubectl-'));
});
afterAll(async () => {
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await s?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const kargs = (args: string[]) => ['--server', s.url, '--cache-dir', join(dir, 'cache'), '--kubeconfig', '/dev/null', ...args];
const kubectl = async (...args: string[]) => (await run(kubectlBin(), kargs(args), { timeoutMs: 30_000 })).stdout;

/** kubectl -w -o json --output-watch-events prints one compact event per line; keep complete lines. */
function documents(text: string): any[] {
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((t) => t.trim()).map((t) => JSON.parse(t));
}

describe('kubectl v1.34 against the lab API server', () => {
  it('version and get -o json for nodes, all-namespace pods and namespaces', async () => {
    expect(JSON.parse(await kubectl('version', '-o', 'json')).serverVersion).toMatchObject({ major: '1', minor: '34' });
    s.objects.create('nodes', { metadata: { name: 'kn-1' } });
    s.objects.create('namespaces', { metadata: { name: 'kt' } });
    s.objects.create('pods', { ...pod('kp-1', { nodeName: 'kn-1' }), metadata: { name: 'kp-1', namespace: 'kt' } } as any);
    const nodes = JSON.parse(await kubectl('get', 'nodes', '-o', 'json'));
    expect(nodes.items.map((n: any) => [n.kind, n.metadata.name, n.spec.podCIDR])).toEqual([['Node', 'kn-1', '10.244.0.0/24']]);
    const pods = JSON.parse(await kubectl('get', 'pods', '-A', '-o', 'json'));
    expect(pods.items.map((p: any) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual(['kt/kp-1']);
    const sel = JSON.parse(await kubectl('get', 'pods', '-A', '--field-selector', 'spec.nodeName=kn-1', '-l', '!missing', '-o', 'json'));
    expect(sel.items).toHaveLength(1);
    const one = JSON.parse(await kubectl('get', 'ns', 'kube-system', '-o', 'json'));
    expect(one).toMatchObject({ kind: 'Namespace', metadata: { name: 'kube-system' }, status: { phase: 'Active' } });
  });

  it('prints the default table (Table format) for get without -o', async () => {
    const out = await kubectl('get', 'pods', '-n', 'kt', '-o', 'wide');
    const [head, row] = out.split('\n');
    expect(head).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
    expect(row).toMatch(/^kp-1\s+0\/1\s+Pending\s+0\s+\S+\s+<none>\s+kn-1/);
    expect(await kubectl('get', 'nodes')).toMatch(/^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\nkn-1\s/);
  });

  it('create -f, label, delete', async () => {
    const file = join(dir, 'pod.json');
    await writeFile(file, JSON.stringify(pod('kp-2', { labels: { app: 'demo' } })));
    expect(await kubectl('create', '-f', file)).toBe('pod/kp-2 created');
    expect(await kubectl('label', 'pod', 'kp-2', 'tier=x')).toBe('pod/kp-2 labeled');
    expect(await kubectl('get', 'pods', '-l', 'app=demo,tier in (x)', '-o', 'name')).toBe('pod/kp-2');
    const dup = await run(kubectlBin(), kargs(['create', '-f', file]), { reject: false });
    expect(dup.exitCode).not.toBe(0);
    expect(dup.stderr).toMatch(/Error from server \(AlreadyExists\).*pods "kp-2" already exists/);
    expect(await kubectl('delete', 'pod', 'kp-2')).toMatch(/^pod "kp-2" deleted/);
    const gone = await run(kubectlBin(), kargs(['get', 'pod', 'kp-2']), { reject: false });
    expect(gone.stderr).toMatch(/Error from server \(NotFound\): pods "kp-2" not found/);
  });

  it('get -w -o json streams ADDED, MODIFIED and DELETED events', async () => {
    // Two watchers at once: plain `-w -o json` (pretty objects) and with --output-watch-events.
    const spawnWatch = (extra: string[]) => {
      const child = spawn(kubectlBin(), kargs(['get', 'pods', '-n', 'default', '-w', '-o', 'json', ...extra]), { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child.pid!);
      const st = { out: '', err: '', exited: new Promise<void>((r) => child.once('exit', () => r())), pid: child.pid! };
      child.stdout.on('data', (c: Buffer) => (st.out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (st.err += c.toString()));
      return st;
    };
    const plain = spawnWatch([]);
    const typed = spawnWatch(['--output-watch-events']);
    // And the human form: `get -w` without -o watches in the Table format.
    const table = spawn(kubectlBin(), kargs(['get', 'pods', '-n', 'default', '-w']), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(table.pid!);
    const tbl = { out: '', exited: new Promise<void>((r) => table.once('exit', () => r())), pid: table.pid! };
    table.stdout.on('data', (c: Buffer) => (tbl.out += c.toString()));
    const rows = () => tbl.out.split('\n').filter((l) => l.startsWith('kw-1 '));
    const pretty = (text: string): any[] => text.split(/^}$/m).slice(0, -1).map((t) => JSON.parse(`${t}}`));
    try {
      // kubectl lists, then watches from the list's version: wait (bounded) for both watches.
      for (let i = 0; i < 200 && s.stats().openWatches < 3; i++) await new Promise((r) => setTimeout(r, 25));
      expect(s.stats().openWatches).toBe(3);
      s.objects.create('pods', pod('kw-1') as any);
      const cur = s.objects.get('pods', 'default', 'kw-1')!;
      s.objects.update('pods', { ...cur, metadata: { ...cur.metadata, labels: { v: '2' } } });
      s.objects.delete('pods', 'default', 'kw-1');
      for (let i = 0; i < 200 && (documents(typed.out).length < 3 || pretty(plain.out).length < 3 || rows().length < 3); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      for (const w of [plain, typed, tbl]) process.kill(w.pid, 'SIGTERM');
      await Promise.all([plain.exited, typed.exited, tbl.exited]);
    }
    const events = documents(typed.out);
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`), typed.err).toEqual(['ADDED kw-1', 'MODIFIED kw-1', 'DELETED kw-1']);
    expect(events[1].object.metadata.labels).toEqual({ v: '2' });
    expect(tbl.out).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
    expect(rows()).toHaveLength(3);
    expect(rows()[0]).toMatch(/^kw-1\s+0\/1\s+Pending\s+0\s+\S+$/);
    const objs = pretty(plain.out);
    expect(objs.map((o) => `${o.kind} ${o.metadata.name} ${o.metadata.resourceVersion}`), plain.err).toEqual(
      events.map((e) => `Pod kw-1 ${e.object.metadata.resourceVersion}`),
    );
  });
});
