// Binding an HTTP server to HOST:PORT for the agent's endpoints (health, metrics): a bind failure
// names the flag and the address, and close() also ends keep-alive connections.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PodwireError } from '../errors/index.js';

export interface Listening {
  /** The bound port (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

export async function listenHttp(server: Server, host: string, port: number, flag: string): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((cause: unknown) => {
    throw new PodwireError('CONFIG_INVALID', `${flag} ${host}:${port} cannot be used: ${(cause as Error).message}; pick a free HOST:PORT`, { cause });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
