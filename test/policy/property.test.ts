// The compiled maps, read through a TS model of the datapath's lookups (LPM ports -> slot bits ->
// LPM sets), against a direct reading of the spec on random small clusters (fixed seed).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePolicy, PolicyEvaluator, SLOT_DENY } from '../../src/policy/index.js';
import { ns, pod, policy } from './helpers.js';
import { refJudge, type RefCluster } from './reference.js';

const KEYS = ['app', 'tier'];
const VALUES = ['a', 'b', 'c'];
const NAMESPACES = ['x', 'y', 'z'];
const CIDRS = ['10.0.0.0/24', '10.0.0.0/28', '10.0.0.8/29', '10.0.0.4/30', '0.0.0.0/0', '10.0.0.5/32', '10.0.0.0/25', '8.8.0.0/16'];
const PORT_NAMES = ['web', 'dns'];

const labelsArb = fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES), { maxKeys: 2 });
const selectorArb = fc.oneof(
  fc.constant({}),
  fc.record({ matchLabels: labelsArb }),
  fc.record({
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({ key: fc.constantFrom(...KEYS), operator: fc.constantFrom('In', 'NotIn'), values: fc.subarray(VALUES, { minLength: 1 }) }),
        fc.record({ key: fc.constantFrom(...KEYS), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
      ),
      { minLength: 1, maxLength: 2 },
    ),
  }),
);
const peerArb = fc.oneof(
  fc.record({ podSelector: selectorArb }),
  fc.record({ namespaceSelector: selectorArb }),
  fc.record({ podSelector: selectorArb, namespaceSelector: selectorArb }),
  fc.constantFrom(...CIDRS).chain((cidr) =>
    fc.record({ ipBlock: fc.record({ cidr: fc.constant(cidr), except: fc.subarray(CIDRS.filter((e) => e !== cidr && e !== '0.0.0.0/0'), { maxLength: 2 }) }) }),
  ),
);
const portArb = fc.oneof(
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'), port: fc.integer({ min: 78, max: 84 }) }),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP'), port: fc.integer({ min: 78, max: 82 }), endPort: fc.integer({ min: 82, max: 90 }) }),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP'), port: fc.constantFrom(...PORT_NAMES) }),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP') }),
  fc.record({ port: fc.integer({ min: 78, max: 84 }) }),
);
const ruleArb = (peerKey: 'from' | 'to') =>
  fc.record({ [peerKey]: fc.option(fc.array(peerArb, { maxLength: 3 }), { nil: undefined }), ports: fc.option(fc.array(portArb, { maxLength: 3 }), { nil: undefined }) });
const policyArb = fc.record({
  ns: fc.constantFrom(...NAMESPACES),
  podSelector: selectorArb,
  ingress: fc.option(fc.array(ruleArb('from'), { maxLength: 3 }), { nil: undefined }),
  egress: fc.option(fc.array(ruleArb('to'), { maxLength: 3 }), { nil: undefined }),
  policyTypes: fc.option(fc.subarray(['Ingress', 'Egress'], { minLength: 1 }), { nil: undefined }),
});
const podArb = fc.record({
  ns: fc.constantFrom(...NAMESPACES),
  labels: labelsArb,
  ports: fc.subarray([
    { name: 'web', containerPort: 80 },
    { name: 'web', containerPort: 81, protocol: 'UDP' },
    { name: 'dns', containerPort: 83, protocol: 'UDP' },
  ]),
  altWeb: fc.boolean(),
  hostNetwork: fc.boolean(),
  phase: fc.constantFrom('Running', 'Running', 'Running', 'Failed'),
  local: fc.boolean(),
});
const clusterArb = fc.record({
  pods: fc.array(podArb, { minLength: 1, maxLength: 7 }),
  nsLabels: fc.tuple(labelsArb, labelsArb, labelsArb),
  policies: fc.array(policyArb, { maxLength: 4 }),
});

const PEERS_EXTRA = ['10.0.0.200', '10.0.1.5', '8.8.8.8', '192.168.99.1'];
const QUERIES: [number, number][] = [
  [6, 78], [6, 80], [6, 81], [6, 82], [6, 84], [6, 86], [6, 90], [6, 91],
  [17, 80], [17, 81], [17, 83], [17, 89],
  [132, 80], [132, 84],
  [1, 0],
];

