// /healthz (liveness: the process answers) and /readyz (readiness: datapath loaded, first
// sync done, conflist written), and /metrics unless it has a listener of its own. The probes
// answer JSON so a human with curl sees why it is not ready.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenHttp } from './listen.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
  /** What runs where, for a human with curl (not part of the verdict): e.g. the XDP prefilter's mode. */
  info?: Record<string, unknown>;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** `metrics`: also answer /metrics here (the default; --metrics-listen moves it to its own listener). */
export async function startHealthServer(
  host: string,
  port: number,
  readiness: () => Readiness,
  opts: { metrics?: (req: IncomingMessage, res: ServerResponse) => boolean } = {},
): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    if (opts.metrics?.(req, res)) return;
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (path === '/healthz') return send(200, { ok: true });
    if (path === '/readyz') {
      const r = readiness();
      return send(r.ready ? 200 : 503, r);
    }
    return send(404, { error: `not found; try /healthz or /readyz${opts.metrics ? ' or /metrics' : ''}` });
  });
  return listenHttp(server, host, port, '--health-listen');
}
