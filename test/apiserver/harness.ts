// Test helpers for the API server: a tiny HTTP client that returns status + parsed JSON, and a
// watch reader that collects newline-delimited events and lets a test wait (bounded) for the
// ones it expects.
import { request } from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';
import { KubeConfig } from '@kubernetes/client-node';
import { packageRoot } from '../../src/assets/index.js';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../src/apiserver/index.js';

export interface Reply {
  status: number;
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

export function call(base: string, method: string, path: string, body?: unknown, contentType = 'application/json', accept = 'application/json'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    // A fresh connection per call: a pooled keep-alive socket the server just cut (fault tests)
    // would turn "connection refused" into "connection reset".
    const req = request(`${base}${path}`, {
      agent: false,
      method,
      headers: { accept, ...(data !== undefined ? { 'content-type': contentType, 'content-length': Buffer.byteLength(data) } : {}) },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* plain text (healthz) */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

export interface WatchEvent {
  type: string;
  object: any;
}

export class WatchReader {
  readonly events: WatchEvent[] = [];
  status = 0;
  ended = false;
  private waiters: Array<() => void> = [];
  private readonly req;
  readonly done: Promise<void>;
  readonly headers: Promise<void>;

  constructor(base: string, path: string) {
    let endResolve!: () => void;
    let headResolve!: () => void;
    this.done = new Promise((r) => (endResolve = r));
    this.headers = new Promise((r) => (headResolve = r));
    this.req = request(`${base}${path}`, { agent: false, headers: { accept: 'application/json' } });
    this.req.on('response', (res) => {
      this.status = res.statusCode ?? 0;
      headResolve();
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) this.events.push(JSON.parse(line) as WatchEvent);
        }
        this.wake();
      });
      const finish = (): void => {
        if (buf.trim() && this.status === 200) this.events.push(JSON.parse(buf) as WatchEvent);
        else if (buf.trim()) this.events.push({ type: 'HTTP', object: JSON.parse(buf) });
        this.ended = true;
        this.wake();
        endResolve();
      };
      res.on('end', finish);
      res.on('close', () => {
        if (!this.ended) finish();
      });
    });
    this.req.on('error', () => {
      this.ended = true;
      headResolve();
      this.wake();
      endResolve();
    });
    this.req.end();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Wait until `count` events arrived (or the stream ended); bounded by `ms`. */
  async waitFor(count: number, ms = 5000): Promise<WatchEvent[]> {
    const deadline = Date.now() + ms;
    while (this.events.length < count && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.events;
  }

  close(): void {
    this.req.destroy();
  }
}

export const pod = (name: string, extra: { nodeName?: string; labels?: Record<string, string>; namespace?: string } = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}), ...(extra.namespace ? { namespace: extra.namespace } : {}) },
  spec: { ...(extra.nodeName ? { nodeName: extra.nodeName } : {}), containers: [{ name: 'c', image: 'busybox' }] },
});

export async function withServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  return startApiServer(opts);
}

/** A client-node KubeConfig for an in-process API server started by withServer() (anonymous). */
export function kubeConfigFor(server: ApiServer): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'lab', server: server.url, skipTLSVerify: true }],
    users: [{ name: 'lab' }],
    contexts: [{ name: 'lab', cluster: 'lab', user: 'lab' }],
    currentContext: 'lab',
  });
  return kc;
}

/**
 * Bundle `podwire lab apiserver` on its own into `outfile` (run it with node: `lab apiserver …`):
 * tests start the API server as a separate process without building bin/podwire, whose lab
 * command group may not be wired while the lab is being built.
 */
export async function bundleLabApiserver(outfile: string): Promise<string> {
  const cli = join(packageRoot(), 'src/cli/lab-apiserver.ts');
  await build({
    stdin: {
      contents:
        `import { Command } from 'commander';\nimport { registerLabApiserver } from ${JSON.stringify(cli)};\n` +
        `const p = new Command('podwire'); registerLabApiserver(p.command('lab'));\nawait p.parseAsync(process.argv.slice(2), { from: 'user' });\n`,
      resolveDir: packageRoot(),
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile,
    banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
    logLevel: 'silent',
  });
  return outfile;
}
