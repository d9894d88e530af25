// Watches: a chunked stream of newline-delimited `{"type":…,"object":…}` events. A watch starts
// from a resourceVersion (replayed from the bounded history), from "now with the current state as
// synthetic ADDED events" (no version or "0"), or fails with an ERROR 410 event when the history no
// longer reaches back (what the real watch cache does — HTTP 200, then the error event). Each
// committed event is serialized once and the same line is written to every matching watcher;
// with selectors an object that starts or stops matching is sent as ADDED or DELETED, as the
// real cacher does, so a client's cache never keeps an object it can no longer see.
import type { ServerResponse } from 'node:http';
import { eventLine, type StoreEvent } from './history.js';
import { candidates, matches, type Query } from './list.js';
import { badRequest, expired, type StatusObject } from './status.js';
import type { Store } from './store.js';
import type { EventType, ResourceName } from './types.js';

export interface WatchParams {
  resourceVersion?: string;
  allowWatchBookmarks: boolean;
  sendInitialEvents: boolean;
  timeoutSeconds?: number;
  /** Another rendering of each event (kubectl's Table format); default: the shared JSON line. */
  render?: (type: EventType, json: string) => string;
}

export class Watcher {
  closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly hub: WatchHub,
    readonly q: Query,
    readonly res: ServerResponse,
    readonly bookmarks: boolean,
    timeoutSeconds: number | undefined,
    private readonly render?: (type: EventType, json: string) => string,
  ) {
    if (timeoutSeconds !== undefined && timeoutSeconds > 0) {
      this.timer = setTimeout(() => this.close(), timeoutSeconds * 1000);
    }
    res.on('close', () => this.close());
  }

  write(line: string): void {
    if (this.closed) return;
    this.res.write(line);
    // A watcher that cannot keep up is dropped (the real cacher terminates blocked watchers);
    // its client relists or rewatches instead of the server buffering without bound.
    if (this.res.writableLength > this.hub.maxBufferBytes) this.close();
  }

  /** The line this watcher must see for `ev`, or undefined when the event is not for it. */
  lineFor(ev: StoreEvent): string | undefined {
    const q = this.q;
    if (q.namespace !== undefined && ev.namespace !== q.namespace) return undefined;
    const now = matches(q, ev.obj);
    let type: EventType | undefined;
    if (ev.type === 'MODIFIED') {
      const before = ev.prev ? matches(q, ev.prev) : false;
      type = before && now ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : undefined;
    } else if (now) {
      type = ev.type;
    }
    if (!type) return undefined;
    return this.render ? this.render(type, ev.json) : eventLine(ev, type);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.hub.forget(this);
    if (!this.res.writableEnded) this.res.end();
  }
}

export interface WatchHubOptions {
  bookmarkIntervalMs: number;
  maxBufferBytes: number;
}

export class WatchHub {
  private readonly byResource = new Map<ResourceName, Set<Watcher>>();
  private readonly bookmarkTimer: NodeJS.Timeout;
  readonly maxBufferBytes: number;

  constructor(private readonly store: Store, opts: WatchHubOptions) {
    this.maxBufferBytes = opts.maxBufferBytes;
    store.onEvent((ev) => this.dispatch(ev));
    this.bookmarkTimer = setInterval(() => this.sendBookmarks(), opts.bookmarkIntervalMs);
    this.bookmarkTimer.unref();
  }

  get open(): number {
    let n = 0;
    for (const s of this.byResource.values()) n += s.size;
    return n;
  }

  private dispatch(ev: StoreEvent): void {
    const set = this.byResource.get(ev.def.name);
    if (!set) return;
    for (const w of set) {
      const line = w.lineFor(ev);
      if (line) w.write(line);
    }
  }

  forget(w: Watcher): void {
    this.byResource.get(w.q.def.name)?.delete(w);
  }

  /**
   * Validate, then start streaming. Throws an ApiError (turned into an HTTP Status by the router)
   * only for malformed requests; a too-old version is reported inside the stream.
   */
  serve(q: Query, p: WatchParams, res: ServerResponse): Watcher | undefined {
    const rvText = p.resourceVersion ?? '';
    if (rvText !== '' && !/^[0-9]+$/.test(rvText)) throw badRequest(`invalid resource version "${rvText}"`);
    if (p.sendInitialEvents && !p.allowWatchBookmarks) {
      throw badRequest('sendInitialEvents requires setting allowWatchBookmarks=true');
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    // Headers go out now: clients consider the watch established only when they arrive.
    res.flushHeaders();
    const fromRv = rvText === '' ? 0 : Number(rvText);
    if (!p.sendInitialEvents && fromRv !== 0 && fromRv < this.store.history.compactedRv) {
      const status = expired(`too old resource version: ${fromRv} (${this.store.history.compactedRv})`).status;
      res.end(errorLine(status));
      return undefined;
    }
    const w = new Watcher(this, q, res, p.allowWatchBookmarks, p.timeoutSeconds, p.render);
    if (p.sendInitialEvents || fromRv === 0) {
      // "Start at most recent" with the current state first, as synthetic ADDED events.
      let buf = '';
      for (const e of candidates(this.store, q)) {
        buf += p.render ? p.render('ADDED', e.json) : `{"type":"ADDED","object":${e.json}}\n`;
        if (buf.length >= 64 * 1024) {
          w.write(buf);
          buf = '';
        }
      }
      if (buf) w.write(buf);
      if (p.sendInitialEvents) w.write(bookmarkLine(q.def.kind, q.def.apiVersion, this.store.rv, true));
    } else {
      for (const ev of this.store.history.since(fromRv)) {
        if (ev.def !== q.def) continue;
        const line = w.lineFor(ev);
        if (line) w.write(line);
      }
    }
    if (w.closed) return undefined;
    let set = this.byResource.get(q.def.name);
    if (!set) this.byResource.set(q.def.name, (set = new Set()));
    set.add(w);
    return w;
  }

  sendBookmarks(): void {
    const rv = this.store.rv;
    for (const set of this.byResource.values()) {
      for (const w of set) if (w.bookmarks) w.write(bookmarkLine(w.q.def.kind, w.q.def.apiVersion, rv, false));
    }
  }

  /** Fault: end every open watch (clients see a clean end of stream and rewatch). */
  closeAll(): number {
    let n = 0;
    for (const set of [...this.byResource.values()]) {
      for (const w of [...set]) {
        w.close();
        n++;
      }
    }
    return n;
  }

  /** Send one ERROR event with `status` to every open watch, then end it. */
  failAll(status: StatusObject): number {
    const line = errorLine(status);
    let n = 0;
    for (const set of [...this.byResource.values()]) {
      for (const w of [...set]) {
        w.write(line);
        w.close();
        n++;
      }
    }
    return n;
  }

  stop(): void {
    clearInterval(this.bookmarkTimer);
    this.closeAll();
  }
}

export const errorLine = (status: StatusObject): string => `{"type":"ERROR","object":${JSON.stringify(status)}}\n`;

function bookmarkLine(kind: string, apiVersion: string, rv: number, initialEventsEnd: boolean): string {
  const ann = initialEventsEnd ? ',"annotations":{"k8s.io/initial-events-end":"true"}' : '';
  return `{"type":"BOOKMARK","object":{"kind":"${kind}","apiVersion":"${apiVersion}","metadata":{"resourceVersion":"${rv}"${ann}}}}\n`;
}
