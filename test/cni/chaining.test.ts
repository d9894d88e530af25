// podwire as the first plugin of a conflist: Debian's reference plugins (portmap, tuning,
// bandwidth) take our result as prevResult, run their ADD, and pass it on; DEL runs in
// reverse. This is what a runtime does with a conflist, step by step. podwire attaches with a
// tcx link and owns no qdisc, so bandwidth's ingress qdisc + ifb fit on the same host veth.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerId, createHarness, type Harness } from './harness.js';
import { execCni } from '../../src/lab/cni-exec.js';
import { iperfTcp, ping } from '../../src/lab/traffic.js';
import { attachedProgramId, linkPin, pinnedProgramId } from '../../src/loader/index.js';
import type { Netns } from '../../src/netns/index.js';

let h: Harness;

beforeAll(async () => {
  for (const p of ['portmap', 'tuning', 'bandwidth']) {
    if (!existsSync(`/usr/lib/cni/${p}`)) throw new Error(`/usr/lib/cni/${p} is missing: install containernetworking-plugins`);
  }
  h = await createHarness({ podCIDR: '10.204.0.0/24' });
});

afterAll(async () => {
  await h?.destroy();
});

type Json = Record<string, any>;

function chained(type: string, version: string, prevResult: unknown, extra: Record<string, unknown>, runtimeConfig?: unknown): Record<string, unknown> {
  return { cniVersion: version, name: 'podwire-test', type, ...extra, ...(runtimeConfig ? { runtimeConfig } : {}), prevResult };
}

async function ifbDevices(): Promise<string[]> {
  const r = await h.node.exec('ip', ['-j', 'link', 'show', 'type', 'ifb']);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname).sort() : [];
}

async function plugin(type: string, command: 'ADD' | 'DEL', id: string, pod: Netns, conf: Record<string, unknown>) {
  return execCni({
    plugin: `/usr/lib/cni/${type}`,
    command,
    containerId: id,
    netns: pod.path,
    ifname: 'eth0',
    args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=chain',
    path: ['/usr/lib/cni'],
    config: conf,
    nodeNetns: h.node.path,
  });
}

