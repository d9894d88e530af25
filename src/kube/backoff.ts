// Exponential backoff with a cap and jitter, for restarting watches. Jitter keeps a fleet of
// agents from reconnecting to a recovering API server in lock-step.
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** Fraction of the delay that is randomised: delay * (1 - jitter * U[0,1)). 0 = none. */
  jitter?: number;
  /** Source of randomness (tests pass a fixed one). */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 250;
    this.maxMs = opts.maxMs ?? 30_000;
    this.factor = opts.factor ?? 2;
    this.jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.5));
    this.random = opts.random ?? Math.random;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The next delay; each call grows the ceiling until maxMs. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
    this.attempt++;
    return Math.round(ceiling * (1 - this.jitter * this.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}
