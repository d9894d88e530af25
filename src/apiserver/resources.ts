// The resources the lab serves, described as data: core/v1 Nodes, Pods and Namespaces here,
// Services (resources-service.ts), EndpointSlices and NetworkPolicies (resources-network.ts).
// Each def carries URL names, discovery facts (verbs, shortNames, namespaced), supported
// field-selector labels, and the "strategy" hooks the real registry runs around a write (defaults
// on create, status kept on spec updates and vice versa, validation). Everything
// resource-specific lives in these files so the store, list, watch and routing code stay generic.
import { randomBytes } from 'node:crypto';
import { isRecord, fieldString, type KubeObject, type ResourceName } from './types.js';
import { dotted, validateName, VERBS, withStatusOf, type ResourceDef } from './resource-common.js';
import { services } from './resources-service.js';
import { endpointslices, networkpolicies } from './resources-network.js';
import { events } from './resources-event.js';

export type { ResourceDef } from './resource-common.js';

/** SetDefaults_ContainerPort: a container port without a protocol is TCP (named-port lookups rely on it). */
function defaultContainerPorts(obj: KubeObject): void {
  for (const list of ['containers', 'initContainers']) {
    const cs = obj.spec?.[list];
    if (!Array.isArray(cs)) continue;
    for (const c of cs) {
      if (!isRecord(c) || !Array.isArray(c.ports)) continue;
      for (const p of c.ports) if (isRecord(p)) p.protocol ??= 'TCP';
    }
  }
}

const pods: ResourceDef = {
  name: 'pods',
  group: '',
  version: 'v1',
  apiVersion: 'v1',
  categories: ['all'],
  singular: 'pod',
  kind: 'Pod',
  listKind: 'PodList',
  namespaced: true,
  shortNames: ['po'],
  verbs: VERBS,
  jsonPrefix: '{"kind":"Pod","apiVersion":"v1",',
  // pkg/registry/core/pod: PodToSelectableFields
  fieldLabels: new Set([
    'metadata.name', 'metadata.namespace', 'spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName',
    'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName',
  ]),
  field(obj, label) {
    if (label === 'spec.hostNetwork') return fieldString(obj, 'spec', 'hostNetwork') === 'true' ? 'true' : 'false';
    return dotted(obj, label);
  },
  prepareForCreate(obj) {
    const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
    // The defaults a real server fills in that clients commonly read back.
    spec.restartPolicy ??= 'Always';
    spec.dnsPolicy ??= 'ClusterFirst';
    spec.schedulerName ??= 'default-scheduler';
    spec.terminationGracePeriodSeconds ??= 30;
    defaultContainerPorts(obj);
    // The registry resets status on create: only the kubelet (here: whoever publishes the pod)
    // sets it, through the status subresource.
    const containers = Array.isArray(spec.containers) ? spec.containers : [];
    const hasResources = containers.some((c) => isRecord(c) && isRecord(c.resources) && Object.keys(c.resources).length > 0);
    obj.status = { phase: 'Pending', qosClass: hasResources ? 'Burstable' : 'BestEffort' };
  },
  prepareForUpdate(obj, old) {
    withStatusOf(obj, old);
    defaultContainerPorts(obj);
  },
  validate(obj, old) {
    const errs = validateName(obj, false);
    const spec = obj.spec ?? {};
    const containers = spec.containers;
    if (!Array.isArray(containers) || containers.length === 0) {
      errs.push({ field: 'spec.containers', type: 'Required value', detail: '' });
    } else {
      containers.forEach((c, i) => {
        if (!isRecord(c) || typeof c.name !== 'string' || c.name === '') {
          errs.push({ field: `spec.containers[${i}].name`, type: 'Required value', detail: '' });
        }
        if (!isRecord(c) || typeof c.image !== 'string' || c.image === '') {
          errs.push({ field: `spec.containers[${i}].image`, type: 'Required value', detail: '' });
        }
      });
    }
    if (old && (old.spec?.nodeName ?? '') !== '' && (spec.nodeName ?? '') !== (old.spec?.nodeName ?? '')) {
      errs.push({ field: 'spec.nodeName', type: 'Forbidden', detail: 'pod updates may not change spec.nodeName once set' });
    }
    return errs;
  },
  returnDeletedObject: true,
  statusSubresource: true,
};

