// What every served resource shares: the ResourceDef shape (URL names, group/version, discovery
// facts, field-selector labels and the registry "strategy" hooks) and the small helpers the
// strategies of several resources use (name validation, field selectors, status preservation).
import { fieldString, type KubeObject, type ResourceName } from './types.js';
import type { FieldError } from './status.js';

export interface ResourceDef {
  name: ResourceName;
  /** API group ("" for core) and version; apiVersion is "v1" or "group/version". */
  group: string;
  version: string;
  apiVersion: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: string[];
  /** `{"kind":"Pod","apiVersion":"v1",` — prefix of every stored JSON text. */
  jsonPrefix: string;
  fieldLabels: ReadonlySet<string>;
  field(obj: KubeObject, label: string): string;
  /** Mutate a new object into what the registry stores on create. */
  prepareForCreate(obj: KubeObject): void;
  /** Main resource update: keep fields that only the status subresource may change. */
  prepareForUpdate(obj: KubeObject, old: KubeObject): void;
  validate(obj: KubeObject, old?: KubeObject): FieldError[];
  /** Serves the `status` subresource (status changes only there; main updates keep it). */
  statusSubresource: boolean;
  /** Printed by discovery (`kubectl get all` uses the "all" category). */
  categories?: string[];
  /** Pods and namespaces answer DELETE with the object, nodes with a Success Status. */
  returnDeletedObject: boolean;
}

export const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function validateName(obj: KubeObject, label: boolean): FieldError[] {
  const name = obj.metadata.name ?? '';
  if (name === '') return [{ field: 'metadata.name', type: 'Required value', detail: 'name or generateName is required' }];
  if (label ? !DNS_LABEL.test(name) || name.length > 63 : !DNS_SUBDOMAIN.test(name) || name.length > 253) {
    const what = label
      ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
      : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    return [{ field: 'metadata.name', type: 'Invalid value', value: name, detail: what }];
  }
  return [];
}

function metaField(obj: KubeObject, label: string): string | undefined {
  if (label === 'metadata.name') return obj.metadata.name ?? '';
  if (label === 'metadata.namespace') return obj.metadata.namespace ?? '';
  return undefined;
}

export function dotted(obj: KubeObject, label: string): string {
  const m = metaField(obj, label);
  if (m !== undefined) return m;
  const dot = label.indexOf('.');
  return fieldString(obj, label.slice(0, dot), label.slice(dot + 1));
}

export function withStatusOf(obj: KubeObject, old: KubeObject): void {
  if (old.status === undefined) delete obj.status;
  else obj.status = old.status;
}

