// The agent's CNI endpoint: the native shim (bpf/tools/podwire-cni.c) hands every CNI request
// to this Unix socket, so a pod ADD costs one connect instead of a Node.js start plus module
// loading. Protocol, one request per connection: the client sends one JSON object
// {"env":{"CNI_COMMAND":…,…},"stdin":"…"} and half-closes; the server answers one JSON object
// {"exitCode":N,"stdout":"…","stderr":"…"} and closes. The answer is exactly what the exec'd
// plugin would have printed (same core, src/cni runCni). Requests run concurrently: the IPAM
// store serialises allocations itself. The socket is 0600 (root only: a request creates and
// deletes network devices) and is re-created at start, so a stale file from a killed agent never
// blocks it; a request that does not parse gets a CNI error JSON, never a hang.
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { PodwireError } from '../errors/index.js';
import { observeCniOperation } from '../metrics/index.js';
import type { Logger } from './log.js';

/** A CNI config is a few KiB (a prevResult with many IPs a few more); anything larger is not one. */
export const MAX_REQUEST_BYTES = 1 << 20;
/** Time a client gets to send its request; the command itself is bounded by its own steps. */
export const REQUEST_TIMEOUT_MS = 10_000;

export interface CniServer {
  path: string;
  /** Requests answered so far (every answer, errors included): proof that the agent, not the shim's fallback, served them. */
  readonly served: number;
  close(): Promise<void>;
}

export interface CniServerOptions {
  path: string;
  log?: Logger;
}

interface Reply {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Parse a request; only CNI_* keys of its env are kept (nothing else may steer the plugin). */
export function parseCniRequest(text: string): { env: Record<string, string>; stdin: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new PodwireError('DECODE_FAILED', `CNI request on the agent socket is not valid JSON: ${(e as Error).message}`);
  }
  const o = v as { env?: unknown; stdin?: unknown } | null;
  if (!o || typeof o !== 'object' || Array.isArray(o) || !o.env || typeof o.env !== 'object' || Array.isArray(o.env) || typeof o.stdin !== 'string') {
    throw new PodwireError('DECODE_FAILED', 'CNI request on the agent socket must be {"env":{"CNI_COMMAND":…},"stdin":"…"}');
  }
  const env: Record<string, string> = {};
  for (const [k, val] of Object.entries(o.env as Record<string, unknown>)) {
    if (k.startsWith('CNI_') && typeof val === 'string') env[k] = val;
  }
  return { env, stdin: o.stdin };
}

async function errorReply(e: unknown): Promise<Reply> {
  const { toCniError } = await import('../cni/errors.js');
  const { LATEST_VERSION } = await import('../cni/version.js');
  const err = toCniError(e, LATEST_VERSION);
  return { exitCode: 1, stdout: `${JSON.stringify(err)}\n`, stderr: `podwire: CNI error ${err.code}: ${err.msg}\n` };
}

async function answer(text: string): Promise<Reply> {
  const t0 = performance.now();
  let command: string | undefined;
  let reply: Reply;
  try {
    const req = parseCniRequest(text);
    command = req.env['CNI_COMMAND'];
    // Lazy: the CNI core (and the datapath modules ADD needs) load on the first request.
    const { runCni } = await import('../cni/index.js');
    reply = await runCni(req);
  } catch (e) {
    reply = await errorReply(e);
  }
  observeCniOperation(command, reply.exitCode === 0, (performance.now() - t0) / 1000);
  return reply;
}

/** What the "cni request served" line names: enough to tell which pod's request the agent answered. */
function requestFields(text: string, r: Reply): Record<string, unknown> {
  let env: Record<string, string> = {};
  try {
    env = parseCniRequest(text).env;
  } catch {
    // a request that did not parse is still an answered request
  }
  return { command: env['CNI_COMMAND'], containerId: env['CNI_CONTAINERID'], ifname: env['CNI_IFNAME'], exitCode: r.exitCode };
}

function serve(sock: Socket, log: Logger | undefined, onServed: () => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  const reply = (r: Reply) => {
    if (done) return;
    done = true;
    sock.setTimeout(0);
    sock.end(JSON.stringify(r));
  };
  sock.setTimeout(REQUEST_TIMEOUT_MS, () => {
    void errorReply(new PodwireError('IO_FAILED', `CNI request not received within ${REQUEST_TIMEOUT_MS} ms`)).then(reply);
  });
  sock.on('error', (e) => log?.warn('CNI socket client error', { error: e }));
  sock.on('data', (c: Buffer) => {
    if (done) return;
    size += c.length;
    if (size > MAX_REQUEST_BYTES) {
      void errorReply(new PodwireError('DECODE_FAILED', `CNI request exceeds ${MAX_REQUEST_BYTES} bytes`)).then(reply);
      return;
    }
    chunks.push(c);
  });
  sock.on('end', () => {
    if (done) return;
    const text = Buffer.concat(chunks).toString('utf8');
    void answer(text).then((r) => {
      reply(r);
      // Who answered a CNI request must be observable: the shim falls back to podwire-full
      // silently, so tests and operators count these lines (or CniServer.served).
      onServed();
      log?.info('cni request served', requestFields(text, r));
    });
  });
}

/** Listen on `path` (removed first if a previous agent left it), mode 0600. */
export async function startCniServer(o: CniServerOptions): Promise<CniServer> {
  await mkdir(dirname(o.path), { recursive: true, mode: 0o700 });
  await unlink(o.path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw new PodwireError('IO_FAILED', `cannot remove the stale CNI socket ${o.path}: ${e.message}`, { cause: e });
  });
  let served = 0;
  const server: Server = createServer({ allowHalfOpen: true }, (sock) =>
    serve(sock, o.log, () => {
      served++;
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new PodwireError('IO_FAILED', `cannot listen on the CNI socket ${o.path}: ${e.message}`, { cause: e })));
    // The conflist that names the socket is written later (once ready); the chmod below makes
    // the mode 0600 whatever the umask is (the directory, when we create it, is 0700).
    server.listen(o.path, () => resolve());
  });
  await chmod(o.path, 0o600);
  return {
    path: o.path,
    get served() {
      return served;
    },
    close: () =>
      new Promise<void>((resolve) => {
        // In-flight requests finish (the runtime is waiting for them); new connections are refused.
        server.close(() => resolve());
        void unlink(o.path).catch(() => undefined);
      }),
  };
}
