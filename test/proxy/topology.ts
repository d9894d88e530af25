// A one-node world for the kube-proxy kernel tests: a "node" namespace with veths to a "client"
// pod and two "backend" pods, wired the way podwire wires pods (a /32 on the pod's eth0, default
// via 169.254.1.1 on the link, a /32 host route per pod on the node side), an uplink to an
// "outside" namespace (the node's default gateway), the mini API server bridged into the node namespace, small python servers in the
// backends, and `podwire lab kube-proxy` exec'd in the node namespace through nsenter exactly as
// the lab runs it. Everything is named with a random suffix, tracked by PID, and removed in
// cleanup() (also after a failure half-way through create()).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { packageRoot } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { MiniApi } from './mini-api.js';

export const NODE_IP = '192.168.77.1';
export const OUTSIDE_IP = '192.168.77.2';
export const CLIENT_IP = '10.244.0.10';
export const BACKENDS = [
  { name: 'b1', ip: '10.244.0.11' },
  { name: 'b2', ip: '10.244.0.12' },
] as const;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const BACKEND_PY = `
import socket, sys, threading
name = sys.argv[1]
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('0.0.0.0', 8080)); t.listen(128)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 5353))
def udp():
    while True:
        d, a = u.recvfrom(2048)
        u.sendto(('%s %s' % (name, a[0])).encode(), a)
threading.Thread(target=udp, daemon=True).start()
print('ready', flush=True)
while True:
    c, a = t.accept()
    try:
        c.sendall(('%s %s\\n' % (name, a[0])).encode())
    finally:
        c.close()
`;

// One result per attempt: "<backend> <source IP the backend saw>" or "ERR:<errno name>".
const CLIENT_PY = `
import socket, sys, json, errno
proto, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = []
for i in range(n):
    s = None
    try:
        if proto == 'tcp':
            s = socket.create_connection((host, port), timeout=3)
            data = b''
            while True:
                b = s.recv(256)
                if not b:
                    break
                data += b
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3)
            s.connect((host, port))
            s.send(b'q')
            data = s.recv(512)
        out.append(data.decode().strip())
    except OSError as e:
        out.append('ERR:' + (errno.errorcode.get(e.errno, 'E%d' % e.errno) if e.errno else 'TIMEOUT'))
    finally:
        if s is not None:
            s.close()
print(json.dumps(out))
`;

const BRIDGE_JS = `
const net = require('node:net');
const [sock, port] = process.argv.slice(2);
net.createServer((c) => { const u = net.connect(sock); c.pipe(u).pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); })
  .listen(Number(port), '127.0.0.1', () => console.log('ready'));
`;

interface Proc {
  child: ChildProcess;
  what: string;
}

export class ProxyWorld {
  readonly procs: Proc[] = [];
  readonly netns: Netns[] = [];
  node!: Netns;
  client!: Netns;
  outside!: Netns;
  backends: Netns[] = [];
  api!: MiniApi;
  dir = '';
  proxyLog = '';
  proxyOut = '';
  proxy: ChildProcess | undefined;
  apiPort = 0;
  private bridge: ChildProcess | undefined;

  static async create(): Promise<ProxyWorld> {
    const w = new ProxyWorld();
    try {
      await w.setup();
      return w;
    } catch (e) {
      await w.cleanup();
      throw e;
    }
  }

