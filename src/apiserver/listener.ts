// The listening socket and every accepted connection, tracked so the server can stop cleanly,
// and so the "refuse connections" fault can close the port, cut every open connection, and
// listen again on the same address later.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { PodwireError } from '../errors/index.js';

export class Listener {
  private readonly sockets = new Set<Socket>();
  port = 0;
  listening = false;

  constructor(private readonly server: Server, readonly host: string) {
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => {
        this.server.off('listening', onListening);
        reject(new PodwireError('IO_FAILED', `the lab API server cannot listen on ${this.host}:${port}: ${e.message}; choose another --listen address or port`, { cause: e }));
      };
      const onListening = (): void => {
        this.server.off('error', onError);
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen(port, this.host);
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    this.listening = true;
  }

  /** Stop accepting and destroy every open connection (watches included). */
  async close(): Promise<void> {
    if (!this.listening) {
      for (const s of this.sockets) s.destroy();
      return;
    }
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
