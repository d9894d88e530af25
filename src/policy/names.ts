// The policy model (`${stateDir}/policy.json`, written by the agent after every apply) as the names
// `podwire trace` and `podwire monitor` print next to the ids the maps hold. A node without a model
// (no agent yet, an older agent) gets undefined: the tools then print the ids.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PolicyNames } from '../twin/explain.js';
import { POLICY_MODEL_FILE, readPolicyModel, type PolicyModel } from './model.js';

export function policyNames(model: PolicyModel): PolicyNames {
  const rulesets = new Map(model.rulesets.map((r) => [r.id, r]));
  const endpoints = new Map(model.endpoints.map((e) => [e.ip, e]));
  return {
    policyName: (id) => model.policyIds.get(id),
    slot: (ruleset, slot) => {
      const s = rulesets.get(ruleset)?.slots.find((x) => x.slot === slot);
      return s ? { rules: s.rules.map((r) => ({ policy: r.policy, rule: r.rule })), ports: s.ports, peers: s.peers } : undefined;
    },
    isolatedBy: (ip, direction) => endpoints.get(ip)?.policies[direction],
  };
}

/** The names from a node's state dir, or undefined when it holds no (readable) model. */
export function policyNamesFromStateDir(stateDir: string | undefined): PolicyNames | undefined {
  if (!stateDir) return undefined;
  const path = join(stateDir, POLICY_MODEL_FILE);
  if (!existsSync(path)) return undefined;
  try {
    return policyNames(readPolicyModel(path));
  } catch {
    return undefined; // a torn or foreign file must not stop a trace: the ids still print
  }
}
