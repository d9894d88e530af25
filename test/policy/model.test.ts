// policy.json: what the agent writes is what `podwire policy` reads (bigint slot masks included),
// written by atomic rename; a missing or foreign file is a clear error.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPolicyModel, writePolicyModel } from '../../src/policy/index.js';
import { policyView } from '../../src/policy/view.js';
import { compile, pod, policy } from './helpers.js';

describe('policy model', () => {
  it('round-trips the compiled policy; the view joins counters by endpoint, ruleset, direction and slot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcp-model-'));
    const c = compile({
      pods: [pod({ ns: 'x', name: 'srv', ip: '10.0.0.10' }), pod({ ns: 'x', name: 'a', ip: '10.0.0.1', labels: { app: 'a' } })],
      policies: [policy('x', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }], ports: [{ port: 63 }, { port: 64, endPort: 65535 }] }] })],
      local: ['10.0.0.10'],
    });
    const path = join(dir, 'policy.json');
    writePolicyModel(path, c, { revision: 7, node: 'n1', warnings: [{ code: 'INVALID_POLICY', policy: 'x/bad', message: 'm' }] });
    expect(readdirSync(dir)).toEqual(['policy.json']); // no temp file left
    const m = readPolicyModel(path);
    expect(m.revision).toBe(7);
    expect(m.node).toBe('n1');
    expect(m.rulesets).toEqual(c.rulesets);
    expect(m.sets).toEqual(c.sets);
    expect(m.endpoints).toEqual(c.endpoints);
    expect(m.policyIds).toEqual(c.policyIds);
    expect(m.warnings.map((w) => w.policy)).toEqual(['x/bad']);
    const rs = c.endpoints[0]!.ingress;
    const v = policyView(m, {
      ifindexOf: new Map([['10.0.0.10', 9]]),
      stats: [
        { ifindex: 9, ruleset: rs, dir: 1, slot: 0, packets: 3n, bytes: 300n },
        { ifindex: 9, ruleset: rs, dir: 1, slot: 0, packets: 1n, bytes: 100n },
        { ifindex: 9, ruleset: rs, dir: 0, slot: 0, packets: 50n, bytes: 1n }, // egress: not this slot
        { ifindex: 8, ruleset: rs, dir: 1, slot: 0, packets: 50n, bytes: 1n }, // another endpoint
        { ifindex: 9, ruleset: rs, dir: 1, slot: 0xfe, packets: 2n, bytes: 20n },
      ],
    });
    const slots = v.endpoints[0]!.ingress.slots;
    expect(slots.map((s) => [s.slot, s.packets])).toEqual([[0, 4n], ['host', 0n], ['deny', 2n]]);
    expect(slots[0]!.ports).toBe('TCP/63, TCP/64-65535');
    expect(v.warnings.map((w) => w.policy)).toEqual(['x/bad']);
  });

  it('a missing or foreign file says what is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcp-model-'));
    expect(() => readPolicyModel(join(dir, 'policy.json'))).toThrow(/no policy model at .*policy.json: the agent writes it/);
    writeFileSync(join(dir, 'x.json'), '{"a":1}');
    expect(() => readPolicyModel(join(dir, 'x.json'))).toThrow(/not a podwire policy model/);
  });
});
