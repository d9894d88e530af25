// RouteSet (the reconcile's compact diff base) against a Map<string, Route>: random sets and
// deletes, including a node IP that does not read back the same text (kept beside the columns).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RouteSet } from '../../src/agent/route-set.js';
import type { Route } from '../../src/agent/routes.js';

const CIDRS = ['10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/25', '0.0.0.0/0'];
const IPS = ['192.0.2.1', '192.0.2.2', '0.0.0.0', '192.0.2.01'];

type Op = { op: 'set'; r: Route } | { op: 'delete'; cidr: string };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ cidr: fc.constantFrom(...CIDRS), nodeIp: fc.constantFrom(...IPS), kind: fc.constantFrom('local' as const, 'remote' as const) }).map((r) => ({ op: 'set' as const, r })) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), cidr: fc.constantFrom(...CIDRS) }) },
);

describe('RouteSet', () => {
  it('reads like a Map of the same routes after any sequence of sets and deletes', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const set = new RouteSet();
        const model = new Map<string, Route>();
        for (const o of ops) {
          if (o.op === 'set') {
            set.set(o.r);
            model.set(o.r.cidr, o.r);
          } else expect(set.delete(o.cidr)).toBe(model.delete(o.cidr));
          expect(set.size).toBe(model.size);
          for (const c of [...CIDRS, '10.9.9.0/24']) {
            expect(set.has(c)).toBe(model.has(c));
            expect(set.get(c)).toEqual(model.get(c));
          }
          expect([...set.keys()].sort()).toEqual([...model.keys()].sort());
          expect(new Map(set.entries())).toEqual(model);
          expect(RouteSet.of(model.values()).size).toBe(model.size);
        }
      }),
      { seed: 3, numRuns: 300 },
    );
  });
});