  private async setup(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'pwkp-'));
    const id = randomBytes(2).toString('hex');
    this.node = await this.ns('pxn');
    await this.node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // an uplink to an "outside" host that is also the node's default gateway, as on a real node
    // (without a default route, packets to a ClusterIP with no endpoints would die in routing
    // with "network unreachable" before the filter-table REJECT could answer them)
    this.outside = await this.ns('pxo');
    await run('ip', ['link', 'add', 'uplink0', 'netns', this.node.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.outside.name]);
    await this.node.exec('ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', 'uplink0']);
    await this.node.exec('ip', ['link', 'set', 'uplink0', 'up']);
    await this.node.exec('ip', ['route', 'add', 'default', 'via', OUTSIDE_IP]);
    await this.outside.exec('ip', ['addr', 'add', `${OUTSIDE_IP}/24`, 'dev', 'eth0']);
    await this.outside.exec('ip', ['link', 'set', 'eth0', 'up']);
    this.client = await this.pod('pxc', `px${id}c`, CLIENT_IP);
    for (const [i, b] of BACKENDS.entries()) this.backends.push(await this.pod('pxb', `px${id}b${i}`, b.ip));

    await writeFile(join(this.dir, 'backend.py'), BACKEND_PY);
    await writeFile(join(this.dir, 'client.py'), CLIENT_PY);
    await writeFile(join(this.dir, 'bridge.cjs'), BRIDGE_JS);
    for (const [i, b] of BACKENDS.entries()) await this.daemon(this.backends[i]!, ['python3', '-u', join(this.dir, 'backend.py'), b.name], `backend ${b.name}`);

    this.api = await MiniApi.start(join(this.dir, 'api.sock'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    this.apiPort = port;
    await this.startBridge();
    await writeFile(
      join(this.dir, 'kubeconfig'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'lab', cluster: { server: `http://127.0.0.1:${port}` } }],
        users: [{ name: 'lab', user: {} }],
        contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'lab' } }],
        'current-context': 'lab',
      }),
    );
  }

  private async ns(prefix: string): Promise<Netns> {
    const n = await createNetns(prefix);
    this.netns.push(n);
    return n;
  }

  /** A pod namespace: eth0 with ip/32, default via 169.254.1.1; node side: host route to ip/32. */
  private async pod(prefix: string, hostIf: string, ip: string): Promise<Netns> {
    const p = await this.ns(prefix);
    await run('ip', ['link', 'add', hostIf, 'netns', this.node.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p.name]);
    await p.exec('ip', ['addr', 'add', `${ip}/32`, 'dev', 'eth0']);
    await p.exec('ip', ['link', 'set', 'eth0', 'up']);
    await p.exec('ip', ['route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
    await p.exec('ip', ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
    await this.node.exec('ip', ['addr', 'add', '169.254.1.1/32', 'dev', hostIf]);
    await this.node.exec('ip', ['link', 'set', hostIf, 'up']);
    await this.node.exec('ip', ['route', 'add', `${ip}/32`, 'dev', hostIf]);
    return p;
  }

  /** The API becomes reachable from the node namespace (again). */
  async startBridge(): Promise<void> {
    this.bridge = await this.daemon(this.node, [process.execPath, join(this.dir, 'bridge.cjs'), this.api.socket, String(this.apiPort)], 'API bridge');
  }

  /** An API outage as the node sees it: the bridge process ends, its connections are cut. */
  async stopBridge(): Promise<void> {
    const b = this.bridge;
    if (!b || b.exitCode !== null || b.signalCode !== null) return;
    const exited = new Promise((r) => b.once('exit', r));
    b.kill('SIGKILL');
    await exited;
  }

  /** A long-running process in a namespace that prints "ready" once it serves. */
  private async daemon(ns: Netns, argv: string[], what: string): Promise<ChildProcess> {
    const child = spawn('nsenter', [`--net=${ns.path}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push({ child, what });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor(`${what} to start`, () => {
      if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}: ${out}`);
      return out.includes('ready');
    }, 20_000, 50);
    return child;
  }

  /** The kube-proxy CLI registration bundled on its own, run as `podwire lab kube-proxy`. */
  private async entry(): Promise<string> {
    const entry = join(this.dir, 'podwire-kube-proxy.mjs');
    const cli = join(packageRoot(), 'src/cli/lab-kube-proxy.ts');
    await build({
      stdin: {
        contents:
          `import { Command } from 'commander';\nimport { registerLabKubeProxy } from ${JSON.stringify(cli)};\n` +
          `const p = new Command('podwire'); registerLabKubeProxy(p.command('lab'));\nawait p.parseAsync(process.argv.slice(2), { from: 'user' });\n`,
        resolveDir: packageRoot(),
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: entry,
      banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
      logLevel: 'silent',
    });
    return entry;
  }

  async startProxy(args: string[]): Promise<Record<string, unknown>> {
    const entry = await this.entry();
    this.proxyOut = '';
    this.proxyLog = join(this.dir, 'kube-proxy.log');
    const fd = openSync(this.proxyLog, 'a');
    const child = spawn(
      'nsenter',
      [`--net=${this.node.path}`, '--', process.execPath, entry, 'lab', 'kube-proxy', '--node-name', 'n1', '--kubeconfig', join(this.dir, 'kubeconfig'), '--min-sync-period', '100ms', ...args],
      { stdio: ['ignore', 'pipe', fd] },
    );
    closeSync(fd);
    this.proxy = child;
    this.procs.push({ child, what: 'kube-proxy' });
    child.stdout?.on('data', (b: Buffer) => (this.proxyOut += b.toString()));
    const line = await waitFor(`kube-proxy's synced line (log ${this.proxyLog})`, () => {
      if (child.exitCode !== null) throw new Error(`kube-proxy exited ${child.exitCode}: ${readFileSync(this.proxyLog, 'utf8')}`);
      return this.proxyOut.split('\n').find((l) => l.startsWith('{'));
    });
    return JSON.parse(line) as Record<string, unknown>;
  }

  logLines(): Array<Record<string, unknown>> {
    return readFileSync(this.proxyLog, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** n attempts from the client namespace: "<backend> <source it saw>" or "ERR:…" each. */
  async call(proto: 'tcp' | 'udp', host: string, port: number, n = 1, from: Netns = this.client): Promise<string[]> {
    const r = await from.exec('python3', [join(this.dir, 'client.py'), proto, host, String(port), String(n)], { timeoutMs: 60_000 + n * 7000 });
    return JSON.parse(r.stdout) as string[];
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs.reverse()) {
      if (p.child.pid !== undefined && p.child.exitCode === null && p.child.signalCode === null) {
        const exited = new Promise((r) => p.child.once('exit', r));
        p.child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      }
    }
    if (this.api) await this.api.stop();
    for (const n of this.netns) await n.remove();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
