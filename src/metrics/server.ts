// Serving the registry: scrape() is what every /metrics handler calls (the health listener's
// route, or the dedicated listener of --metrics-listen); it starts a new scrape generation so
// each map is read once per scrape, then lets prom-client write the text format.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenHttp } from '../agent/listen.js';
import { nextScrape } from './datapath.js';
import { registry } from './registry.js';

export const METRICS_PATH = '/metrics';

export async function scrape(): Promise<{ contentType: string; body: string }> {
  nextScrape();
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/** Answers GET /metrics; returns false for any other path (the caller answers those). */
export function handleMetrics(req: IncomingMessage, res: ServerResponse): boolean {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== METRICS_PATH) return false;
  scrape().then(
    (m) => {
      res.writeHead(200, { 'content-type': m.contentType });
      res.end(m.body);
    },
    (e: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`scrape failed: ${(e as Error).message}\n`);
    },
  );
  return true;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** A listener that serves only /metrics (for --metrics-listen, apart from the health probes). */
export async function startMetricsServer(host: string, port: number): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (handleMetrics(req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`not found; try ${METRICS_PATH}\n`);
  });
  return listenHttp(server, host, port, '--metrics-listen');
}
