// The columnar PodStore against a plain Map of the same records: random sequences of set
// (insert and replace), delete and clear, with namespace/node/label/port values drawn from small
// pools so ids are shared, freed and reused. After every step the store reads exactly like the
// Map (size, has, get, keys, entries, values, forEach, localPods), and its shared tables hold only
// values some live Pod uses. Also the compiler's result over a store equals the one over a Map.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePolicy, PodOverlay, PodStore, podRecord } from '../../src/policy/index.js';
import { localPodsOf } from '../../src/policy/pod-store.js';
import type { PodRecord } from '../../src/policy/types.js';
import { ns, pod, policy } from './helpers.js';

const NS = ['a', 'bb', 'default'];
const NAMES = ['p', 'q', 'web-0', 'x/y'];
const NODES = [undefined, 'n1', 'n2'];
const LABELS: Record<string, string>[] = [{}, { app: 'a' }, { app: 'b', tier: 'web' }];
const PORTS = [[], [{ name: 'web', protocol: 'TCP' as const, port: 80 }]];
const IPS = [undefined, '10.0.0.1', '10.0.0.2', '192.168.1.255', '0.0.0.0'];

const recordArb = fc
  .record({
    namespace: fc.constantFrom(...NS),
    name: fc.constantFrom(...NAMES),
    ip: fc.constantFrom(...IPS),
    node: fc.constantFrom(...NODES),
    hostNetwork: fc.boolean(),
    labels: fc.constantFrom(...LABELS),
    ports: fc.constantFrom(...PORTS),
  })
  .map(({ namespace, name, ip, node, hostNetwork, labels, ports }): PodRecord => ({
    namespace,
    name,
    ...(ip === undefined ? {} : { ip }),
    ...(node === undefined ? {} : { node }),
    hostNetwork,
    labels,
    ports,
  }));

type Op = { op: 'set'; r: PodRecord } | { op: 'delete'; ns: string; name: string } | { op: 'clear' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: recordArb.map((r) => ({ op: 'set' as const, r })) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), ns: fc.constantFrom(...NS), name: fc.constantFrom(...NAMES) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

const sorted = <T>(xs: Iterable<T>): T[] => [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

function expectSame(store: PodStore, model: Map<string, PodRecord>): void {
  expect(store.size).toBe(model.size);
  expect(sorted(store.keys())).toEqual(sorted(model.keys()));
  for (const [k, r] of model) {
    expect(store.has(k)).toBe(true);
    // same content and the same key order (the cache compares records by their JSON)
    expect(JSON.stringify(store.get(k))).toBe(JSON.stringify(r));
  }
  for (const k of ['a/zz', 'zz', '']) expect(store.has(k) || store.get(k) !== undefined).toBe(model.has(k));
  expect(sorted(store.entries())).toEqual(sorted(model.entries()));
  expect(sorted(store.values())).toEqual(sorted(model.values()));
  const seen: [string, PodRecord][] = [];
  store.forEach((v, k) => seen.push([k, v]));
  expect(sorted(seen)).toEqual(sorted(model.entries()));
  for (const ips of [new Set(['10.0.0.1']), new Set(['10.0.0.2', '0.0.0.0', '1.1.1.1']), new Set<string>()]) {
    const want = [...model.values()].filter((p) => p.ip && !p.hostNetwork && ips.has(p.ip));
    expect(sorted(store.localPods(ips))).toEqual(sorted(want));
  }
  const live = [...model.values()];
  expect(store.shared()).toEqual({
    names: new Set(live.flatMap((p) => [p.namespace, ...(p.node === undefined ? [] : [p.node])])).size,
    labelSets: new Set(live.map((p) => p.labels)).size,
    portLists: new Set(live.map((p) => p.ports)).size,
  });
}

describe('PodStore', () => {
  it('reads like a Map of the same records after any sequence of sets, deletes and clears', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const store = new PodStore();
        const model = new Map<string, PodRecord>();
        for (const o of ops) {
          if (o.op === 'set') {
            const k = `${o.r.namespace}/${o.r.name}`;
            store.set(k, o.r);
            model.set(k, o.r);
          } else if (o.op === 'delete') {
            const k = `${o.ns}/${o.name}`;
            expect(store.delete(k)).toBe(model.delete(k));
          } else {
            store.clear();
            model.clear();
          }
          expectSame(store, model);
        }
      }),
      { seed: 13, numRuns: 300 },
    );
  });

  it('reuses freed slots: churn does not grow its columns', () => {
    const store = new PodStore();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3000; i++) store.set(`ns/p${round}-${i}`, { namespace: 'ns', name: `p${round}-${i}`, ip: `10.1.${i >> 8}.${i & 255}`, hostNetwork: false, labels: {}, ports: [] });
      for (let i = 0; i < 3000; i++) expect(store.delete(`ns/p${round}-${i}`)).toBe(true);
    }
    expect(store.size).toBe(0);
    expect((store as unknown as { table: { end: number } }).table.end).toBe(3000);
    expect(store.shared()).toEqual({ names: 0, labelSets: 0, portLists: 0 });
  });

  it('refuses a key that is not the record namespace/name, and an IP that is not IPv4', () => {
    const store = new PodStore();
    const r: PodRecord = { namespace: 'a', name: 'b', hostNetwork: false, labels: {}, ports: [] };
    expect(() => store.set('a/c', r)).toThrow(/not the record's namespace\/name/);
    expect(() => store.set('ab', r)).toThrow(/not the record's namespace\/name/);
    expect(() => store.set('a/b', { ...r, ip: 'fd00::1' })).toThrow(/not an IPv4 address/);
    expect(store.size).toBe(0);
  });

  it('podRecord writes IPs canonically, so a stored record reads back equal', () => {
    const r = podRecord({ metadata: { namespace: 'a', name: 'b' }, spec: { nodeName: 'n' }, status: { phase: 'Running', podIP: '10.0.0.010' } })!;
    expect(r.ip).toBe('10.0.0.10');
    const store = new PodStore().set('a/b', r);
    expect(JSON.stringify(store.get('a/b'))).toBe(JSON.stringify(r));
  });
});