describe('chained after podwire', () => {
  for (const version of ['0.4.0', '1.0.0']) {
    it(`portmap and tuning accept our result (cniVersion ${version})`, async () => {
      const pod = await h.pod();
      const id = containerId();
      const add = await h.cni('ADD', { containerId: id, netns: pod.path, cniVersion: version });
      expect(add.exitCode, add.stdout).toBe(0);

      const pmConf = chained('portmap', version, add.json, { capabilities: { portMappings: true }, snat: true }, {
        portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }],
      });
      const pm = await plugin('portmap', 'ADD', id, pod, pmConf);
      expect(pm.exitCode, pm.stdout + pm.stderr).toBe(0);
      // a chained plugin passes the result through: same interfaces and ips
      expect((pm.json as Json)['ips']).toEqual((add.json as Json)['ips']);
      const podIp = ((add.json as Json)['ips'][0].address as string).replace('/32', '');
      const nat = await h.node.exec('iptables-save', ['-t', 'nat']);
      expect(nat.stdout).toContain(`${podIp}:80`);

      const tuConf = chained('tuning', version, pm.json, { sysctl: { 'net.ipv4.conf.eth0.rp_filter': '0' }, mtu: 1400 });
      const tu = await plugin('tuning', 'ADD', id, pod, tuConf);
      expect(tu.exitCode, tu.stdout + tu.stderr).toBe(0);
      expect((await pod.exec('cat', ['/proc/sys/net/ipv4/conf/eth0/rp_filter'])).stdout.trim()).toBe('0');
      expect((await pod.exec('ip', ['-j', 'link', 'show', 'eth0'])).stdout).toContain('"mtu":1400');

      // CHECK after the chain still passes against the final result
      const check = await h.cni('CHECK', { containerId: id, netns: pod.path, cniVersion: version, extra: { prevResult: tu.json } });
      expect(check.exitCode, check.stdout).toBe(0);

      // DEL in reverse order
      expect((await plugin('tuning', 'DEL', id, pod, tuConf)).exitCode).toBe(0);
      expect((await plugin('portmap', 'DEL', id, pod, pmConf)).exitCode).toBe(0);
      expect((await h.cni('DEL', { containerId: id, netns: pod.path, cniVersion: version, extra: { prevResult: tu.json } })).exitCode).toBe(0);
      expect((await h.node.exec('iptables-save', ['-t', 'nat'])).stdout).not.toContain(`${podIp}:80`);
      expect(h.records()).toEqual([]);
    });
  }

  it('bandwidth with ingressRate and egressRate chains after podwire on the host veth (tcx needs no qdisc)', async () => {
    const [a, b] = [await h.pod(), await h.pod()];
    const [ida, idb] = [containerId(), containerId()];
    const addA = await h.cni('ADD', { containerId: ida, netns: a.path, cniVersion: '1.0.0' });
    const addB = await h.cni('ADD', { containerId: idb, netns: b.path, cniVersion: '1.0.0' });
    expect(addA.exitCode, addA.stdout).toBe(0);
    expect(addB.exitCode, addB.stdout).toBe(0);
    const host = (addA.json as Json)['interfaces'][0].name as string;
    const ipA = ((addA.json as Json)['ips'][0].address as string).replace('/32', '');
    const ipB = ((addB.json as Json)['ips'][0].address as string).replace('/32', '');
    const ifbsBefore = await ifbDevices();

    // 8 Mbit/s each way: ingress (to the pod) = TBF root qdisc on the host veth; egress (from
    // the pod) = an `ingress` qdisc on the host veth mirroring into an ifb device with a TBF.
    // Before tcx, our clsact qdisc owned ffff: and this ADD failed with "file exists".
    const RATE = 8_000_000;
    const bwConf = chained('bandwidth', '1.0.0', addA.json, {}, { bandwidth: { ingressRate: RATE, ingressBurst: 200_000, egressRate: RATE, egressBurst: 200_000 } });
    const bw = await plugin('bandwidth', 'ADD', ida, a, bwConf);
    expect(bw.exitCode, bw.stdout + bw.stderr).toBe(0);
    const qdiscs = (await h.node.exec('tc', ['qdisc', 'show', 'dev', host])).stdout;
    expect(qdiscs).toContain('tbf');
    expect(qdiscs).toMatch(/qdisc ingress ffff:/);
    expect(qdiscs).not.toContain('clsact');
    const ifbs = (await ifbDevices()).filter((d) => !ifbsBefore.includes(d));
    expect(ifbs).toHaveLength(1);
    expect((await h.node.exec('tc', ['qdisc', 'show', 'dev', ifbs[0]!])).stdout).toContain('tbf');
    expect((await h.node.exec('tc', ['filter', 'show', 'dev', host, 'parent', 'ffff:'])).stdout).toContain(`mirred (Egress Redirect to device ${ifbs[0]})`);

    // our program is still the one on the host veth, and the pod checks out after the chain
    expect(await attachedProgramId(host, { netns: h.node.path })).toBe(await pinnedProgramId(h.pinDir));
    const check = await h.cni('CHECK', { containerId: ida, netns: a.path, cniVersion: '1.0.0', extra: { prevResult: bw.json } });
    expect(check.exitCode, check.stdout).toBe(0);

    // traffic still flows: pod to pod (redirect_peer, bypasses the host veth's qdiscs), and pod
    // to a node address (through the node's stack, where the shaping applies)
    const nodeIp = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}.1`;
    await h.node.exec('ip', ['link', 'set', 'lo', 'up']);
    await h.node.exec('ip', ['addr', 'add', `${nodeIp}/32`, 'dev', 'lo']);
    const p2p = await ping(a.path, ipB, { count: 3, intervalS: 0.2 });
    expect(p2p.received).toBe(3);
    const p2n = await ping(a.path, nodeIp, { count: 3, intervalS: 0.2 });
    expect(p2n.received).toBe(3);
    const podToPod = await iperfTcp(b.path, ipB, a.path, { seconds: 2, port: 5301 });
    const podToNode = await iperfTcp(h.node.path, nodeIp, a.path, { seconds: 2, port: 5302 });
    const nodeToPod = await iperfTcp(a.path, ipA, h.node.path, { seconds: 2, port: 5303 });
    console.log(
      `bandwidth ${RATE / 1e6} Mbit/s each way on ${host}: pod→pod ${(podToPod.gbps * 1000).toFixed(1)} Mbit/s (redirect_peer, not shaped), ` +
        `pod→node ${(podToNode.gbps * 1000).toFixed(1)} Mbit/s (egressRate), node→pod ${(nodeToPod.gbps * 1000).toFixed(1)} Mbit/s (ingressRate)`,
    );
    // the node's stack → pod direction goes through the host veth's root TBF
    expect(nodeToPod.gbps * 1e9).toBeLessThan(RATE * 1.5);
    // pod → node is handed to the stack with TC_ACT_UNSPEC, so bandwidth's mirror to its ifb
    // (egressRate) still runs after our tcx program
    expect(podToNode.gbps * 1e9).toBeLessThan(RATE * 1.5);
    // pod → pod never meets the host veth's qdiscs: bpf_redirect_peer goes straight into the peer
    expect(podToPod.gbps * 1e9).toBeGreaterThan(RATE * 5);

    // DEL in reverse order: bandwidth removes its ifb (the qdiscs on the host veth go with the
    // veth, which podwire's DEL deletes), podwire the veth, its link pin and the rest
    expect((await plugin('bandwidth', 'DEL', ida, a, bwConf)).exitCode).toBe(0);
    expect(await ifbDevices()).toEqual(ifbsBefore);
    expect((await h.cni('DEL', { containerId: ida, netns: a.path, cniVersion: '1.0.0', extra: { prevResult: bw.json } })).exitCode).toBe(0);
    expect(await h.hostVeths()).not.toContain(host);
    expect((await h.cni('DEL', { containerId: idb, netns: b.path, cniVersion: '1.0.0' })).exitCode).toBe(0);
    expect(existsSync(linkPin(h.pinDir, host))).toBe(false);
    expect(h.records()).toEqual([]);
  }, 60_000);

  it('bandwidth chained after podwire when both get runtimeConfig.bandwidth: no error either way, and the pod-to-pod limit holds (podwire)', async () => {
    const [a, b] = [await h.pod(), await h.pod()];
    const [ida, idb] = [containerId(), containerId()];
    const RATE = 8_000_000;
    const runtimeConfig = { bandwidth: { ingressRate: RATE, ingressBurst: 4294967295, egressRate: RATE, egressBurst: 4294967295 } };
    const addA = await h.cni('ADD', { containerId: ida, netns: a.path, cniVersion: '1.0.0', extra: { runtimeConfig } });
    const addB = await h.cni('ADD', { containerId: idb, netns: b.path, cniVersion: '1.0.0' });
    expect(addA.exitCode, addA.stdout).toBe(0);
    expect(addB.exitCode, addB.stdout).toBe(0);
    const ipB = ((addB.json as Json)['ips'][0].address as string).replace('/32', '');
    const bwConf = chained('bandwidth', '1.0.0', addA.json, { capabilities: { bandwidth: true } }, runtimeConfig);
    const bw = await plugin('bandwidth', 'ADD', ida, a, bwConf);
    expect(bw.exitCode, bw.stdout + bw.stderr).toBe(0);
    // podwire's shapers are in the pod, the plugin's on the host veth: both present
    expect((await a.exec('tc', ['qdisc', 'show', 'dev', 'eth0'])).stdout).toContain('htb');
    const host = (addA.json as Json)['interfaces'][0].name as string;
    expect((await h.node.exec('tc', ['qdisc', 'show', 'dev', host])).stdout).toContain('tbf');
    const check = await h.cni('CHECK', { containerId: ida, netns: a.path, cniVersion: '1.0.0', extra: { prevResult: bw.json } });
    expect(check.exitCode, check.stdout).toBe(0);
    // pod → pod (redirect_peer, past the plugin's qdiscs) is limited by podwire now
    const podToPod = await iperfTcp(b.path, ipB, a.path, { seconds: 3, port: 5311 });
    console.log(`bandwidth chained + podwire limits at ${RATE / 1e6} Mbit/s: pod→pod ${(podToPod.gbps * 1000).toFixed(2)} Mbit/s`);
    expect(podToPod.gbps * 1e9).toBeLessThan(RATE * 1.1);
    expect((await plugin('bandwidth', 'DEL', ida, a, bwConf)).exitCode).toBe(0);
    expect((await h.cni('DEL', { containerId: ida, netns: a.path, cniVersion: '1.0.0', extra: { prevResult: bw.json, runtimeConfig } })).exitCode).toBe(0);
    expect((await h.cni('DEL', { containerId: idb, netns: b.path, cniVersion: '1.0.0' })).exitCode).toBe(0);
    expect(h.records()).toEqual([]);
  }, 60_000);
});
