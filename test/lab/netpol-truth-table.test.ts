// NetworkPolicy truth tables on the 2-node lab, in the style of upstream's e2e
// (test/e2e/network/netpol/network_policy.go), in both cross-node modes: namespaces x, y, z with
// pods a, b, c each, spread over both nodes, serving TCP and UDP on 80 and 81 under named ports
// (src/lab/netpol/fixture.ts). Every case applies policies with the real kubectl and checks the
// full 9×9 reachability matrix, probed in parallel and retried until it matches (propagation) or
// 20 s pass — then the test fails with expected vs observed tables. Nothing is skipped: with no
// enforcement every "blocked" cell stays reachable and the case fails.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Kubectl } from '../../src/lab/kubectl.js';
import { deletePolicies, matchLabels as sel, MATRIX_IDS, netpolLab, networkPolicy as np, restoreLabels, UNNAMED_ID, type NetpolLab, type NetpolPod } from '../../src/lab/netpol/fixture.js';
import { expectReachability, type Expectation, type MatrixSpec } from '../../src/lab/netpol/truth-table.js';

type Spec = Record<string, unknown>;

for (const mode of ['native', 'vxlan'] as const) {
  describe(`NetworkPolicy truth tables, ${mode} mode`, () => {
    let setup: NetpolLab | undefined;
    let kubectl: Kubectl;
    let pods: Map<string, NetpolPod>;
    let matrix: NetpolPod[];
    const pod = (id: string) => pods.get(id)!;
    const apply = (...items: Spec[]) => setup!.apply(...items);
    const del = (ns: string, name: string) => kubectl(['delete', 'networkpolicy', '-n', ns, name]);
    const spec = (proto: 'tcp' | 'udp', port: number, extraTargets: NetpolPod[] = []): MatrixSpec => ({ proto, port, sources: matrix, targets: [...matrix, ...extraTargets] });
    const check = (what: string, proto: 'tcp' | 'udp', port: number, expectation: Expectation, extraTargets: NetpolPod[] = []) =>
      expectReachability(spec(proto, port, extraTargets), expectation, { what: `${mode}: ${what}` });
    const all: Expectation = () => true;

    beforeAll(async () => {
      setup = await netpolLab({ mode, proxyMode: 'none', tag: 'np' });
      ({ kubectl, pods } = setup);
      matrix = MATRIX_IDS.map(pod);
    }, 300_000);

    afterAll(async () => {
      await setup?.down();
    }, 60_000);

    // Every case starts from no policy, and proves it: the whole matrix reachable again.
    beforeEach(async () => {
      await deletePolicies(kubectl);
      await check('reset (no policy)', 'tcp', 80, all);
    }, 60_000);

    it('no policy: every pod reaches every pod over TCP and UDP on both ports, the fixture spans both nodes', async () => {
      expect(new Set(matrix.map((p) => p.node)).size).toBe(2);
      for (const port of [80, 81]) for (const proto of ['tcp', 'udp'] as const) await check('no policy', proto, port, all);
    });

    it('default-deny ingress in x: nothing reaches x (TCP and UDP), x still reaches everyone', async () => {
      await apply(np('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }));
      const e: Expectation = (_f, t) => t.namespace !== 'x';
      await check('default-deny ingress', 'tcp', 80, e);
      await check('default-deny ingress', 'udp', 81, e);
    });

    it('default-deny egress in x: x reaches nothing but itself (TCP and UDP), everyone still reaches x', async () => {
      await apply(np('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] }));
      const e: Expectation = (f) => f.namespace !== 'x';
      await check('default-deny egress', 'tcp', 81, e);
      await check('default-deny egress', 'udp', 80, e);
    });

    it('allow from the same namespace (podSelector {}): only x reaches x', async () => {
      await apply(np('x', 'allow-same-ns', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] }));
      await check('same namespace', 'tcp', 81, (f, t) => t.namespace !== 'x' || f.namespace === 'x');
    });

    it('allow from a namespaceSelector: only y reaches x/a', async () => {
      await apply(np('x', 'allow-from-y', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }] }] }));
      await check('namespaceSelector', 'tcp', 80, (f, t) => t.id !== 'x/a' || f.namespace === 'y');
    });

    it('podSelector AND namespaceSelector in one peer, then (updated) as two peers: OR', async () => {
      await apply(np('x', 'and-or', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }), podSelector: sel({ pod: 'b' }) }] }] }));
      await check('one peer (AND)', 'tcp', 80, (f, t) => t.id !== 'x/a' || f.id === 'y/b');
      await apply(np('x', 'and-or', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }, { podSelector: sel({ pod: 'b' }) }] }] }));
      await check('two peers (OR), after a policy update', 'tcp', 80, (f, t) => t.id !== 'x/a' || f.namespace === 'y' || f.id === 'x/b');
    });

    it('matchExpressions: ingress from namespaces ns In (y, z) and pods pod NotIn (c)', async () => {
      await apply(np('x', 'expr', {
        podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] },
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: ['y', 'z'] }] }, podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['c'] }] } }] }],
      }));
      await check('matchExpressions', 'tcp', 81, (f, t) => !['x/a', 'x/b'].includes(t.id) || (f.namespace !== 'x' && f.name !== 'c'));
    });

    it('ipBlock with except, ingress (node-1 podCIDR except one pod) and egress (cluster CIDR except node-2 podCIDR)', async () => {
      const [n1, n2] = setup!.lab.state.nodes;
      const excluded = matrix.find((p) => p.node === n1!.name && p.id !== 'x/a')!;
      await apply(np('x', 'ipblock-in', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ ipBlock: { cidr: n1!.podCIDR, except: [`${excluded.ip}/32`] } }] }] }));
      await check(`ipBlock ${n1!.podCIDR} except ${excluded.id}`, 'tcp', 80, (f, t) => t.id !== 'x/a' || (f.node === n1!.name && f.id !== excluded.id));
      await apply(np('x', 'ipblock-eg', { podSelector: sel({ pod: 'b' }), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: [n2!.podCIDR] } }] }] }));
      await check(`+ x/b egress to 10.244.0.0/16 except ${n2!.podCIDR}`, 'udp', 80, (f, t) => (t.id !== 'x/a' || (f.node === n1!.name && f.id !== excluded.id)) && (f.id !== 'x/b' || t.node === n1!.name));
    });

    it('named ports, ingress: resolved on each destination pod; x/d, which lacks the name, does not match', async () => {
      await apply(np('x', 'named-in', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-tcp' }, { protocol: 'UDP', port: 'serve-81-udp' }] }] }));
      const d = pod(UNNAMED_ID);
      await check('named serve-80-tcp', 'tcp', 80, (_f, t) => t.namespace !== 'x' || t.name !== 'd', [d]);
      await check('named serve-80-tcp, port 81', 'tcp', 81, (_f, t) => t.namespace !== 'x');
      await check('named serve-81-udp', 'udp', 81, all);
      await check('named serve-81-udp, port 80', 'udp', 80, (_f, t) => t.namespace !== 'x', [d]);
    });

    it('named ports, egress: resolved on each peer; x/d (UDP 80 named "dns") is not a serve-80-udp peer', async () => {
      await apply(np('x', 'named-eg', { podSelector: sel({ pod: 'a' }), policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 'serve-80-udp' }] }] }));
      const d = pod(UNNAMED_ID);
      await check('egress named serve-80-udp', 'udp', 80, (f, t) => f.id !== 'x/a' || t.id !== UNNAMED_ID, [d]);
      await check('egress named serve-80-udp, TCP 80', 'tcp', 80, (f) => f.id !== 'x/a', [d]);
    });

    it('endPort ranges: TCP 81-90 and UDP 70-80 into x/a', async () => {
      await apply(np('x', 'ranges', { podSelector: sel({ pod: 'a' }), ingress: [{ ports: [{ protocol: 'TCP', port: 81, endPort: 90 }, { protocol: 'UDP', port: 70, endPort: 80 }] }] }));
      const intoA: Expectation = (_f, t) => t.id !== 'x/a';
      await check('TCP 80 outside 81-90', 'tcp', 80, intoA);
      await check('TCP 81 inside 81-90', 'tcp', 81, all);
      await check('UDP 80 inside 70-80', 'udp', 80, all);
      await check('UDP 81 outside 70-80', 'udp', 81, intoA);
    });

    it('ingress and egress together on x/a: in only from x/b, out only to y', async () => {
      await apply(np('x', 'both', { podSelector: sel({ pod: 'a' }), policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }] }], egress: [{ to: [{ namespaceSelector: sel({ ns: 'y' }) }] }] }));
      const e: Expectation = (f, t) => (t.id !== 'x/a' || f.id === 'x/b') && (f.id !== 'x/a' || t.namespace === 'y');
      await check('ingress + egress', 'tcp', 80, e);
      await check('ingress + egress', 'udp', 81, e);
    });

    it('an empty rule admits everything even for an isolated pod; egress with ports only limits the port', async () => {
      await apply(np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }), np('x', 'allow-all-in', { podSelector: {}, ingress: [{}] }), np('x', 'egress-80', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 80 }] }] }));
      await check('all ingress allowed, egress port 80', 'tcp', 80, all);
      await check('egress port 81 denied', 'tcp', 81, (f) => f.namespace !== 'x');
    });

    it('several policies on one pod add up; deleting them one by one takes each away', async () => {
      await apply(np('x', 'from-xb', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }] }] }), np('x', 'from-zc', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'z' }), podSelector: sel({ pod: 'c' }) }] }] }));
      await check('union', 'tcp', 80, (f, t) => t.id !== 'x/a' || f.id === 'x/b' || f.id === 'z/c');
      await del('x', 'from-xb');
      await check('after deleting from-xb', 'tcp', 80, (f, t) => t.id !== 'x/a' || f.id === 'z/c');
      await del('x', 'from-zc');
      await check('after deleting both', 'tcp', 80, all);
    });

    it('pod label changes move pods in and out of peers and of isolation, without restarts', async () => {
      await apply(np('x', 'from-b', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ podSelector: sel({ pod: 'b' }) }] }] }));
      try {
        await check('from pod=b', 'tcp', 80, (f, t) => t.id !== 'x/a' || f.id === 'x/b');
        await kubectl(['label', 'pod', '-n', 'x', 'c', 'pod=b', '--overwrite']);
        await check('x/c relabelled pod=b', 'tcp', 80, (f, t) => t.id !== 'x/a' || f.id === 'x/b' || f.id === 'x/c');
        await kubectl(['label', 'pod', '-n', 'x', 'b', 'pod=q', '--overwrite']);
        await check('x/b relabelled pod=q', 'tcp', 80, (f, t) => t.id !== 'x/a' || f.id === 'x/c');
        await kubectl(['label', 'pod', '-n', 'x', 'a', 'pod=q', '--overwrite']);
        await check('x/a relabelled pod=q: no longer selected, not isolated', 'tcp', 80, all);
      } finally {
        for (const p of ['x/a', 'x/b', 'x/c']) await restoreLabels(kubectl, { pod: p });
      }
      await check('labels restored', 'tcp', 80, (f, t) => t.id !== 'x/a' || f.id === 'x/b');
    });

    it('namespace label changes move namespaces in and out of peers, without restarts', async () => {
      await apply(np('x', 'from-ns-y', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }] }] }));
      try {
        await check('from ns=y', 'udp', 80, (f, t) => t.id !== 'x/a' || f.namespace === 'y');
        await kubectl(['label', 'namespace', 'z', 'ns=y', '--overwrite']);
        await check('namespace z relabelled ns=y', 'udp', 80, (f, t) => t.id !== 'x/a' || f.namespace === 'y' || f.namespace === 'z');
      } finally {
        await restoreLabels(kubectl, { namespace: 'z' });
      }
      await check('label restored', 'udp', 80, (f, t) => t.id !== 'x/a' || f.namespace === 'y');
    });
  });
}
