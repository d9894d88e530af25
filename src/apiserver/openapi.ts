// The smallest OpenAPI v3 that makes kubectl validate on the server: kubectl (cli-runtime's
// QueryParamVerifierV3) looks up /openapi/v3 → "api/v1", finds the PATCH operation tagged with the
// object's group/version/kind and checks it lists the `fieldValidation` query parameter. If it
// does, kubectl sends fieldValidation=Strict and skips client-side schema validation (which
// would need the whole schema). Without it, `kubectl create -f` fails unless --validate=false.
import { RESOURCES } from './resources.js';

const HASH = 'PODWIRELAB0001';

/** "api/v1", "apis/discovery.k8s.io/v1", … */
const gvPath = (group: string, version: string): string => (group === '' ? `api/${version}` : `apis/${group}/${version}`);

export function openapiRoot(): unknown {
  const paths: Record<string, unknown> = {};
  for (const def of Object.values(RESOURCES)) {
    const p = gvPath(def.group, def.version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${HASH}` };
  }
  return { paths };
}

/** The document for one group/version path ("api/v1"), or undefined when not served. */
export function openapiGroupVersion(path: string): unknown {
  const paths: Record<string, unknown> = {};
  for (const def of Object.values(RESOURCES)) {
    if (gvPath(def.group, def.version) !== path) continue;
    const gvk = { group: def.group, version: def.version, kind: def.kind };
    const base = `/${path}${def.namespaced ? `/namespaces/{namespace}/${def.name}` : `/${def.name}`}`;
    const op = (action: string) => ({
      operationId: `${action}${def.namespaced ? 'Namespaced' : ''}${def.kind}`,
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      parameters: [
        { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
        { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
        { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
      ],
      responses: { '200': { description: 'OK' } },
    });
    paths[base] = { post: op('post') };
    paths[`${base}/{name}`] = { put: op('put'), patch: op('patch') };
  }
  if (Object.keys(paths).length === 0) return undefined;
  return { openapi: '3.0.0', info: { title: 'Kubernetes (podwire lab)', version: 'v1.34.0' }, paths, components: { schemas: {} } };
}
