// NetworkPolicy under real traffic on the 2-node lab (kube-proxy in iptables mode), both modes:
// - through ClusterIP Services: ingress judged on the backend after kube-proxy's DNAT (clients on
//   the backend's node and on the other node), egress of an isolated client judged against the
//   backend it was DNATed to (backends on the client's node and on the other node), TCP and UDP;
// - a long TCP stream and a ping while policies change. Our documented choice (README
//   "NetworkPolicy"): established flows are re-judged after every change — a policy that still
//   admits them keeps them with no loss, one that denies them cuts them (packets dropped, the
//   connection stalls), and deleting it lets the same connection resume.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Kubectl } from '../../src/lab/kubectl.js';
import { bytesBetween, longestStall, startPing, startTcpStream } from '../../src/lab/long-flows.js';
import { deletePolicies, matchLabels as sel, netpolLab, networkPolicy as np, type NetpolLab, type NetpolPod } from '../../src/lab/netpol/fixture.js';
import { expectReachability, type Target } from '../../src/lab/netpol/truth-table.js';

type Spec = Record<string, unknown>;
/** A Service per backend pod: namespace/pod -> Service named after the pod, TCP and UDP 80 to the named ports. */
const svc = (id: string) => {
  const [namespace, name] = id.split('/') as [string, string];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${name}`, namespace },
    spec: { selector: { pod: name }, ports: [{ name: 'tcp', port: 80, targetPort: 'serve-80-tcp', protocol: 'TCP' }, { name: 'udp', port: 80, targetPort: 'serve-80-udp', protocol: 'UDP' }] },
  };
};
const BACKENDS = ['x/a', 'y/a', 'y/b', 'z/a', 'z/b'];

for (const mode of ['native', 'vxlan'] as const) {
  describe(`NetworkPolicy under traffic, ${mode} mode`, () => {
    let kubectl: Kubectl;
    let pods: Map<string, NetpolPod>;
    let setup: NetpolLab | undefined;
    const services = new Map<string, Target>();
    const pod = (id: string) => pods.get(id)!;
    const apply = (...items: Spec[]) => setup!.apply(...items);
    const service = (id: string) => services.get(id)!;

    beforeAll(async () => {
      setup = await netpolLab({ mode, proxyMode: 'iptables', tag: 'nt' });
      ({ kubectl, pods } = setup);
      try {
        await apply(...BACKENDS.map(svc));
        for (const id of BACKENDS) {
          const [ns, name] = id.split('/') as [string, string];
          const ip = (await kubectl(['get', 'service', '-n', ns, `svc-${name}`, '-o', 'jsonpath={.spec.clusterIP}'])).trim();
          services.set(id, { ...pod(id), id: `svc ${id}`, ip, backend: id });
        }
        // kube-proxy programs the rules once the slices exist: every Service answers the fixture pods
        // that back none of them (a backend reaching itself through its Service is masqueraded: hairpin).
        const clients = ['x/b', 'x/c', 'y/c', 'z/c'].map(pod);
        await expectReachability({ proto: 'tcp', port: 80, sources: clients, targets: [...services.values()] }, () => true, { deadlineMs: 90_000, what: 'Services ready' });
      } catch (e) {
        await setup.down(); // a failed setup leaves nothing behind, whatever afterAll does
        setup = undefined;
        throw e;
      }
    }, 400_000);

    afterAll(async () => {
      await setup?.down();
    }, 60_000);

    beforeEach(async () => {
      await deletePolicies(kubectl);
    });

    it('ingress through a ClusterIP: the isolated backend admits ns y and refuses ns z, clients on its node and on the other node, TCP and UDP', async () => {
      const target = pod('x/a');
      const clients = ['y/a', 'y/b', 'z/a', 'z/b'].map(pod);
      // one allowed and one refused client on each node
      for (const ns of ['y', 'z']) expect(new Set(clients.filter((c) => c.namespace === ns).map((c) => c.node === target.node))).toEqual(new Set([true, false]));
      await apply(np('x', 'svc-in', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }] }] }));
      for (const proto of ['tcp', 'udp'] as const) {
        await expectReachability({ proto, port: 80, sources: clients, targets: [service('x/a'), target] }, (f) => f.namespace === 'y', { what: `${mode}: Service ingress` });
      }
    });

    it('egress through a ClusterIP: the isolated client reaches the Services whose backend is in ns y, not those in ns z, backends on its node and on the other node, TCP and UDP', async () => {
      const client = pod('x/b');
      const targets = ['y/a', 'y/b', 'z/a', 'z/b'].map(service);
      for (const ns of ['y', 'z']) expect(new Set(targets.filter((t) => t.namespace === ns).map((t) => t.node === client.node))).toEqual(new Set([true, false]));
      await apply(np('x', 'svc-eg', { podSelector: sel({ pod: 'b' }), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: sel({ ns: 'y' }) }] }] }));
      for (const proto of ['tcp', 'udp'] as const) {
        await expectReachability({ proto, port: 80, sources: [client, pod('x/c')], targets }, (f, t) => f.id !== 'x/b' || t.namespace === 'y', { what: `${mode}: Service egress` });
      }
    });

    // The stream x/b (one node) -> x/a (the other) and a ping beside it. `isolatedFirst`: x/a is
    // already isolated (by a policy admitting x/b) when they start, so their first packets are
    // judged and tracked; otherwise they start unpoliced and the admitting policy arrives mid-stream.
    async function streamScenario(isolatedFirst: boolean): Promise<void> {
      const server = pod('x/a');
      const client = pod('x/b');
      const outsider = pod('y/a');
      expect(server.node).not.toBe(client.node);
      const admit = np('x', 'stream', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ podSelector: {} }] }] });
      const admitted = () => expectReachability({ proto: 'tcp', port: 80, sources: [client, outsider], targets: [server] }, (f) => f.namespace === 'x', { what: 'admitting policy enforced' });
      if (isolatedFirst) {
        await apply(admit);
        await admitted();
      }
      const stream = await startTcpStream({ netns: server.netnsPath, ip: server.ip }, client.netnsPath, { maxSeconds: 90 });
      const ping = startPing(client.netnsPath, server.ip, { intervalS: 0.1, maxSeconds: 90 });
      try {
        const tStart = Date.now();
        await sleep(1500);
        const t0 = isolatedFirst ? tStart + 200 : Date.now();
        // 1. admit: x/a isolated, ingress only from its own namespace — the stream's client is in it
        if (!isolatedFirst) {
          await apply(admit);
          await admitted();
        }
        await sleep(2000);
        const t1 = Date.now();
        const seqs = ping.replies().filter(([t]) => t >= t0 && t <= t1 - 1000).map(([, s]) => s);
        expect(seqs.length).toBeGreaterThan(10);
        expect({ clientEnd: stream.clientEnd(), stallUnder1s: longestStall(stream.received(), t0, t1) < 1000, echoesLost: Math.max(...seqs) - Math.min(...seqs) + 1 - seqs.length })
          .toEqual({ clientEnd: undefined, stallUnder1s: true, echoesLost: 0 });

        // 2. deny: the same policy updated to admit only ns y — the established flows are re-judged and cut
        await apply(np('x', 'stream', { podSelector: sel({ pod: 'a' }), ingress: [{ from: [{ namespaceSelector: sel({ ns: 'y' }) }] }] }));
        await expectReachability({ proto: 'tcp', port: 80, sources: [client, outsider], targets: [server] }, (f) => f.namespace === 'y', { what: 'denying policy enforced' });
        const t2 = Date.now();
        await sleep(2500);
        const t3 = Date.now();
        expect({ streamBytesAfterDeny: bytesBetween(stream.received(), t2 + 500, t3), echoRepliesAfterDeny: ping.replies().filter(([t]) => t > t2 + 500).length })
          .toEqual({ streamBytesAfterDeny: 0, echoRepliesAfterDeny: 0 });

        // 3. delete: the very same connection resumes (TCP retransmits), the ping answers again
        await deletePolicies(kubectl);
        const deadline = Date.now() + 20_000;
        while ((bytesBetween(stream.received(), t3, Date.now()) === 0 || !ping.replies().some(([t]) => t > t3)) && Date.now() < deadline) await sleep(200);
        expect({ resumedBytes: bytesBetween(stream.received(), t3, Date.now()) > 0, clientEnd: stream.clientEnd(), echoAgain: ping.replies().some(([t]) => t > t3) })
          .toEqual({ resumedBytes: true, clientEnd: undefined, echoAgain: true });
      } finally {
        stream.stop();
        ping.stop();
      }
    }

    it('a TCP stream and a ping that started under an admitting policy: updated to deny, they are cut; deleted, the same connection resumes', async () => {
      await streamScenario(true);
    }, 120_000);

    it('a TCP stream and a ping running before any policy: an admitting policy keeps them with no loss, a denying one cuts them, deleting it lets them resume', async () => {
      await streamScenario(false);
    }, 120_000);
  });
}
