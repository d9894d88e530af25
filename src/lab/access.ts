// kind-like access to the lab from the host: the API server lives in the underlay namespace
// (the host namespace has no route there), so a small forwarder in the host namespace listens
// on 127.0.0.1 and relays HTTP to the API server's Unix socket. The socket is the orchestrator's
// trusted channel (no token needed), so the forwarder itself demands the lab's bearer token:
// anything reaching it unauthenticated gets 401, exactly as the API server's TCP port answers.
// It speaks TLS with a certificate made per lab: kubectl (client-go) sends a kubeconfig's
// token only over TLS, so plain HTTP would leave kubectl anonymous.
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:https';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';

/**
 * A self-signed certificate for 127.0.0.1 (the forwarder) and the control-plane address (the API
 * server's own TCP port); kubeconfigs name it as their CA.
 */
export async function makeLabCertificate(certFile: string, keyFile: string, ips: string[] = []): Promise<void> {
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '365', '-subj', '/CN=podwire-lab-apiserver',
    '-addext', `subjectAltName=${['127.0.0.1', ...ips].map((ip) => `IP:${ip}`).join(',')},DNS:localhost`,
  ]);
}

export interface Forwarder {
  port: number;
  close(): Promise<void>;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startForwarder(o: { host: string; port: number; socket: string; tokenFile: string; certFile: string; keyFile: string }): Promise<Forwarder> {
  const token = readFileSync(o.tokenFile, 'utf8').trim();
  if (!token) throw new PodwireError('CONFIG_INVALID', `token file ${o.tokenFile} is empty: write the lab's bearer token into it`);
  const server: Server = createServer({ cert: readFileSync(o.certFile), key: readFileSync(o.keyFile) }, (req, res) => {
    if (!tokenMatches(req.headers.authorization, token)) {
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      res.writeHead(401, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization; // the socket needs none; do not spread the secret further
    const up = request({ socketPath: o.socket, method: req.method, path: req.url, headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      // writeHead alone sends nothing until the first body byte: a watch would reach the client
      // only with its first event, and `kubectl wait` blocked on that for seconds
      res.flushHeaders();
      ur.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`lab API server unreachable: ${e.message}\n`);
    });
    // A watch the client gives up on must end upstream too.
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new PodwireError('IO_FAILED', 'forwarder has no TCP address');
  return {
    port: addr.port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A kubeconfig (JSON is YAML) naming one server, its CA (for https) and the lab's bearer token. */
export function renderKubeconfig(server: string, token: string | undefined, user = 'lab-admin', caPem?: string): string {
  return `${JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'podwire-lab', cluster: { server, ...(caPem ? { 'certificate-authority-data': Buffer.from(caPem).toString('base64') } : {}) } }],
    users: [{ name: user, user: token ? { token } : {} }],
    contexts: [{ name: 'podwire-lab', context: { cluster: 'podwire-lab', user } }],
    'current-context': 'podwire-lab',
  }, null, 2)}\n`;
}
