// The policy model the agent leaves for `podwire policy` and trace: the CompiledPolicy plus the
// revision and warnings, as JSON at ${stateDir}/policy.json (written by atomic rename).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { PodwireError } from '../errors/index.js';
import type { CompiledPolicy, PolicyWarning } from './types.js';

export const POLICY_MODEL_FILE = 'policy.json';

export interface PolicyModelExtra {
  revision: number;
  generatedAt?: string;
  /** Warnings beyond the compiler's (informer parse warnings, apply failures). */
  warnings?: readonly PolicyWarning[];
  node?: string;
}

export interface PolicyModel extends CompiledPolicy {
  revision: number;
  generatedAt: string;
  node?: string;
}

export function writePolicyModel(path: string, compiled: CompiledPolicy, extra: PolicyModelExtra): void {
  const json = {
    version: 1,
    revision: extra.revision,
    generatedAt: extra.generatedAt ?? new Date().toISOString(),
    ...(extra.node ? { node: extra.node } : {}),
    endpoints: compiled.endpoints,
    rulesets: compiled.rulesets.map((r) => ({ ...r, ports: r.ports.map((p) => ({ ...p, slots: `0x${p.slots.toString(16)}` })) })),
    sets: compiled.sets,
    policyIds: Object.fromEntries([...compiled.policyIds].map(([id, name]) => [String(id), name])),
    warnings: [...compiled.warnings, ...(extra.warnings ?? [])],
  };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(json));
  renameSync(tmp, path);
}

export function readPolicyModel(path: string): PolicyModel {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    if (code === 'ENOENT') {
      throw new PodwireError('DATAPATH_NOT_LOADED', `no policy model at ${path}: the agent writes it after its first policy apply (is the agent running with this state dir?)`, { cause });
    }
    throw new PodwireError('IO_FAILED', `cannot read the policy model ${path}: ${(cause as Error).message}`, { cause });
  }
  const j = raw as Record<string, unknown> & { rulesets: { ports: { slots: string }[] }[]; policyIds: Record<string, string> };
  if (typeof j !== 'object' || j === null || !Array.isArray(j.rulesets) || !Array.isArray(j.endpoints) || !Array.isArray(j.sets)) {
    throw new PodwireError('DECODE_FAILED', `${path} is not a podwire policy model (want {revision, endpoints, rulesets, sets, ...})`);
  }
  return {
    revision: Number(j.revision ?? 0),
    generatedAt: String(j.generatedAt ?? ''),
    ...(typeof j.node === 'string' ? { node: j.node } : {}),
    endpoints: j.endpoints as PolicyModel['endpoints'],
    rulesets: j.rulesets.map((r) => ({ ...(r as object), ports: r.ports.map((p) => ({ ...p, slots: BigInt(p.slots) })) })) as unknown as PolicyModel['rulesets'],
    sets: j.sets as PolicyModel['sets'],
    policyIds: new Map(Object.entries(j.policyIds ?? {}).map(([id, name]) => [Number(id), name])),
    warnings: (j.warnings ?? []) as PolicyWarning[],
  };
}