describe('PodOverlay', () => {
  it('replaces the overridden records only, and ignores keys the base lacks', () => {
    const base = new PodStore();
    const a: PodRecord = { namespace: 'x', name: 'a', hostNetwork: false, labels: {}, ports: [] };
    const b: PodRecord = { namespace: 'x', name: 'b', ip: '10.0.0.2', hostNetwork: false, labels: {}, ports: [] };
    base.set('x/a', a).set('x/b', b);
    const aWired = { ...a, ip: '10.0.0.1', node: 'me' };
    const ghost = { ...a, name: 'ghost', ip: '10.0.0.9' };
    const o = new PodOverlay(base, new Map([['x/a', aWired], ['x/ghost', ghost]]));
    expect(o.size).toBe(2);
    expect(o.get('x/a')).toEqual(aWired);
    expect(o.get('x/ghost')).toBeUndefined();
    expect(o.has('x/ghost')).toBe(false);
    expect(sorted(o.values())).toEqual(sorted([aWired, b]));
    expect(sorted(o.localPods(new Set(['10.0.0.1', '10.0.0.2', '10.0.0.9'])))).toEqual(sorted([aWired, b]));
    expect(localPodsOf(new Map([['x/b', b]]), new Set(['10.0.0.2']))).toEqual([b]);
  });
});

describe('compilePolicy over a PodStore', () => {
  const policies = new Map([
    ['a/isolate-a', policy('a', 'isolate-a', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } }, namespaceSelector: {} }] }] })],
    ['bb/named', policy('bb', 'named', { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ ports: [{ port: 'web' }] }], egress: [{ to: [{ podSelector: { matchLabels: { tier: 'web' } } }] }] })],
    ['default/deny', policy('default', 'deny', { podSelector: {} })],
  ]);
  const namespaces = new Map(NS.map((n) => [n, ns(n)] as const));

  it('compiles the same maps as over a Map of the same records (random clusters)', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 25 }), fc.subarray(IPS.filter((ip): ip is string => ip !== undefined)), (records, local) => {
        const map = new Map<string, PodRecord>();
        const store = new PodStore();
        for (const r of records) {
          map.set(`${r.namespace}/${r.name}`, r);
          store.set(`${r.namespace}/${r.name}`, r);
        }
        const input = { namespaces, policies, localIps: new Set(local), hostIps: ['192.0.2.1'] };
        expect(compilePolicy({ ...input, pods: store })).toEqual(compilePolicy({ ...input, pods: map }));
      }),
      { seed: 13, numRuns: 200 },
    );
  });

  it('over an overlay (the CNI ADD overrides) the same as over a Map with the overrides applied', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 25 }), fc.array(recordArb, { maxLength: 6 }), fc.subarray(IPS.filter((ip): ip is string => ip !== undefined)), (records, overrides, local) => {
        const map = new Map<string, PodRecord>();
        const store = new PodStore();
        for (const r of records) {
          map.set(`${r.namespace}/${r.name}`, r);
          store.set(`${r.namespace}/${r.name}`, r);
        }
        const over = new Map<string, PodRecord>(overrides.map((r) => [`${r.namespace}/${r.name}`, r]));
        const applied = new Map([...map].map(([k, r]) => [k, over.get(k) ?? r] as const));
        const input = { namespaces, policies, localIps: new Set(local), hostIps: ['192.0.2.1'] };
        expect(compilePolicy({ ...input, pods: new PodOverlay(store, over) })).toEqual(compilePolicy({ ...input, pods: applied }));
        expect(compilePolicy({ ...input, pods: new PodOverlay(map, over) })).toEqual(compilePolicy({ ...input, pods: applied }));
      }),
      { seed: 14, numRuns: 200 },
    );
  });

  it('a pod selected as a peer lands in the set (sanity of the fixed case)', () => {
    const pods = [pod({ ns: 'a', name: 'x', ip: '10.0.0.1', labels: { app: 'a' } }), pod({ ns: 'bb', name: 'y', ip: '10.0.0.2', labels: { app: 'b' } })];
    const store = new PodStore();
    for (const p of pods) store.set(`${p.namespace}/${p.name}`, p);
    const c = compilePolicy({ pods: store, namespaces, policies, localIps: new Set(['10.0.0.1']), hostIps: [] });
    expect(c.endpoints.map((e) => e.pod)).toEqual(['a/x']);
    expect(c.sets.some((s) => s.entries.some((e) => e.cidr === '10.0.0.2/32'))).toBe(true);
  });
});
