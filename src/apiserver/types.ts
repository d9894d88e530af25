// The loose object model the server stores: whatever JSON the client sent, with the metadata
// fields the server owns typed. The server never needs the full core/v1 schema; it validates the
// few fields real clients and the agent depend on.

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface KubeObject {
  kind?: string;
  apiVersion?: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Resource names the server serves (plural, as in the URL). */
export type ResourceName = 'nodes' | 'pods' | 'namespaces' | 'services' | 'endpointslices' | 'networkpolicies' | 'events';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Read a nested field as a string the way field selectors see it ("" when absent). */
export function fieldString(obj: KubeObject, a: string, b: string): string {
  const outer = obj[a];
  if (!isRecord(outer)) return '';
  const v = outer[b];
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : String(v);
}
