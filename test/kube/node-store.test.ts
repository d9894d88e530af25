// The columnar NodeStore against a plain Map of the same NodeFacts: random sequences of set
// (insert and replace), delete and clear, with records drawn so that some fit the columns (one
// canonical podCIDR, a canonical InternalIP, or none) and some must be kept whole (two podCIDRs,
// leading zeros, a prefix written "08"). After every step the store reads exactly like the Map,
// each record with the same JSON (the cache compares records by their JSON).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeStore } from '../../src/kube/node-store.js';
import { nodeRecord, type NodeFacts } from '../../src/kube/objects.js';

const NAMES = ['n1', 'n2', 'node-with-a-longer-name', 'é'];
const CIDRS: string[][] = [[], ['10.0.1.0/24'], ['10.0.2.0/24'], ['0.0.0.0/0'], ['10.0.3.5/32'], ['10.0.4.0/24', '10.0.5.0/24'], ['010.0.6.0/24'], ['10.0.7.0/08'], ['10.0.8.0/33'], ['10.0.9.0/'], ['10.0.10.0/-1'], ['10.0.11.0/9']];
const IPS = [undefined, '192.0.2.1', '0.0.0.0', '255.255.255.255', '192.0.2.01'];

const recordArb = fc.record({ name: fc.constantFrom(...NAMES), podCIDRs: fc.constantFrom(...CIDRS), ip: fc.constantFrom(...IPS) }).map(
  ({ name, podCIDRs, ip }): NodeFacts => ({ name, podCIDRs: [...podCIDRs], ...(ip === undefined ? {} : { internalIp: ip }) }),
);

type Op = { op: 'set'; r: NodeFacts } | { op: 'delete'; name: string } | { op: 'clear' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: recordArb.map((r) => ({ op: 'set' as const, r })) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), name: fc.constantFrom(...NAMES) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

const sorted = <T>(xs: Iterable<T>): T[] => [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

function expectSame(store: NodeStore, model: Map<string, NodeFacts>): void {
  expect(store.size).toBe(model.size);
  expect(sorted(store.keys())).toEqual(sorted(model.keys()));
  for (const k of [...NAMES, 'zz', '']) {
    expect(store.has(k)).toBe(model.has(k));
    expect(JSON.stringify(store.get(k))).toBe(JSON.stringify(model.get(k)));
  }
  expect(sorted(store.entries()).map((e) => JSON.stringify(e))).toEqual(sorted(model.entries()).map((e) => JSON.stringify(e)));
  expect(sorted(store.values()).map((e) => JSON.stringify(e))).toEqual(sorted(model.values()).map((e) => JSON.stringify(e)));
  expect(sorted(store.all()).map((e) => JSON.stringify(e))).toEqual(sorted(model.values()).map((e) => JSON.stringify(e)));
  const seen: string[] = [];
  store.forEach((v, k) => seen.push(JSON.stringify([k, v])));
  expect(seen.sort()).toEqual([...model].map((e) => JSON.stringify(e)).sort());
}

describe('NodeStore', () => {
  it('reads like a Map of the same records after any sequence of sets, deletes and clears', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const store = new NodeStore();
        const model = new Map<string, NodeFacts>();
        for (const o of ops) {
          if (o.op === 'set') {
            store.set(o.r.name, o.r);
            model.set(o.r.name, o.r);
          } else if (o.op === 'delete') {
            expect(store.delete(o.name)).toBe(model.delete(o.name));
          } else {
            store.clear();
            model.clear();
          }
          expectSame(store, model);
        }
      }),
      { seed: 17, numRuns: 300 },
    );
  });

  it('keeps the usual Node (one podCIDR, an InternalIP) in its columns, the odd one whole', () => {
    const store = new NodeStore();
    const usual = nodeRecord({ metadata: { name: 'a' }, spec: { podCIDRs: ['10.1.2.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.7' }] } })!;
    const none = nodeRecord({ metadata: { name: 'b' }, spec: {}, status: {} })!;
    const two = nodeRecord({ metadata: { name: 'c' }, spec: { podCIDRs: ['10.1.3.0/24', '10.1.4.0/24'] }, status: {} })!;
    store.set('a', usual).set('b', none).set('c', two);
    expect(store.wholeRecords).toBe(1);
    for (const r of [usual, none, two]) expect(JSON.stringify(store.get(r.name))).toBe(JSON.stringify(r));
    // replacing the odd one by a usual one moves it into the columns
    store.set('c', { name: 'c', podCIDRs: ['10.1.3.0/24'] });
    expect(store.wholeRecords).toBe(0);
    expect(store.get('c')).toEqual({ name: 'c', podCIDRs: ['10.1.3.0/24'] });
  });
});
