// Fault injection for the agent's resilience tests, usable in-process (methods) and over HTTP
// (POST /_podwire/faults) for an API server running as a background process. Each fault is what
// a real control plane does to its clients: watches cut (apiserver restart or load balancer
// timeout), watches answered with 500, history compacted so a rewatch gets 410 Expired and must
// relist, and the port gone for a while (connection refused).
import { PodwireError } from '../errors/index.js';
import type { Listener } from './listener.js';
import { expired, internalError, type StatusObject } from './status.js';
import type { Store } from './store.js';
import type { WatchHub } from './watch.js';

export interface FaultRequest {
  /** End every open watch now. */
  closeWatches?: boolean;
  /** Answer the next N watch requests with HTTP 500. */
  failNextWatches?: number;
  /** Compact the history past now and send ERROR 410 to every open watch. */
  expireHistory?: boolean;
  /** Close the port (and every connection) for this many milliseconds, then listen again. */
  refuseConnectionsMs?: number;
}

export interface FaultResult {
  closedWatches?: number;
  failNextWatches?: number;
  expiredWatches?: number;
  refusingForMs?: number;
}

export class Faults {
  private watchFailures = 0;
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopenDone: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly store: Store, private readonly hub: WatchHub, private readonly listener: Listener) {}

  /** End every open watch; returns how many were open. */
  closeWatches(): number {
    return this.hub.closeAll();
  }

  /** The next `n` watch requests get a 500 InternalError Status instead of a stream. */
  failNextWatches(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new PodwireError('USAGE', `failNextWatches wants a whole number ≥ 0, got ${n}`);
    this.watchFailures = n;
  }

  /** Called by the router for every watch request: the 500 to answer with, if one is due. */
  takeWatchFailure(): StatusObject | undefined {
    if (this.watchFailures <= 0) return undefined;
    this.watchFailures--;
    return internalError('injected fault: watch refused (podwire lab)').status;
  }

  /**
   * Forget all history (as an etcd compaction to the current revision) and end every open
   * watch with an ERROR 410 Expired event: clients must relist. Returns the number of watches hit.
   */
  expireHistory(): number {
    // Compact past every version a client can hold, so any rewatch — also by a client whose
    // watch was not open right now — gets 410 and must relist; a relist returns `rv`, which
    // is watchable.
    const rv = this.store.advance();
    this.store.history.compactTo(rv);
    return this.hub.failAll(expired(`too old resource version: ${rv} (${rv})`).status);
  }

  /**
   * Close the listening socket and every open connection, and listen again on the same port
   * after `ms`. Resolves once the port is closed; `reopened` resolves when it accepts again.
   */
  async refuseConnections(ms: number): Promise<{ reopened: Promise<void> }> {
    if (!Number.isFinite(ms) || ms < 0) throw new PodwireError('USAGE', `refuseConnections wants milliseconds ≥ 0, got ${ms}`);
    if (this.reopenTimer) throw new PodwireError('USAGE', 'refuseConnections: the port is already closed by an earlier fault');
    this.hub.closeAll();
    await this.listener.close();
    const reopened = new Promise<void>((resolve, reject) => {
      this.reopenDone = resolve;
      this.reopenTimer = setTimeout(() => {
        this.reopenTimer = undefined;
        this.reopenDone = undefined;
        if (this.stopped) return resolve();
        this.listener.listen(this.listener.port).then(resolve, reject);
      }, ms);
    });
    // A failed reopen surfaces to whoever awaits `reopened`; keep it from being an unhandled rejection.
    reopened.catch(() => undefined);
    return { reopened };
  }

  apply(req: FaultRequest): { result: FaultResult; after?: () => Promise<unknown> } {
    const result: FaultResult = {};
    if (req.failNextWatches !== undefined) {
      this.failNextWatches(req.failNextWatches);
      result.failNextWatches = req.failNextWatches;
    }
    if (req.closeWatches) result.closedWatches = this.closeWatches();
    if (req.expireHistory) result.expiredWatches = this.expireHistory();
    if (req.refuseConnectionsMs !== undefined) {
      const ms = req.refuseConnectionsMs;
      if (!Number.isFinite(ms) || ms < 0) throw new PodwireError('USAGE', `refuseConnectionsMs wants milliseconds ≥ 0, got ${ms}`);
      result.refusingForMs = ms;
      // Only after the HTTP answer went out: closing first would cut the caller's own request.
      return { result, after: () => this.refuseConnections(ms) };
    }
    return { result };
  }

  get pendingWatchFailures(): number {
    return this.watchFailures;
  }

  stop(): void {
    this.stopped = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    this.reopenDone?.();
    this.reopenDone = undefined;
  }
}
