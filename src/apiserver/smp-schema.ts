// Patch metadata for strategic merge patch: which lists merge (and by which key) in the kinds the
// lab serves, taken from the `patchStrategy:"merge" patchMergeKey:"…"` tags of the upstream Go
// types. Every list not named here is atomic: a patch replaces it whole (e.g. Pod tolerations,
// Service clusterIPs, EndpointSlice endpoints and every NetworkPolicy list, as upstream).
// Paths are dotted field names from the object root; list items add no segment.

/** Merge key of a list of objects, or '' for a list of primitives merged as a set. */
export type MergeKey = string;

const CONTAINER_LISTS: Record<string, MergeKey> = {
  '': 'name',
  ports: 'containerPort',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
};

function podSpec(prefix: string): Record<string, MergeKey> {
  const out: Record<string, MergeKey> = {
    [`${prefix}.volumes`]: 'name',
    [`${prefix}.imagePullSecrets`]: 'name',
    [`${prefix}.hostAliases`]: 'ip',
    [`${prefix}.topologySpreadConstraints`]: 'topologyKey',
    [`${prefix}.resourceClaims`]: 'name',
    [`${prefix}.schedulingGates`]: 'name',
  };
  for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
    for (const [sub, key] of Object.entries(CONTAINER_LISTS)) out[sub === '' ? `${prefix}.${list}` : `${prefix}.${list}.${sub}`] = key;
  }
  return out;
}

const META: Record<string, MergeKey> = {
  'metadata.ownerReferences': 'uid',
  'metadata.finalizers': '',
};

const BY_KIND: Record<string, Record<string, MergeKey>> = {
  Pod: {
    ...META,
    ...podSpec('spec'),
    'status.conditions': 'type',
    'status.podIPs': 'ip',
    'status.hostIPs': 'ip',
    'status.resourceClaimStatuses': 'name',
  },
  Node: {
    ...META,
    'spec.podCIDRs': '',
    'status.conditions': 'type',
    'status.addresses': 'type',
  },
  Namespace: { ...META, 'status.conditions': 'type' },
  Service: { ...META, 'spec.ports': 'port', 'status.conditions': 'type' },
  EndpointSlice: { ...META },
  NetworkPolicy: { ...META },
};

/** Patch metadata lookup for one kind: path → merge key, undefined for atomic lists. */
export function patchMetaFor(kind: string): (path: string) => MergeKey | undefined {
  const table = BY_KIND[kind] ?? META;
  return (path) => table[path];
}
