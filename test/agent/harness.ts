// A small cluster for agent tests: an underlay namespace whose bridge address hosts the lab API
// server (a child process, `podwire lab apiserver`), node namespaces plugged into the underlay,
// and `podwire agent` processes exec'd inside them exactly as the lab and a DaemonSet run it.
// The test process itself (root namespace) never talks to the underlay: API calls run curl
// inside the underlay namespace. Every process is tracked by PID and killed by PID; every
// namespace, pin dir and state dir carries a random suffix and is removed in cleanup().
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { createUnderlay, type Underlay } from '../../src/lab/underlay.js';
import { unloadDatapath } from '../../src/loader/index.js';
import { createNetns, uniqueName, type Netns } from '../../src/netns/index.js';
import { bundleLabApiserver } from '../apiserver/harness.js';

export const API_PORT = 6443;

export interface TestNode {
  name: string;
  netns: Netns;
  ip: string;
  pinDir: string;
  stateDir: string;
  confDir: string;
}

export interface AgentProc {
  pid: number;
  log: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface LogLine {
  msg: string;
  level: string;
  [k: string]: unknown;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until fn returns a value other than undefined/false; throws with `what` on timeout. */
export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function readLog(path: string): LogLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        return { msg: '(unparsable)', level: 'error', line: l };
      }
    });
}

export class AgentCluster {
  readonly nodes: TestNode[] = [];
  readonly procs: AgentProc[] = [];
  private api_: ChildProcess | undefined;
  private constructor(
    readonly underlay: Underlay,
    readonly dir: string,
    readonly kubeconfig: string,
    readonly apiUrl: string,
  ) {}

