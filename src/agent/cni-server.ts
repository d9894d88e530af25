// The agent's CNI endpoint: the native shim (bpf/tools/podwire-cni.c) hands every CNI request
// to this Unix socket, so a pod ADD costs one connect instead of a Node.js start plus module
// loading. Protocol, one request per connection: the client sends one JSON object
// {"env":{"CNI_COMMAND":…,…},"stdin":"…"} and half-closes; the server answers one JSON object
// {"exitCode":N,"stdout":"…","stderr":"…"} and closes. The answer is exactly what the exec'd
// plugin would have printed (same core, src/cni runCni). Requests run concurrently: the IPAM
// store serialises allocations itself. The socket is 0600 (root only: a request creates and
// deletes network devices) and is re-created at start, so a stale file from a killed agent never
// blocks it; a request that does not parse gets a CNI error JSON, never a hang.
// ADD and DEL do their kernel steps through ONE long-lived pw-wire helper process (rtnetlink,
// setns into the pod netns, tcx attach, map writes; src/wire/client.ts), not an exec per step;
// when the helper binary is missing they fall back to the exec'd tools.
import { existsSync } from 'node:fs';
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { wireHelper } from '../assets/index.js';
import type { Wiring } from '../cni/wiring.js';
import { VethPool } from '../cni/pool.js';
import { PodwireError } from '../errors/index.js';
import { observeCniOperation, recordVethPool } from '../metrics/index.js';
import { WireHelper } from '../wire/client.js';
import type { Logger } from './log.js';

/** A CNI config is a few KiB (a prevResult with many IPs a few more); anything larger is not one. */
export const MAX_REQUEST_BYTES = 1 << 20;
/** Time a client gets to send its request; the command itself is bounded by its own steps. */
export const REQUEST_TIMEOUT_MS = 10_000;

export interface CniServer {
  path: string;
  /** Requests answered so far (every answer, errors included): proof that the agent, not the shim's fallback, served them. */
  readonly served: number;
  /** The pw-wire helper ADD/DEL use (undefined: exec'd tools); tests kill it to prove the restart. */
  readonly wire: WireHelper | undefined;
  /** The warm veth pool (undefined: off, or no pw-wire helper). */
  readonly pool: VethPool | undefined;
  close(): Promise<void>;
}

export interface CniServerOptions {
  path: string;
  log?: Logger;
  /** After a successful ADD, before the runtime gets the answer (NetworkPolicy at birth). Bounded
   * by ADD_HOOK_TIMEOUT_MS; a failure or timeout is logged and the ADD still succeeds. */
  onAdded?: (pod: AddedPod) => Promise<void>;
  /** 'helper' (default): the pw-wire helper; 'exec': one process per step, as the exec'd plugin. */
  wiring?: 'helper' | 'exec';
  /** The warm veth pool (src/cni/pool.ts): size 0 = off. Needs the pw-wire helper. */
  vethPool?: { size: number; pinDir: string; mtu: number; idleMs?: number };
}

/** The pod a successful ADD wired (from CNI_ARGS and the result's first IPv4 address). */
export interface AddedPod {
  namespace: string;
  name: string;
  ip: string;
}

export const ADD_HOOK_TIMEOUT_MS = 2_000;

/** The pod of an ADD request and its result, or undefined when either does not say. */
export function addedPod(env: Record<string, string>, stdout: string): AddedPod | undefined {
  const args = new Map((env['CNI_ARGS'] ?? '').split(';').map((kv) => kv.split('=', 2) as [string, string | undefined]));
  const namespace = args.get('K8S_POD_NAMESPACE');
  const name = args.get('K8S_POD_NAME');
  if (!namespace || !name) return undefined;
  let ips: unknown;
  try {
    ips = (JSON.parse(stdout) as { ips?: unknown }).ips;
  } catch {
    return undefined;
  }
  if (!Array.isArray(ips)) return undefined;
  for (const i of ips) {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})\//.exec(String((i as { address?: unknown } | null)?.address ?? ''));
    if (m) return { namespace, name, ip: m[1]! };
  }
  return undefined;
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

