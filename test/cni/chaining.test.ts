// podwire as the first plugin of a conflist: Debian's reference plugins (portmap, tuning,
// bandwidth) take our result as prevResult, run their ADD, and pass it on; DEL runs in
// reverse. This is what a runtime does with a conflist, step by step.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerId, createHarness, type Harness } from './harness.js';
import { execCni } from '../../src/lab/cni-exec.js';
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

  it('bandwidth: ingress shaping works next to our clsact; egress shaping conflicts with it', async () => {
    const pod = await h.pod();
    const id = containerId();
    const add = await h.cni('ADD', { containerId: id, netns: pod.path, cniVersion: '1.0.0' });
    expect(add.exitCode, add.stdout).toBe(0);
    const host = (add.json as Json)['interfaces'][0].name as string;

    // Ingress (to the pod) is a TBF root qdisc on the host veth: independent of clsact.
    const inConf = chained('bandwidth', '1.0.0', add.json, {}, { bandwidth: { ingressRate: 1_000_000, ingressBurst: 100_000 } });
    const bwIn = await plugin('bandwidth', 'ADD', id, pod, inConf);
    expect(bwIn.exitCode, bwIn.stdout + bwIn.stderr).toBe(0);
    const qdiscs = (await h.node.exec('tc', ['qdisc', 'show', 'dev', host])).stdout;
    expect(qdiscs).toContain('tbf');
    expect(qdiscs).toContain('clsact');
    const check = await h.cni('CHECK', { containerId: id, netns: pod.path, cniVersion: '1.0.0', extra: { prevResult: bwIn.json } });
    expect(check.exitCode, check.stdout).toBe(0);
    expect((await plugin('bandwidth', 'DEL', id, pod, inConf)).exitCode).toBe(0);

    // Egress (from the pod) needs an `ingress` qdisc on the host veth to mirror into an ifb;
    // clsact already owns that hook (ffff:), so the kernel refuses and bandwidth reports it.
    const outConf = chained('bandwidth', '1.0.0', add.json, {}, { bandwidth: { egressRate: 1_000_000, egressBurst: 100_000 } });
    const bwOut = await plugin('bandwidth', 'ADD', id, pod, outConf);
    expect(bwOut.exitCode).not.toBe(0);
    expect(bwOut.json?.['msg']).toMatch(/ingress qdisc: file exists/i);
    await plugin('bandwidth', 'DEL', id, pod, outConf);
    // our program is still attached and the pod still checks out
    const after = await h.cni('CHECK', { containerId: id, netns: pod.path, cniVersion: '1.0.0', extra: { prevResult: add.json } });
    expect(after.exitCode, after.stdout).toBe(0);
    expect((await h.cni('DEL', { containerId: id, netns: pod.path, cniVersion: '1.0.0' })).exitCode).toBe(0);
  });
});
