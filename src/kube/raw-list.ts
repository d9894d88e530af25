// A LIST as the API server wrote it: plain JSON, no client-node model deserialization. The typed
// list functions deserialize every item into model classes, and one object whose shape does not
// match its schema (a NetworkPolicy with `ingress: 5`, which a lenient API server may store) makes
// the whole list throw, so the informer would never sync. Watch events arrive as plain JSON
// anyway; listing the same way gives the record converters one shape to read. Same request setup
// as client-node's Watch (kc.applyToFetchOptions: TLS, tokens, http:// lab servers).
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import fetch from 'node-fetch';

export async function rawList(kc: KubeConfig, path: string, fieldSelector?: string): Promise<KubernetesListObject<KubernetesObject>> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(cluster.server + path);
  if (fieldSelector !== undefined) url.searchParams.set('fieldSelector', fieldSelector);
  const init = await kc.applyToFetchOptions({});
  init.method = 'GET';
  const res = await fetch(url.toString(), init as Parameters<typeof fetch>[1]);
  const text = await res.text();
  if (res.status !== 200) {
    const err = new Error(`LIST ${path}: HTTP ${res.status} ${text.slice(0, 200)}`) as Error & { statusCode: number };
    err.statusCode = res.status;
    throw err;
  }
  const body = JSON.parse(text) as { metadata?: { resourceVersion?: string }; items?: unknown };
  return { metadata: body.metadata ?? {}, items: Array.isArray(body.items) ? (body.items as KubernetesObject[]) : [] } as KubernetesListObject<KubernetesObject>;
}
