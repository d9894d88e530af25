// A LIST as the API server wrote it: plain JSON, no client-node model deserialization. The typed
// list functions deserialize every item into model classes, and one object whose shape does not
// match its schema (a NetworkPolicy with `ingress: 5`, which a lenient API server may store) makes
// the whole list throw, so the informer would never sync. Watch events arrive as plain JSON
// anyway; listing the same way gives the record converters one shape to read. Paged (limit /
// continue) and handed over item by item as each page is parsed, so 100k pods never sit in memory
// as JSON at once. Same request setup as client-node's Watch (kc.applyToFetchOptions: TLS, tokens,
// http:// lab servers).
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import fetch from 'node-fetch';

export const LIST_PAGE = 500;

export interface RawListOptions {
  fieldSelector?: string;
  pageSize?: number;
  /** A page that has not arrived by then fails the list (a million-item list takes longer than any
   * whole-list timeout would allow, so the timeout is per page). */
  pageTimeoutMs?: number;
  /** Aborts the page in flight (a stopped informer, a newer list). */
  signal?: AbortSignal;
  /** How many items the whole list holds, when the first page says (metadata.remainingItemCount
   * + its own items; called before its items), so a store can size itself once. */
  onTotal?: (n: number) => void;
}

/** Page through a collection; every item goes to onItem as parsed JSON, in key order. */
export async function rawPages(kc: KubeConfig, path: string, onItem: (raw: unknown) => void, opts: RawListOptions = {}): Promise<{ resourceVersion?: string; count: number; pages: number }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  let resourceVersion: string | undefined;
  let cont: string | undefined;
  let count = 0;
  let pages = 0;
  do {
    const url = new URL(cluster.server + path);
    if (opts.fieldSelector !== undefined) url.searchParams.set('fieldSelector', opts.fieldSelector);
    url.searchParams.set('limit', String(opts.pageSize ?? LIST_PAGE));
    if (cont) url.searchParams.set('continue', cont);
    const init = await kc.applyToFetchOptions({});
    init.method = 'GET';
    const signals = [...(opts.signal ? [opts.signal] : []), ...(opts.pageTimeoutMs ? [AbortSignal.timeout(opts.pageTimeoutMs)] : [])];
    if (signals.length > 0) (init as { signal?: AbortSignal }).signal = AbortSignal.any(signals);
    let text: string;
    let res;
    try {
      res = await fetch(url.toString(), init as Parameters<typeof fetch>[1]);
      text = await res.text();
    } catch (e) {
      if (opts.signal?.aborted) throw new Error(`LIST ${path}: aborted`, { cause: e });
      if ((e as { name?: string }).name === 'AbortError') throw new Error(`LIST ${path}: page ${pages + 1} did not answer within ${opts.pageTimeoutMs} ms`, { cause: e });
      throw e;
    }
    if (res.status !== 200) {
      const err = new Error(`LIST ${path}: HTTP ${res.status} ${text.slice(0, 200)}`) as Error & { statusCode: number };
      err.statusCode = res.status;
      throw err;
    }
    const body = JSON.parse(text) as { metadata?: { resourceVersion?: string; continue?: string; remainingItemCount?: unknown }; items?: unknown };
    pages++;
    const remaining = body.metadata?.remainingItemCount;
    if (pages === 1 && opts.onTotal && Array.isArray(body.items) && typeof remaining === 'number' && Number.isSafeInteger(remaining) && remaining >= 0) opts.onTotal(body.items.length + remaining);
    if (Array.isArray(body.items)) {
      for (const i of body.items) onItem(i);
      count += body.items.length;
    }
    // every page of a paged list is the same snapshot: its resourceVersion is where the watch starts
    resourceVersion = body.metadata?.resourceVersion ?? resourceVersion;
    cont = body.metadata?.continue || undefined;
  } while (cont);
  return { ...(resourceVersion === undefined ? {} : { resourceVersion }), count, pages };
}

/** The whole list, every item converted (small collections; compact informers use rawPages). */
export async function rawList<T extends KubernetesObject>(kc: KubeConfig, path: string, convert: (raw: unknown) => T, opts: RawListOptions = {}): Promise<KubernetesListObject<T>> {
  const items: T[] = [];
  const { resourceVersion } = await rawPages(kc, path, (i) => items.push(convert(i)), opts);
  return { metadata: resourceVersion === undefined ? {} : { resourceVersion }, items } as KubernetesListObject<T>;
}