async function answer(text: string, o: CniServerOptions, wiring: () => Promise<Wiring | undefined>, pool?: VethPool): Promise<Reply> {
  const t0 = performance.now();
  let command: string | undefined;
  let reply: Reply;
  try {
    const req = parseCniRequest(text);
    command = req.env['CNI_COMMAND'];
    // Lazy: the CNI core (and the datapath modules ADD needs) load on the first request.
    const { runCni } = await import('../cni/index.js');
    const wiresDevices = command === 'ADD' || command === 'DEL';
    // the warm pool refills only while no ADD/DEL is in flight (a refill step holds the RTNL)
    if (wiresDevices) pool?.begin();
    try {
      const w = wiresDevices ? await wiring() : undefined;
      reply = await runCni(req, w ? { wiring: w } : {});
      const pod = command === 'ADD' && reply.exitCode === 0 && o.onAdded ? addedPod(req.env, reply.stdout) : undefined;
      if (pod) await runAddHook(o, pod);
    } finally {
      if (wiresDevices) pool?.end();
    }
  } catch (e) {
    reply = await errorReply(e);
  }
  observeCniOperation(command, reply.exitCode === 0, (performance.now() - t0) / 1000);
  return reply;
}

async function runAddHook(o: CniServerOptions, pod: AddedPod): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const t0 = performance.now();
  try {
    await Promise.race([
      o.onAdded!(pod),
      new Promise<void>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not done within ${ADD_HOOK_TIMEOUT_MS} ms`)), ADD_HOOK_TIMEOUT_MS);
      }),
    ]);
    o.log?.debug('ADD hook done', { pod: `${pod.namespace}/${pod.name}`, ip: pod.ip, durationMs: Math.round(performance.now() - t0) });
  } catch (e) {
    o.log?.warn('ADD hook failed; the pod is wired and its policy applies on the next recompute', { pod: `${pod.namespace}/${pod.name}`, ip: pod.ip, error: e });
  } finally {
    clearTimeout(timer);
  }
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

function serve(sock: Socket, o: CniServerOptions, wiring: () => Promise<Wiring | undefined>, onServed: () => void, pool: VethPool | undefined): void {
  const log = o.log;
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
    // received: the command is bounded by its own steps (the pw-wire helper's deadline), and
    // an idle timer running on would answer a slow ADD with an error while it still wires
    sock.setTimeout(0);
    const text = Buffer.concat(chunks).toString('utf8');
    void answer(text, o, wiring, pool).then((r) => {
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
  let wire: WireHelper | undefined;
  if ((o.wiring ?? 'helper') === 'helper') {
    if (existsSync(wireHelper())) wire = new WireHelper({ bin: wireHelper() });
    else o.log?.warn('pw-wire helper missing; CNI ADD/DEL exec iproute2, pw-tcx and bpftool per step (run npm run build)', { path: wireHelper() });
  }
  let pool: VethPool | undefined;
  if (wire && o.vethPool) {
    // size 0: no pool, but pairs a previous agent left are still deleted
    pool = new VethPool({ wire, ...o.vethPool, ...(o.log ? { log: o.log } : {}), onEvent: recordVethPool });
    pool.start();
  }
  let wiring: Promise<Wiring | undefined> | undefined;
  const getWiring = () =>
    (wiring ??= wire
      ? import('../cni/wiring-helper.js').then((m) => m.helperWiring(wire!, pool))
      : Promise.resolve(undefined));
  const server: Server = createServer({ allowHalfOpen: true }, (sock) =>
    serve(
      sock,
      o,
      getWiring,
      () => {
        served++;
      },
      pool,
    ),
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
    wire,
    pool,
    close: () =>
      new Promise<void>((resolve) => {
        // In-flight requests finish (the runtime is waiting for them); new connections are refused.
        pool?.close();
        server.close(() => {
          wire?.close();
          resolve();
        });
        void unlink(o.path).catch(() => undefined);
      }),
  };
}