const nodes: ResourceDef = {
  name: 'nodes',
  group: '',
  version: 'v1',
  apiVersion: 'v1',
  singular: 'node',
  kind: 'Node',
  listKind: 'NodeList',
  namespaced: false,
  shortNames: ['no'],
  verbs: VERBS,
  jsonPrefix: '{"kind":"Node","apiVersion":"v1",',
  fieldLabels: new Set(['metadata.name', 'spec.unschedulable']),
  field(obj, label) {
    if (label === 'spec.unschedulable') return fieldString(obj, 'spec', 'unschedulable') === 'true' ? 'true' : 'false';
    return dotted(obj, label);
  },
  prepareForCreate(obj) {
    if (!isRecord(obj.spec)) obj.spec = {};
    // A client that sets only podCIDR gets podCIDRs filled in, as the real defaulting does.
    const spec = obj.spec;
    if (typeof spec.podCIDR === 'string' && spec.podCIDR !== '' && !Array.isArray(spec.podCIDRs)) spec.podCIDRs = [spec.podCIDR];
  },
  prepareForUpdate(obj, old) {
    withStatusOf(obj, old);
    const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
    if (typeof spec.podCIDR === 'string' && spec.podCIDR !== '' && !Array.isArray(spec.podCIDRs)) spec.podCIDRs = [spec.podCIDR];
  },
  validate(obj, old) {
    const errs = validateName(obj, false);
    const oldCidrs = old?.spec?.podCIDRs;
    if (Array.isArray(oldCidrs) && oldCidrs.length > 0 && JSON.stringify(obj.spec?.podCIDRs ?? []) !== JSON.stringify(oldCidrs)) {
      // ValidateNodeUpdate: podCIDRs may go from empty to set, never change afterwards.
      errs.push({ field: 'spec.podCIDRs', type: 'Forbidden', detail: 'node updates may not change podCIDR except from "" to valid' });
    }
    return errs;
  },
  returnDeletedObject: false,
  statusSubresource: true,
};

const namespaces: ResourceDef = {
  name: 'namespaces',
  group: '',
  version: 'v1',
  apiVersion: 'v1',
  singular: 'namespace',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  namespaced: false,
  shortNames: ['ns'],
  verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  jsonPrefix: '{"kind":"Namespace","apiVersion":"v1",',
  fieldLabels: new Set(['metadata.name', 'status.phase']),
  field: dotted,
  prepareForCreate(obj) {
    obj.spec = { finalizers: ['kubernetes'] };
    obj.status = { phase: 'Active' };
    // The namespace registry stamps this immutable label so selectors can pick namespaces by name.
    obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name ?? '' };
  },
  prepareForUpdate(obj, old) {
    withStatusOf(obj, old);
    obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name ?? '' };
  },
  validate: (obj) => validateName(obj, true),
  returnDeletedObject: true,
  statusSubresource: true,
};

export const RESOURCES: Readonly<Record<ResourceName, ResourceDef>> = { pods, nodes, namespaces, services, endpointslices, networkpolicies, events };

/** The resource `name` of API group `group` ("" = core/v1), or undefined. */
export function resourceByName(name: string, group = '', version = 'v1'): ResourceDef | undefined {
  if (!Object.prototype.hasOwnProperty.call(RESOURCES, name)) return undefined;
  const def = RESOURCES[name as ResourceName];
  return def.group === group && def.version === version ? def : undefined;
}

// names.SimpleNameGenerator: five characters from an alphabet without vowels or look-alikes.
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
export function generateName(base: string): string {
  const prefix = base.length > 58 ? base.slice(0, 58) : base;
  const bytes = randomBytes(5);
  let s = '';
  for (const b of bytes) s += ALPHABET[b % ALPHABET.length];
  return prefix + s;
}
