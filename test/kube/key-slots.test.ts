// KeySlots (string keys -> slots over typed arrays and one byte arena) against a Map model:
// random sequences of add, delete and clear over keys drawn from a small pool (so keys come back
// after deletion and slots are reused), including non-ASCII keys, keys that are prefixes of one
// another, and the empty key; plus a pool big enough to grow the table and compact the arena.
// Keys whose hashes collide are forced through a test-only seam: lookups must still compare the
// stored bytes, so two colliding keys never merge.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeySlots } from '../../src/kube/key-slots.js';

const POOL = ['a', 'ab', 'a/b', 'default/pod-1', 'default/pod-10', 'é/ü', 'ns/名前', '', 'x'.repeat(300), 'kube-system/coredns-5d78c9869d-abcde'];

type Op = { op: 'add' | 'delete'; key: string } | { op: 'clear' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('add' as const), key: fc.constantFrom(...POOL) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...POOL) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

function expectSame(t: KeySlots, model: Map<string, number>): void {
  expect(t.size).toBe(model.size);
  for (const k of POOL) {
    const s = t.get(k);
    expect(s).toBe(model.get(k) ?? -1);
    expect(t.has(k)).toBe(model.has(k));
  }
  const live = [...t.slots()];
  expect(live.sort((a, b) => a - b)).toEqual([...model.values()].sort((a, b) => a - b));
  for (const [k, s] of model) {
    expect(t.isLive(s)).toBe(true);
    expect(t.keyOf(s)).toBe(k);
    expect(s).toBeLessThan(t.capacity());
  }
}

describe('KeySlots', () => {
  it('reads like a Map of key -> slot after any sequence of adds, deletes and clears', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const t = new KeySlots();
        const model = new Map<string, number>();
        for (const o of ops) {
          if (o.op === 'add') {
            const r = t.add(o.key);
            expect(r.added).toBe(!model.has(o.key));
            if (!r.added) expect(r.slot).toBe(model.get(o.key));
            // a new key never takes a live key's slot
            else expect([...model.values()]).not.toContain(r.slot);
            model.set(o.key, r.slot);
          } else if (o.op === 'delete') {
            const s = t.delete(o.key);
            expect(s).toBe(model.get(o.key) ?? -1);
            model.delete(o.key);
          } else {
            t.clear();
            model.clear();
          }
          expectSame(t, model);
        }
      }),
      { seed: 5, numRuns: 300 },
    );
  });

  it('grows, reuses freed slots and compacts its arena under churn, keeping every key', () => {
    const t = new KeySlots();
    const model = new Map<string, number>();
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 20_000; i++) {
        const k = `ns-${i % 7}/pod-${round}-${i}`;
        model.set(k, t.add(k).slot);
      }
      // delete two thirds: backward-shift deletion in long probe runs, arena garbage
      for (let i = 0; i < 20_000; i++) {
        if (i % 3 === 0) continue;
        const k = `ns-${i % 7}/pod-${round}-${i}`;
        expect(t.delete(k)).toBe(model.get(k));
        model.delete(k);
      }
    }
    expect(t.size).toBe(model.size);
    for (const [k, s] of model) {
      expect(t.get(k)).toBe(s);
      expect(t.keyOf(s)).toBe(k);
    }
    expect(t.get('ns-0/pod-0-1')).toBe(-1);
    // slots are reused: never more than the most keys live at once (20k + survivors) were handed out
    expect(t.end).toBeLessThanOrEqual(20_000 + model.size);
    expect((t as unknown as { arenaUsed: number }).arenaUsed).toBeLessThan(2 * 40 * (model.size + 20_000));
  });

  it('reserve(n) sizes the slots and table once, and the arena at its next growth', () => {
    const t = new KeySlots();
    const n = 50_000;
    t.reserve(n);
    const cap = t.capacity();
    expect(cap).toBeGreaterThanOrEqual(n);
    const internals = t as unknown as { table: Uint32Array; arena: Buffer };
    const table = internals.table;
    const arenas = new Set<Buffer>();
    for (let i = 0; i < n; i++) {
      t.add(`default/pod-${i}`);
      arenas.add(internals.arena);
    }
    expect(t.capacity()).toBe(cap);
    expect(internals.table).toBe(table);
    // the initial arena, one sized for all the announced keys at the average length of the first
    // ones (+5%), and at most one more growth: the later names are longer (pod-49999 vs pod-99)
    expect(arenas.size).toBeLessThanOrEqual(3);
    for (let i = 0; i < n; i += 997) expect(t.keyOf(t.get(`default/pod-${i}`))).toBe(`default/pod-${i}`);
  });

  it('never merges two keys with the same hash: lookups compare the stored bytes', () => {
    const t = new KeySlots();
    // every key hashes to 1: one probe run holds them all
    (t as unknown as { hashOf: (k: string) => number }).hashOf = () => 1;
    const keys = ['a/x', 'a/y', 'b/x', 'a/xy', 'é', 'e'];
    const slots = keys.map((k) => t.add(k).slot);
    expect(new Set(slots).size).toBe(keys.length);
    keys.forEach((k, i) => expect(t.get(k)).toBe(slots[i]));
    expect(t.get('a/z')).toBe(-1);
    expect(t.delete('a/y')).toBe(slots[1]);
    keys.forEach((k, i) => expect(t.get(k)).toBe(i === 1 ? -1 : slots[i]));
    expect(t.delete('a/y')).toBe(-1);
  });

  it('deletes inside a probe run that wraps around the end of the table', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(1021, 1022, 1023, 1024, 1025), fc.boolean()), { minLength: 1, maxLength: 12 }), fc.array(fc.nat(11)), (spec, dels) => {
        const t = new KeySlots();
        const home = new Map<string, number>();
        const keys = spec.map(([h], i) => {
          const k = `k${i}`;
          home.set(k, h);
          return k;
        });
        // homes at the end of the 1024-entry table (1024 and 1025 are homes 0 and 1; a hash is never 0): runs wrap to its start
        (t as unknown as { hashOf: (k: string) => number }).hashOf = (k) => home.get(k) ?? 7;
        const model = new Map<string, number>();
        for (const k of keys) model.set(k, t.add(k).slot);
        for (const d of dels) {
          const k = keys[d % keys.length]!;
          expect(t.delete(k)).toBe(model.get(k) ?? -1);
          model.delete(k);
          for (const q of keys) expect(t.get(q)).toBe(model.get(q) ?? -1);
        }
      }),
      { seed: 21, numRuns: 500 },
    );
  });
});
