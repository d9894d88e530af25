// Discovery documents kubectl and client libraries fetch before anything else: /version, /api
// (APIVersions), /api/v1 (APIResourceList with verbs, shortNames and namespaced flags), /apis
// (the named groups: discovery.k8s.io, networking.k8s.io), /apis/G and /apis/G/V. Aggregated discovery (Accept …as=APIGroupDiscoveryList) is answered
// with these plain documents and Content-Type application/json; kubectl then falls back to the
// legacy per-group documents, as it does against older servers.
import { RESOURCES } from './resources.js';

export function versionInfo(): Record<string, string> {
  return {
    major: '1',
    minor: '34',
    emulationMajor: '1',
    emulationMinor: '34',
    minCompatibilityMajor: '1',
    minCompatibilityMinor: '33',
    gitVersion: 'v1.34.0-podwire-lab',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: 'go1.24.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function apiVersions(serverAddress: string): unknown {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

/** The named API groups served (core/v1 excluded), each with its one version. */
export function groups(): Array<{ name: string; version: string }> {
  const seen = new Map<string, string>();
  for (const def of Object.values(RESOURCES)) if (def.group !== '') seen.set(def.group, def.version);
  return [...seen].map(([name, version]) => ({ name, version }));
}

function groupDoc(g: { name: string; version: string }): Record<string, unknown> {
  const gv = { groupVersion: `${g.name}/${g.version}`, version: g.version };
  return { name: g.name, versions: [gv], preferredVersion: gv };
}

export function apiGroupList(): unknown {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups().map(groupDoc) };
}

/** /apis/GROUP, or undefined when the group is not served. */
export function apiGroup(group: string): unknown {
  const g = groups().find((x) => x.name === group);
  return g && { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(g) };
}

/** /api/v1 (group "") or /apis/GROUP/VERSION; undefined when not served. */
export function groupResources(group: string, version: string): unknown {
  const resources: unknown[] = [];
  for (const def of Object.values(RESOURCES)) {
    if (def.group !== group || def.version !== version) continue;
    resources.push({
      name: def.name,
      singularName: def.singular,
      namespaced: def.namespaced,
      kind: def.kind,
      verbs: def.verbs,
      ...(def.shortNames.length > 0 ? { shortNames: def.shortNames } : {}),
      ...(def.categories ? { categories: def.categories } : {}),
    });
    if (def.statusSubresource) {
      resources.push({ name: `${def.name}/status`, singularName: '', namespaced: def.namespaced, kind: def.kind, verbs: ['get', 'patch', 'update'] });
    }
    if (def.name === 'pods') {
      resources.push({ name: 'pods/binding', singularName: '', namespaced: true, kind: 'Binding', verbs: ['create'] });
    }
  }
  if (resources.length === 0) return undefined;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? version : `${group}/${version}`, resources };
}

export function coreV1Resources(): unknown {
  return groupResources('', 'v1');
}
