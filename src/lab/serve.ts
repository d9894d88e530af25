// A lab pod's "containers": one tiny server per declared container port, run inside the pod's
// network namespace by the lab kubelet. Every TCP connection and every UDP datagram gets one
// line back, `<namespace>/<name> <client-ip>:<client-port>`, so a test can tell which backend
// answered a Service and that the backend saw the client's own address (no SNAT).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { PodwireError } from '../errors/index.js';

export interface ServePort {
  protocol: 'tcp' | 'udp';
  port: number;
}

/** Parse `tcp:80,udp:53` (the `--ports` flag); an empty string is no ports. */
export function parseServePorts(text: string): ServePort[] {
  if (!text.trim()) return [];
  return text.split(',').map((item) => {
    const m = /^(tcp|udp):([0-9]{1,5})$/.exec(item.trim().toLowerCase());
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) throw new PodwireError('USAGE', `--ports item ${JSON.stringify(item)} is not tcp:PORT or udp:PORT (1..65535), e.g. tcp:80,udp:53`);
    return { protocol: m[1] as 'tcp' | 'udp', port };
  });
}

export function formatServePorts(ports: ServePort[]): string {
  return ports.map((p) => `${p.protocol}:${p.port}`).join(',');
}

export interface Servers {
  close(): Promise<void>;
}

/** Listen on every port (all addresses); resolves once all are bound. */
export async function serve(identity: string, ports: ServePort[]): Promise<Servers> {
  const open: Array<Server | UdpSocket> = [];
  const line = (ip: string | undefined, port: number | undefined) => `${identity} ${ip ?? '?'}:${port ?? 0}\n`;
  try {
    for (const p of ports) {
      if (p.protocol === 'tcp') {
        const srv = createServer((sock) => {
          sock.on('error', () => {});
          sock.end(line(sock.remoteAddress, sock.remotePort));
        });
        open.push(srv);
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen({ port: p.port, host: '0.0.0.0', backlog: 1024 }, () => resolve());
        });
      } else {
        const sock = createSocket('udp4');
        open.push(sock);
        sock.on('message', (_msg, rinfo) => sock.send(line(rinfo.address, rinfo.port), rinfo.port, rinfo.address));
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind(p.port, '0.0.0.0', () => resolve());
        });
        sock.on('error', () => {});
      }
    }
  } catch (cause) {
    for (const s of open) s.close();
    throw new PodwireError('IO_FAILED', `${identity}: cannot listen on ${formatServePorts(ports)}: ${(cause as Error).message}`, { cause });
  }
  return {
    close: async () => {
      await Promise.all(open.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
