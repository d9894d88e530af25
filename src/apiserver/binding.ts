// Binding a Pod to a Node: the `pods/binding` subresource (what kube-scheduler POSTs) and the
// lab scheduler's own binds go through one function. A bind sets spec.nodeName once; binding a
// bound pod is a 409 as on the real server.
import { RESOURCES } from './resources.js';
import { ApiError, badRequest, conflict, successStatus, type StatusObject } from './status.js';
import type { Store } from './store.js';
import { isRecord } from './types.js';

export function bind(store: Store, namespace: string, name: string, node: string): void {
  const cur = store.mustGet(RESOURCES.pods, namespace, name);
  const bound = cur.obj.spec?.nodeName;
  if (typeof bound === 'string' && bound !== '') {
    throw conflict('pods/binding', name, `pod ${name} is already assigned to node "${bound}"`);
  }
  if (cur.obj.metadata.deletionTimestamp) throw conflict('pods/binding', name, `pod ${name} is being deleted, cannot be assigned to a host`);
  store.update(RESOURCES.pods, namespace, name, { ...cur.obj, spec: { ...(cur.obj.spec ?? {}), nodeName: node } });
}

/** POST …/pods/NAME/binding with a v1 Binding body. */
export function bindPod(store: Store, namespace: string, name: string, body: unknown): StatusObject {
  if (!isRecord(body) || !isRecord(body.target) || typeof body.target.name !== 'string' || body.target.name === '') {
    throw new ApiError(422, 'Invalid', `Binding "${name}" is invalid: target.name: Required value`, {
      name, kind: 'Binding', causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'target.name' }],
    });
  }
  if (body.target.kind !== undefined && body.target.kind !== 'Node' && body.target.kind !== '') {
    throw badRequest(`binding target kind ${JSON.stringify(body.target.kind)} is not supported; use Node`);
  }
  const meta = isRecord(body.metadata) ? body.metadata : {};
  if (meta.name !== undefined && meta.name !== name) throw badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
  bind(store, namespace, name, body.target.name);
  return { ...successStatus({}), code: 201 };
}
