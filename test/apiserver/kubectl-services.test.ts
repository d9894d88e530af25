// The real `podwire lab apiserver` process with --token-file, TLS (a self-signed certificate:
// kubectl sends tokens only over https), --service-cidr and --socket, driven by the real kubectl
// v1.34: anonymous requests get 401 and change nothing; with the token,
// `kubectl apply -f` of Pods (named container ports) and a Service, the kubelet's status publish
// (through the status subresource), `kubectl get endpointslices -o json`, `label`, `annotate`,
// `expose`, `get -w` and `delete -f`. The Unix socket (the orchestrator's channel) is exempt.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import type { Reply } from './harness.js';
import { bundleLabApiserver } from './harness.js';

const TOKEN = 'lab-token-0123456789abcdef';
let dir: string;
let url: string;
let sock: string;
let ca: Buffer;
let caFile: string;
let child: ChildProcess | undefined;
const watchers: number[] = [];

/** A request on the Unix socket channel (no token). */
function viaSocket(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: sock, path, method, agent: false, headers: data ? { 'content-type': contentType, 'content-length': Buffer.byteLength(data) } : {} });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** An HTTP request on the TCP listener with optional headers (token or none). */
function tcp(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = httpsRequest(`${url}${path}`, { method, agent: false, ca, headers: { ...headers, ...(data ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) } : {}) } });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* plain text */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

