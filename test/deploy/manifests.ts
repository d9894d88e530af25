// Reading deploy/ the way `kubectl apply -f deploy/` does: every *.yaml/*.yml/*.json file in the
// directory, every document in it. Shared by the manifest tests.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/assets/index.js';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

export interface Manifest {
  file: string;
  object: K8sObject;
}

export const deployDir = (): string => join(packageRoot(), 'deploy');

export function loadManifests(dir = deployDir()): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()) {
    // yaml rejects duplicate keys by default (uniqueKeys), which kubectl would silently merge
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      if (doc.warnings.length > 0) throw new Error(`${file}: ${doc.warnings.map((e) => e.message).join('; ')}`);
      const object = doc.toJS() as K8sObject | null;
      if (object !== null) out.push({ file, object });
    }
  }
  return out;
}

/** The kubernetes-models module of an apiVersion/kind, e.g. apps/v1 DaemonSet → kubernetes-models/apps/v1/DaemonSet. */
export function modelModule(apiVersion: string, kind: string): string {
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Validate with the kubernetes-models schema of the object's kind; throws with the schema errors. */
export async function validateObject(o: K8sObject): Promise<void> {
  const mod = (await import(modelModule(o.apiVersion, o.kind))) as Record<string, new (d: unknown) => { validate(): void }>;
  const Model = mod[o.kind];
  if (!Model) throw new Error(`no kubernetes-models class for ${o.apiVersion} ${o.kind}`);
  new Model(o).validate();
}
