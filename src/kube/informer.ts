// A list/watch cache that does not give up. The 1.4.x ListWatch handles a closed watch (it
// re-watches from the last resourceVersion) and 410 Gone (it relists, diffing the cache and
// firing deletes for what vanished), but after any other error — connection refused, an HTTP
// 500 on the watch, a failed list — it emits 'error' and stops for good. This wrapper restarts
// it on every error with capped, jittered exponential backoff, on the SAME ListWatch, so the
// cache and resourceVersion survive the outage: while the API is away the cache (and so the
// maps computed from it) stays as it was, and the next list converges by diff.
//
// stop() on a ListWatch aborts its request, and the abort comes back as an 'error' (1.4.x):
// once we are stopping, errors are expected and ignored.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { Backoff, type BackoffOptions } from './backoff.js';

export interface WatchLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** What a list returned: the snapshot's version and how many objects it held. */
export interface ListedSnapshot {
  metadata?: { resourceVersion?: string };
  items?: readonly unknown[];
  count?: number;
  /** Pages of a paged list. */
  pages?: number;
}

/** The list/watch cache an informer drives: client-node's ListWatch, or compact.ts's RecordCache. */
export interface ListWatchLike<T> {
  on(verb: 'add' | 'update' | 'delete' | 'error' | 'connect', cb: (arg?: any) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  list(): readonly T[];
  latestResourceVersion(): string;
}

export interface WatchSpec<T extends KubernetesObject, L extends ListedSnapshot = KubernetesListObject<T>> {
  /** For logs: "nodes", "pods". */
  name: string;
  /** Collection path, e.g. /api/v1/nodes. */
  path: string;
  list: () => Promise<L>;
  fieldSelector?: string;
  /** The watch to use (default client-node's Watch). */
  watch?: Pick<Watch, 'watch'>;
  /** The list times itself out (per page): no whole-list timeout around it. */
  listTimesOut?: boolean;
  /** The cache to drive (default: client-node's ListWatch over `list` and `watch`); it must call
   * the list function it is given, which counts, logs and times the list out. */
  cache?: (list: () => Promise<L>) => ListWatchLike<T>;
}

export interface ResilientOptions {
  backoff?: BackoffOptions;
  /** A list that has not answered by then counts as failed (and is retried). */
  listTimeoutMs?: number;
  /** A run that lasted this long without error resets the backoff. */
  healthyAfterMs?: number;
  /** Called after every cache change and after every successful list (debounce it). */
  onChange: () => void;
  log: WatchLog;
  /** Observers of the informer's life (the agent's metrics); none of them may throw. */
  hooks?: InformerHooks;
}

/** What an informer reports as it runs: cache events, lists, errors, restarts. */
export interface InformerHooks {
  /** n events at once (a list's adds and deletes, counted by a compact cache); default 1. */
  event(kind: 'add' | 'update' | 'delete', n?: number): void;
  /** A successful LIST; first = the initial sync, otherwise a relist (410 Gone, restart). */
  listed(first: boolean): void;
  error(): void;
  restarted(): void;
}

export interface ResilientInformer<T> {
  readonly name: string;
  list(): readonly T[];
  /** Listed successfully at least once: the cache reflects the cluster at some point. */
  readonly synced: boolean;
  /** No error since the last successful list or watch event: the cache is current. */
  readonly healthy: boolean;
  /** How many times the informer was restarted after an error. */
  readonly restarts: number;
  readonly lists: number;
  start(): void;
  stop(): Promise<void>;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function resilientInformer<T extends KubernetesObject, L extends ListedSnapshot = KubernetesListObject<T>>(kc: KubeConfig, spec: WatchSpec<T, L>, opts: ResilientOptions): ResilientInformer<T> {
  const backoff = new Backoff(opts.backoff);
  const listTimeoutMs = opts.listTimeoutMs ?? 30_000;
  const healthyAfterMs = opts.healthyAfterMs ?? 10_000;
  const log = opts.log;
  let synced = false;
  let healthy = false;
  let stopped = false;
  let restarts = 0;
  let lists = 0;
  let lastStart = 0;
  let timer: NodeJS.Timeout | undefined;

  const listFn = async (): Promise<L> => {
    const l = spec.listTimesOut ? await spec.list() : await withTimeout(spec.list(), listTimeoutMs, `listing ${spec.name}`);
    lists++;
    opts.hooks?.listed(lists === 1);
    synced = true;
    healthy = true;
    // a relist (after 410 or a restart) is worth an info line: it is how the cache converges
    (lists === 1 ? log.debug : log.info)(lists === 1 ? 'listed' : 'relisted', {
      informer: spec.name,
      items: l.count ?? l.items?.length ?? 0,
      ...(l.pages === undefined ? {} : { pages: l.pages }),
      resourceVersion: l.metadata?.resourceVersion,
      lists,
    });
    // The ListWatch applies the list to its cache after this promise settles; a macrotask later
    // the cache is current. Fire even when nothing changed: the first (possibly empty) list is
    // what lets the agent reconcile at all.
    setImmediate(() => {
      if (!stopped) opts.onChange();
    });
    return l;
  };

  const lw: ListWatchLike<T> = spec.cache
    ? spec.cache(listFn)
    : new ListWatch<T>(spec.path, (spec.watch ?? new Watch(kc)) as Watch, listFn as unknown as () => Promise<KubernetesListObject<T>>, false, undefined, spec.fieldSelector);
  // ListWatch passes the object; a compact cache passes how many objects a list added or deleted
  const changed = (kind: 'add' | 'update' | 'delete') => (arg?: unknown) => {
    healthy = true;
    opts.hooks?.event(kind, typeof arg === 'number' ? arg : 1);
    if (!stopped) opts.onChange();
  };
  lw.on('add', changed('add'));
  lw.on('update', changed('update'));
  lw.on('delete', changed('delete'));
  lw.on('connect', () => log.debug('watch connecting', { informer: spec.name, resourceVersion: lw.latestResourceVersion() }));

  let errors = 0;
  const run = () => {
    lastStart = Date.now();
    const before = errors;
    // start() settles once the watch request has its 200 (a non-200 or a failed list reports
    // 'error' before that): no error in between means we are watching from a known version
    // again, so the cache is current even if no event ever comes.
    lw.start().then(
      () => {
        if (!stopped && errors === before) healthy = true;
      },
      (err: unknown) => onError(err),
    );
  };

  const onError = (err: unknown) => {
    if (stopped) return; // the abort that stop() causes
    errors++;
    opts.hooks?.error();
    healthy = false;
    if (timer !== undefined) return; // a restart is already scheduled
    if (Date.now() - lastStart >= healthyAfterMs) backoff.reset();
    const delayMs = backoff.next();
    const e = err as { message?: string; statusCode?: number; code?: string } | undefined;
    log.warn('watch failed; restarting', {
      informer: spec.name,
      error: e?.message ?? String(err),
      ...(e?.statusCode === undefined ? {} : { statusCode: e.statusCode }),
      ...(e?.code === undefined ? {} : { code: e.code }),
      attempt: backoff.attempts,
      delayMs,
    });
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped) return;
      restarts++;
      opts.hooks?.restarted();
      run();
    }, delayMs);
  };
  lw.on('error', onError);

  return {
    name: spec.name,
    list: () => lw.list(),
    get synced() {
      return synced;
    },
    get healthy() {
      return healthy;
    },
    get restarts() {
      return restarts;
    },
    get lists() {
      return lists;
    },
    start() {
      stopped = false;
      run();
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await lw.stop();
    },
  };
}
