// The smallest OpenAPI v3 that makes kubectl validate on the server: kubectl (cli-runtime's
// QueryParamVerifierV3) looks up /openapi/v3 → "api/v1", finds the PATCH operation tagged with the
// object's group/version/kind and checks it lists the `fieldValidation` query parameter. If it
// does, kubectl sends fieldValidation=Strict and skips client-side schema validation (which
// would need the whole schema). Without it, `kubectl create -f` fails unless --validate=false.
import { RESOURCES } from './resources.js';

const HASH = 'PODWIRELAB0001';

export function openapiRoot(): unknown {
  return { paths: { 'api/v1': { serverRelativeURL: `/openapi/v3/api/v1?hash=${HASH}` } } };
}

export function openapiCoreV1(): unknown {
  const paths: Record<string, unknown> = {};
  for (const def of Object.values(RESOURCES)) {
    const gvk = { group: '', version: 'v1', kind: def.kind };
    const base = def.namespaced ? `/api/v1/namespaces/{namespace}/${def.name}` : `/api/v1/${def.name}`;
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
  return { openapi: '3.0.0', info: { title: 'Kubernetes (podwire lab)', version: 'v1.34.0' }, paths, components: { schemas: {} } };
}
