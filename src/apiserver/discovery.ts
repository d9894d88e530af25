// Discovery documents kubectl and client libraries fetch before anything else: /version, /api
// (APIVersions), /api/v1 (APIResourceList with verbs, shortNames and namespaced flags), /apis
// (an empty APIGroupList). Aggregated discovery (Accept …as=APIGroupDiscoveryList) is answered
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

export function apiGroupList(): unknown {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };
}

export function coreV1Resources(): unknown {
  const resources: unknown[] = [];
  for (const def of Object.values(RESOURCES)) {
    resources.push({
      name: def.name,
      singularName: def.singular,
      namespaced: def.namespaced,
      kind: def.kind,
      verbs: def.verbs,
      shortNames: def.shortNames,
      ...(def.name === 'pods' ? { categories: ['all'] } : {}),
    });
    resources.push({ name: `${def.name}/status`, singularName: '', namespaced: def.namespaced, kind: def.kind, verbs: ['get', 'patch', 'update'] });
  }
  return { kind: 'APIResourceList', groupVersion: 'v1', resources };
}
