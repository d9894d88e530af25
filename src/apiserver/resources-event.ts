// core/v1 Event, minimally: create/get/list/watch/delete in a namespace, stored as written (the
// agent posts Warning events on NetworkPolicies it cannot enforce as written). No aggregation, no
// TTL: a lab's event volume is small.
import { dotted, validateName, VERBS, type ResourceDef } from './resource-common.js';
import { isRecord } from './types.js';

export const events: ResourceDef = {
  name: 'events',
  group: '',
  version: 'v1',
  apiVersion: 'v1',
  singular: 'event',
  kind: 'Event',
  listKind: 'EventList',
  namespaced: true,
  shortNames: ['ev'],
  verbs: VERBS,
  jsonPrefix: '{"kind":"Event","apiVersion":"v1",',
  fieldLabels: new Set(['metadata.name', 'metadata.namespace', 'involvedObject.kind', 'involvedObject.name', 'involvedObject.namespace']),
  field: dotted,
  prepareForCreate() {},
  prepareForUpdate() {},
  validate(obj) {
    const errs = validateName(obj, false);
    const o = obj as unknown as Record<string, unknown>;
    if (!isRecord(o['involvedObject'])) errs.push({ field: 'involvedObject', type: 'Required value', detail: 'an event is about an object' });
    return errs;
  },
  returnDeletedObject: false,
  statusSubresource: false,
};
