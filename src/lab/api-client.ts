// The lab orchestrator's own client for the lab API server. The API server lives in the
// underlay namespace (nodes reach it over the underlay); the orchestrator runs in the root
// namespace, which has no route there, so it talks over the server's Unix socket instead.
import { request } from 'node:http';
import { PodwireError } from '../errors/index.js';

export interface ApiResponse<T> {
  status: number;
  body: T;
}

export function apiRequest<T = Record<string, unknown>>(socket: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<ApiResponse<T>> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: socket,
        method,
        path,
        headers: {
          accept: 'application/json',
          ...(payload ? { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // keep text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`lab API ${method} ${path} timed out`)));
    req.on('error', (cause) => reject(new PodwireError('IO_FAILED', `lab API server at ${socket} unreachable: ${cause.message}`, { cause })));
    if (payload) req.write(payload);
    req.end();
  });
}

/** Same as apiRequest, but any non-2xx answer is an error naming the API's message. */
export async function api<T = Record<string, unknown>>(socket: string, method: string, path: string, body?: unknown): Promise<T> {
  const r = await apiRequest<T>(socket, method, path, body);
  if (r.status < 200 || r.status >= 300) {
    const msg = (r.body as { message?: string } | undefined)?.message ?? JSON.stringify(r.body);
    throw new PodwireError('IO_FAILED', `lab API ${method} ${path} → ${r.status}: ${msg}`);
  }
  return r.body;
}
