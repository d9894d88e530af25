// Pod bandwidth limits across nodes (issue 11), in both cross-node modes: a Pod with the
// kubernetes.io/{ingress,egress}-bandwidth annotations, wired by the lab kubelet through the agent's
// conflist (podwire declares the bandwidth capability), limited on the paths the same-node test
// (test/cni/bandwidth.test.ts) cannot reach: to and from a pod on the other node, natively routed or
// tunnelled, and to its own node's address. Rates in the limit's unit (see test/cni/bandwidth.test.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/cluster.js';
import { iperfTcp, iperfUdp } from '../../src/lab/traffic.js';
import type { LabPodState } from '../../src/lab/state.js';

const SECONDS = Number(process.env['PW_BW_SECONDS'] ?? 10);
const RATE = 10_000_000;
const TOL = 0.05;
const TCP_L3 = 1; // GSO: headers once, goodput is the limit's unit within 0.5 % (test/cni/bandwidth.test.ts)
const UDP_L3 = 1428 / 1400;

for (const mode of ['native', 'vxlan'] as const) {
  describe(`2-node lab, ${mode} mode: a pod limited to ${RATE / 1e6} Mbit/s each way`, () => {
    let lab: Lab;
    let tmp: string;
    let limited: LabPodState;
    let remote: LabPodState;
    const results: string[] = [];

    beforeAll(async () => {
      tmp = await mkdtemp(join(tmpdir(), `pwlab-bw-${mode}-`));
      lab = await Lab.up({ nodes: 2, podsPerNode: 0, mode, proxyMode: 'none', statePath: join(tmp, 'lab.json'), dir: join(tmp, 'lab'), name: `bw${mode.slice(0, 1)}${Math.random().toString(16).slice(2, 6)}` });
      const [n0, n1] = lab.state.nodes;
      limited = await lab.addPod(n0!.name, 'limited', { annotations: { 'kubernetes.io/ingress-bandwidth': '10M', 'kubernetes.io/egress-bandwidth': '10M' } });
      remote = await lab.addPod(n1!.name, 'remote');
    }, 240_000);

    afterAll(async () => {
      if (results.length) console.log(`bandwidth, ${mode} (${SECONDS} s each):\n  ${results.join('\n  ')}`);
      await lab?.down();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    }, 60_000);

    const check = (what: string, goodput: number, l3: number, lo: number): void => {
      const bps = goodput * l3;
      results.push(`${what}: ${(bps / 1e6).toFixed(2)} Mbit/s = ${((bps / RATE) * 100).toFixed(1)}% of the limit`);
      expect(bps, what).toBeGreaterThanOrEqual(RATE * lo);
      expect(bps, what).toBeLessThanOrEqual(RATE * (1 + TOL));
    };

    it('TCP to and from the pod on the other node, and to its own node, within ±5%; UDP floods both ways at most +5%', async () => {
      const n0 = lab.state.nodes[0]!;
      let port = 5700;
      const e = await iperfTcp(remote.netnsPath, remote.ip, limited.netnsPath, { seconds: SECONDS, port: port++ });
      check(`TCP egress to the other node's pod (${e.retransmits} retransmits)`, e.gbps * 1e9, TCP_L3, 1 - TOL);
      const i = await iperfTcp(limited.netnsPath, limited.ip, remote.netnsPath, { seconds: SECONDS, port: port++ });
      check(`TCP ingress from the other node's pod (${i.retransmits} retransmits)`, i.gbps * 1e9, TCP_L3, 1 - TOL);
      const nd = await iperfTcp(n0.netnsPath, n0.underlayIp, limited.netnsPath, { seconds: SECONDS, port: port++ });
      check(`TCP egress to its node ${n0.underlayIp} (${nd.retransmits} retransmits)`, nd.gbps * 1e9, TCP_L3, 1 - TOL);
      const ue = await iperfUdp(remote.netnsPath, remote.ip, limited.netnsPath, { seconds: SECONDS, port: port++, offeredBps: RATE * 2 });
      check('UDP flood egress to the other node (offered 2x)', ue.receivedBps, UDP_L3, 0.5);
      const ui = await iperfUdp(limited.netnsPath, limited.ip, remote.netnsPath, { seconds: SECONDS, port: port++, offeredBps: RATE * 2 });
      check('UDP flood ingress from the other node (offered 2x)', ui.receivedBps, UDP_L3, 0.5);
    }, 8 * SECONDS * 1000 + 60_000);
  });
}