beforeAll(async () => {
  if (!existsSync(kubectlBin())) throw new Error(`kubectl v1.34 missing at ${kubectlBin()}: run deploy/host-prereqs.sh`);
  dir = await mkdtemp(join(tmpdir(), 'pwsvc-'));
  const entry = await bundleLabApiserver(join(dir, 'apiserver.mjs'));
  await writeFile(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  sock = join(dir, 'api.sock');
  child = spawn(process.execPath, [
    entry, 'lab', 'apiserver', '--listen', '127.0.0.1:0', '--token-file', join(dir, 'token'), '--socket', sock,
    '--tls-dir', join(dir, 'tls'),
    '--service-cidr', '10.112.0.0/16', '--service-node-port-range', '32000-32099',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child!.once('exit', (code) => reject(new Error(`apiserver exited ${code} before printing its URL: ${err}`)));
  });
  ({ url, caFile } = JSON.parse(first) as { url: string; caFile: string });
  expect(caFile).toBe(join(dir, 'tls', 'apiserver.crt'));
  ca = await readFile(caFile);
}, 120_000);

afterAll(async () => {
  for (const pid of watchers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  if (child?.pid && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    process.kill(child.pid, 'SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

const base = (token?: string) => ['--server', url, '--certificate-authority', caFile, '--cache-dir', join(dir, 'cache'), '--kubeconfig', '/dev/null', ...(token ? ['--token', token] : [])];
const kubectl = async (...args: string[]) => (await run(kubectlBin(), [...base(TOKEN), ...args], { timeoutMs: 60_000 })).stdout;
const anonymous = (...args: string[]) => run(kubectlBin(), [...base(), ...args], { reject: false, timeoutMs: 60_000 });

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const MANIFEST = `
apiVersion: v1
kind: Pod
metadata: {name: echo-a, labels: {app: echo}}
spec:
  containers:
  - name: srv
    image: echo
    ports: [{name: web, containerPort: 8080}, {name: dns, containerPort: 5353, protocol: UDP}]
---
apiVersion: v1
kind: Pod
metadata: {name: echo-b, labels: {app: echo}}
spec:
  containers:
  - name: srv
    image: echo
    ports: [{name: web, containerPort: 8081}]
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports:
  - {name: http, port: 80, targetPort: web}
  - {name: dns, port: 53, targetPort: dns, protocol: UDP}
`;

/** Endpoints of the echo service's slices as "pod ip port-name/port", sorted. */
async function sliceView(svc: string): Promise<string[]> {
  const list = JSON.parse(await kubectl('get', 'endpointslices', '-l', `kubernetes.io/service-name=${svc}`, '-o', 'json'));
  const out: string[] = [];
  for (const sl of list.items) {
    for (const ep of sl.endpoints ?? []) {
      for (const p of sl.ports ?? []) out.push(`${ep.targetRef.name} ${ep.addresses[0]} ${p.name}/${p.protocol}/${p.port} ready=${ep.conditions.ready}`);
    }
  }
  return out.sort();
}

describe('lab apiserver with --token-file and a real kubectl', () => {
  it('answers anonymous requests with 401 and lets none of them change state; health and the socket stay open', async () => {
    const anon = await tcp('GET', '/api/v1/namespaces/default/pods', {});
    expect(anon.status).toBe(401);
    expect(anon.body).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    expect((await tcp('GET', '/api/v1/namespaces/default/pods', { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await tcp('POST', '/api/v1/namespaces/default/pods', {}, { metadata: { name: 'intruder' }, spec: { containers: [{ name: 'c', image: 'x' }] } })).status).toBe(401);
    expect((await tcp('POST', '/_podwire/faults', {}, { closeWatches: true })).status).toBe(401);
    expect((await tcp('GET', '/api', {})).status).toBe(401);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await tcp('GET', '/healthz', {});
    expect([health.status, health.body]).toEqual([200, 'ok']);
    expect((await tcp('GET', '/readyz', {})).status).toBe(200);
    // A wrong token is refused by the server; kubectl with no credentials at all over TLS asks
    // for a username on its (closed) stdin and gives up before sending anything.
    const denied = await run(kubectlBin(), [...base('not-the-token'), 'get', 'pods'], { reject: false, timeoutMs: 60_000 });
    expect(denied.exitCode).not.toBe(0);
    expect(denied.stderr).toMatch(/the server has asked for the client to provide credentials|You must be logged in to the server \(Unauthorized\)/);
    const wrongCreate = await run(kubectlBin(), [...base('not-the-token'), 'run', 'intruder', '--image', 'x', '--restart', 'Never'], { reject: false, timeoutMs: 60_000 });
    expect(wrongCreate.exitCode).not.toBe(0);
    const created = await anonymous('run', 'intruder', '--image', 'x', '--restart', 'Never');
    expect(created.exitCode).not.toBe(0);
    // Nothing was created: ask over the socket channel, which needs no token and is 0600.
    expect((await viaSocket('GET', '/api/v1/namespaces/default/pods/intruder')).status).toBe(404);
    expect((await stat(sock)).mode & 0o777).toBe(0o600);
    expect((await tcp('GET', '/api/v1/namespaces/default/pods', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it('apply -f of Pods and a Service; published pod status becomes EndpointSlices with per-pod named ports', async () => {
    // Two Ready nodes through the socket channel; the scheduler binds the pods to them.
    for (const n of ['node-a', 'node-b']) {
      const r = await viaSocket('POST', '/api/v1/nodes', { metadata: { name: n } });
      expect(r.status).toBe(201);
      const st = await viaSocket('PATCH', `/api/v1/nodes/${n}/status`, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'application/strategic-merge-patch+json');
      expect(st.status, JSON.stringify(st.body)).toBe(200);
    }
    const file = join(dir, 'echo.yaml');
    await writeFile(file, MANIFEST);
    expect((await kubectl('apply', '-f', file)).split('\n')).toEqual(['pod/echo-a created', 'pod/echo-b created', 'service/echo created']);
    expect((await kubectl('apply', '-f', file)).split('\n')).toEqual(['pod/echo-a unchanged', 'pod/echo-b unchanged', 'service/echo unchanged']);
    const svc = JSON.parse(await kubectl('get', 'svc', 'echo', '-o', 'json'));
    expect(svc.spec.clusterIP).toMatch(/^10\.112\.\d+\.\d+$/);
    expect(svc.spec.ports.map((p: any) => `${p.port}/${p.protocol}->${p.targetPort}`)).toEqual(['80/TCP->web', '53/UDP->dns']);
    expect(await kubectl('get', 'svc', 'echo')).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\necho\s+ClusterIP\s+10\.112\.\S+\s+<none>\s+80\/TCP,53\/UDP\s+\S+$/);
    const nodes = await until('pods bound', async () => {
      const pods = JSON.parse(await kubectl('get', 'pods', '-o', 'json')).items;
      const bound = pods.map((p: any) => p.spec.nodeName).filter(Boolean);
      return bound.length === 2 ? bound.sort() : undefined;
    });
    expect(nodes).toEqual(['node-a', 'node-b']);
    // As a kubelet would: podIP and a Ready condition through the status subresource.
    for (const [name, ip] of [['echo-a', '10.244.1.5'], ['echo-b', '10.244.2.6']]) {
      const r = await tcp('PATCH', `/api/v1/namespaces/default/pods/${name}/status`, { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/strategic-merge-patch+json' }, undefined);
      expect(r.status).toBe(400); // an empty patch body is refused…
      const ok = await viaSocket('PATCH', `/api/v1/namespaces/default/pods/${name}/status`, {
        status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] },
      }, 'application/strategic-merge-patch+json');
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    }
    const want = [
      'echo-a 10.244.1.5 dns/UDP/5353 ready=true',
      'echo-a 10.244.1.5 http/TCP/8080 ready=true',
      'echo-b 10.244.2.6 http/TCP/8081 ready=true',
    ];
    await until('slices', async () => (JSON.stringify(await sliceView('echo')) === JSON.stringify(want) ? true : undefined));
    const out = await kubectl('get', 'endpointslices');
    expect(out).toMatch(/^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE\n/);
    expect(out).toMatch(/echo-\S+\s+IPv4\s+8080,5353\s+10\.244\.1\.5\s/);
  });

  it('label moves a pod out and back in; annotate, expose and get -w work; delete -f removes the slices', async () => {
    expect(await kubectl('label', 'pod', 'echo-b', 'app=parked', '--overwrite')).toBe('pod/echo-b labeled');
    await until('echo-b out', async () => ((await sliceView('echo')).some((l) => l.startsWith('echo-b')) ? undefined : true));
    expect(await kubectl('label', 'pod', 'echo-b', 'app=echo', '--overwrite')).toBe('pod/echo-b labeled');
    await until('echo-b back', async () => ((await sliceView('echo')).some((l) => l.startsWith('echo-b')) ? true : undefined));
    expect(await kubectl('annotate', 'svc', 'echo', 'owner=lab')).toBe('service/echo annotated');

    const w = spawn(kubectlBin(), [...base(TOKEN), 'get', 'services', '-w', '-o', 'json', '--output-watch-events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    watchers.push(w.pid!);
    let wout = '';
    w.stdout.on('data', (c: Buffer) => (wout += c.toString()));
    const events = () => wout.slice(0, wout.lastIndexOf('\n') + 1).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    // The initial list shows up as ADDED events once the watch is established.
    await until('watch started', async () => (events().some((e) => e.object.metadata.name === 'echo') ? true : undefined));

    expect(await kubectl('expose', 'pod', 'echo-a', '--name', 'echo-np', '--port', '8000', '--target-port', 'web', '--type', 'NodePort')).toBe('service/echo-np exposed');
    const np = JSON.parse(await kubectl('get', 'svc', 'echo-np', '-o', 'json'));
    expect(np.spec.selector).toEqual({ app: 'echo' });
    expect(np.spec.ports[0].nodePort).toBeGreaterThanOrEqual(32000);
    expect(np.spec.ports[0].nodePort).toBeLessThanOrEqual(32099);
    await until('echo-np slices', async () => ((await sliceView('echo-np')).length === 2 ? true : undefined));
    await until('watch saw echo-np', async () => (events().some((e) => e.type === 'ADDED' && e.object.metadata.name === 'echo-np') ? true : undefined));

    const file = join(dir, 'echo.yaml');
    const del = await kubectl('delete', '-f', file);
    expect(del).toMatch(/service "echo" deleted/);
    await until('echo slices gone', async () => ((await sliceView('echo')).length === 0 ? true : undefined));
    await until('watch saw the delete', async () => (events().some((e) => e.type === 'DELETED' && e.object.metadata.name === 'echo') ? true : undefined));
    process.kill(w.pid!, 'SIGTERM');
    // echo-np lost its pods with the delete: its slice is the empty placeholder.
    await until('echo-np empty', async () => ((await sliceView('echo-np')).length === 0 ? true : undefined));
    const remaining = JSON.parse(await kubectl('get', 'endpointslices', '-o', 'json')).items.map((i: any) => i.metadata.labels['kubernetes.io/service-name']);
    expect(remaining).toEqual(['echo-np']);
  });
});