  static async create(prefix = 'pwag'): Promise<AgentCluster> {
    const underlay = await createUnderlay({ prefix: `${prefix}u` });
    let dir: string | undefined;
    let c: AgentCluster | undefined;
    try {
      dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
      const url = `http://${underlay.controlIp}:${API_PORT}`;
      const kubeconfig = join(dir, 'kubeconfig');
      await writeFile(
        kubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'lab', cluster: { server: url } }],
          users: [{ name: 'lab', user: {} }],
          contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'lab' } }],
          'current-context': 'lab',
        }),
      );
      c = new AgentCluster(underlay, dir, kubeconfig, url);
      await c.startApiServer();
      return c;
    } catch (e) {
      if (c) await c.cleanup();
      else {
        await underlay.remove();
        if (dir) await rm(dir, { recursive: true, force: true });
      }
      throw e;
    }
  }

  /**
   * `podwire lab apiserver` as registered by src/cli/lab-apiserver.ts, bundled on its own: the
   * lab CLI group may not be wired into bin/podwire while the lab is being built.
   */
  private apiServerEntry(): Promise<string> {
    return bundleLabApiserver(join(this.dir, 'apiserver.mjs'));
  }

  private async startApiServer(): Promise<void> {
    const entry = await this.apiServerEntry();
    const log = join(this.dir, 'apiserver.log');
    const fd = openSync(log, 'a');
    const child = spawn(
      'nsenter',
      [`--net=${this.underlay.netns.path}`, '--', process.execPath, entry, 'lab', 'apiserver', '--listen', `${this.underlay.controlIp}:${API_PORT}`],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    this.api_ = child;
    await waitFor(`the API server to print its URL (log ${log})`, () => {
      if (child.exitCode !== null) throw new Error(`API server exited ${child.exitCode}: ${readFileSync(log, 'utf8')}`);
      return readFileSync(log, 'utf8').includes('"url"');
    });
  }

  /** An HTTP request to the API server from inside the underlay namespace. */
  async api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const args = ['-sS', '--max-time', '10', '-X', method, '-H', 'accept: application/json', '-w', '\n%{http_code}'];
    if (body !== undefined) args.push('-H', `content-type: ${contentType}`, '--data-binary', '@-');
    args.push(`${this.apiUrl}${path}`);
    const r = await run('curl', args, { netns: this.underlay.netns.path, ...(body === undefined ? {} : { input: JSON.stringify(body) }) });
    const nl = r.stdout.lastIndexOf('\n');
    const status = Number(r.stdout.slice(nl + 1));
    const text = r.stdout.slice(0, nl);
    if (status < 200 || status >= 300) throw new Error(`API ${method} ${path} → ${status}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  faults(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.api('POST', '/_podwire/faults', req);
  }

  /** Register a Node object the way kubelet does; the API server's node-IPAM assigns its podCIDR. */
  async createNodeObject(name: string, internalIp: string): Promise<string> {
    await this.api('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name },
    });
    await this.setNodeIp(name, internalIp);
    const n = await waitFor(`podCIDR of ${name}`, async () => {
      const o = await this.api<{ spec?: { podCIDR?: string } }>('GET', `/api/v1/nodes/${name}`);
      return o.spec?.podCIDR;
    });
    return n;
  }

  async setNodeIp(name: string, internalIp: string): Promise<void> {
    await this.api('PATCH', `/api/v1/nodes/${name}/status`, { status: { addresses: [{ type: 'InternalIP', address: internalIp }, { type: 'Hostname', address: name }] } }, 'application/merge-patch+json');
  }

  async deleteNodeObject(name: string): Promise<void> {
    await this.api('DELETE', `/api/v1/nodes/${name}`);
  }

  /** A node namespace on the underlay (uplink eth0), with its own pin/state/conf dirs. */
  async addNode(name: string): Promise<TestNode> {
    const netns = await createNetns('pwagn');
    const node: TestNode = {
      name,
      netns,
      ip: '',
      pinDir: `/sys/fs/bpf/${uniqueName('pwag-')}`,
      stateDir: join(this.dir, name, 'state'),
      confDir: join(this.dir, name, 'net.d'),
    };
    this.nodes.push(node);
    const port = await this.underlay.attach(netns, this.nodes.length - 1);
    node.ip = port.ip;
    mkdirSync(node.stateDir, { recursive: true });
    return node;
  }

  /** Exec `podwire agent` in the node namespace with the lab owner's flags (plus extras). */
  startAgent(node: TestNode, opts: { mode?: 'native' | 'vxlan'; extra?: string[] } = {}): AgentProc {
    const log = join(this.dir, node.name, `agent-${this.procs.length}.log`);
    mkdirSync(join(this.dir, node.name), { recursive: true });
    const fd = openSync(log, 'a');
    const child = spawn(
      'nsenter',
      [
        `--net=${node.netns.path}`, '--', podwireBin(), 'agent',
        '--node-name', node.name,
        '--kubeconfig', this.kubeconfig,
        '--mode', opts.mode ?? 'native',
        '--uplink', 'eth0',
        '--pin-dir', node.pinDir,
        '--state-dir', node.stateDir,
        '--cni-conf-dir', node.confDir,
        '--cni-bin-dir', '/usr/lib/cni', // Debian's portmap: the chain's version is negotiated with it
        '--health-listen', '127.0.0.1:9879',
        // its own CNI socket: test agents run side by side and must not take each other's
        '--cni-socket', join(this.dir, node.name, 'cni.sock'),
        ...(opts.extra ?? []),
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const p: AgentProc = { pid: child.pid!, log, child, exited };
    this.procs.push(p);
    return p;
  }

  /** Wait for a log line matching pred (scans the whole log each time). */
  waitLog(p: AgentProc, what: string, pred: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    return waitFor(`${what} in ${p.log}`, () => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) {
        throw new Error(`agent ${p.pid} exited (${p.child.exitCode ?? p.child.signalCode}) before ${what}:\n${readFileSync(p.log, 'utf8').slice(-3000)}`);
      }
      return readLog(p.log).find(pred);
    }, timeoutMs);
  }

  /** GET /readyz inside the node namespace: the HTTP status. */
  async readyz(node: TestNode): Promise<number> {
    const r = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', 'http://127.0.0.1:9879/readyz'], { netns: node.netns.path, reject: false });
    return Number(r.stdout);
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    const api = this.api_;
    if (api && api.exitCode === null && api.signalCode === null) {
      const gone = new Promise((r) => api.once('exit', r));
      api.kill('SIGKILL'); // by PID: the child we spawned (nsenter exec'd podwire in place)
      await gone;
    }
    for (const n of this.nodes) {
      await unloadDatapath({ pinDir: n.pinDir, netns: n.netns.path }).catch(() => undefined);
      await rm(n.pinDir, { recursive: true, force: true }).catch(() => undefined);
      await n.netns.remove();
    }
    await this.underlay.remove();
    await rm(this.dir, { recursive: true, force: true });
  }
}