describe('compiled maps vs the NetworkPolicy spec (random clusters)', () => {
  it('agree on every (local pod, direction, peer, proto, port)', () => {
    fc.assert(
      fc.property(clusterArb, (cl) => {
        const pods = cl.pods.map((p, i) =>
          pod({
            ns: p.ns,
            name: `p${i}`,
            ip: p.hostNetwork ? '192.168.99.2' : `10.0.0.${i + 1}`,
            labels: p.labels,
            ports: p.ports.map((x) => (x.name === 'web' && !x.protocol && p.altWeb ? { ...x, containerPort: 84 } : x)),
            hostNetwork: p.hostNetwork,
            phase: p.phase,
          }),
        );
        const namespaces = NAMESPACES.map((n, i) => ns(n, cl.nsLabels[i]));
        const policies = cl.policies.map((p, i) => {
          const spec: Record<string, unknown> = { podSelector: p.podSelector };
          if (p.ingress) spec.ingress = p.ingress;
          if (p.egress) spec.egress = p.egress;
          if (p.policyTypes) spec.policyTypes = p.policyTypes;
          return policy(p.ns, `pol${i}`, spec);
        });
        const local = pods.filter((p, i) => p.ip && !p.hostNetwork && cl.pods[i]!.local);
        const c = compilePolicy({
          pods: new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p])),
          namespaces: new Map(namespaces.map((n) => [n.name, n])),
          policies: new Map(policies.map((p) => [`${p.namespace}/${p.name}`, p])),
          localIps: new Set(local.map((p) => p.ip!)),
          hostIps: ['192.168.99.1'],
        });
        const ev = new PolicyEvaluator(c);
        const ref: RefCluster = { pods, namespaces, policies, hostIps: ['192.168.99.1'] };
        const peers = [...pods.filter((p) => p.ip).map((p) => p.ip!), ...PEERS_EXTRA];
        for (const l of local) {
          for (const dir of ['ingress', 'egress'] as const) {
            for (const peer of peers) {
              for (const [proto, port] of QUERIES) {
                const want = refJudge(ref, l, dir, peer, proto, port);
                const got = ev.judge(l.ip!, dir, peer, proto, port);
                const gotBool = got === undefined ? undefined : got !== SLOT_DENY;
                if (gotBool !== want) {
                  throw new Error(`${l.namespace}/${l.name} ${dir} peer ${peer} proto ${proto} port ${port}: compiled ${gotBool}, spec ${want}`);
                }
              }
            }
          }
        }
      }),
      { seed: 20261206, numRuns: 400 },
    );
  });
});

describe('slot merging (more than 64 slots) keeps the union semantics', () => {
  it('100+ rules over a few port sets: merged slots admit exactly what the rules do', () => {
    let merged = 0;
    const ruleArb2 = fc.record({
      cidr: fc.integer({ min: 0, max: 250 }).map((i) => `10.${i}.0.0/16`),
      except: fc.boolean(),
      ports: fc.constantFrom([{ port: 80 }], [{ port: 80 }, { port: 443 }], [{ protocol: 'UDP', port: 53 }], [{ port: 8000, endPort: 8100 }], undefined),
    });
    fc.assert(
      fc.property(fc.array(ruleArb2, { minLength: 65, maxLength: 120 }), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 5, maxLength: 10 }), (rules, probes) => {
        const local = pod({ ns: 'x', name: 'srv', ip: '10.200.0.1' });
        const pol = policy('x', 'many', {
          podSelector: {},
          ingress: rules.map((r, i) => ({ from: [{ ipBlock: { cidr: r.cidr, ...(r.except ? { except: [r.cidr.replace('.0.0/16', '.128.0/17')] } : {}) } }, ...(i % 7 === 0 ? [{ podSelector: {} }] : [])], ...(r.ports ? { ports: r.ports } : {}) })),
        });
        const c = compilePolicy({ pods: new Map([['x/srv', local]]), namespaces: new Map([['x', ns('x')]]), policies: new Map([['x/many', pol]]), localIps: new Set(['10.200.0.1']), hostIps: [] });
        expect(c.warnings).toEqual([]);
        const slots = c.rulesets[0]!.slots;
        expect(slots.length).toBeLessThanOrEqual(64);
        if (slots.length <= 5) merged++; // 65+ rules with mostly distinct CIDRs fit 5 slots only by merging on ports
        const ev = new PolicyEvaluator(c);
        const ref: RefCluster = { pods: [local], namespaces: [ns('x')], policies: [pol], hostIps: [] };
        for (const p of probes) {
          for (const peer of [`10.${p}.1.1`, `10.${p}.200.1`, '10.200.0.1']) {
            for (const [proto, port] of [[6, 80], [6, 443], [17, 53], [6, 8050], [6, 8101], [1, 0]] as const) {
              const got = ev.judge('10.200.0.1', 'ingress', peer, proto, port);
              expect({ peer, proto, port, admitted: got !== SLOT_DENY }).toEqual({ peer, proto, port, admitted: refJudge(ref, local, 'ingress', peer, proto, port) });
            }
          }
        }
      }),
      { seed: 7, numRuns: 60 },
    );
    expect(merged).toBeGreaterThan(40); // the merge path really ran
  });
});
