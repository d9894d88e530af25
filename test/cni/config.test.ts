// The pure parts of the plugin: config validation, CNI_ARGS/env parsing, version gating,
// result shaping and merging. (The binary-level behaviour is in the other test files.)
import { enums } from '../../src/maps/generated/layouts.js';
import { describe, expect, it } from 'vitest';
import { isPodwireError, type PodwireError } from '../../src/errors/index.js';
import { decodeConfig, parseNetConf } from '../../src/cni/config.js';
import { parseCniArgs, readEnv } from '../../src/cni/env.js';
import { toCniError } from '../../src/cni/errors.js';
import { mergeResults, readResult, shapeResult, type CniResult } from '../../src/cni/result.js';
import { requestVersion } from '../../src/cni/version.js';
import { hostVethName } from '../../src/cni/names.js';
import { GSO_MAX_BYTES, shapePlan, planFromConfig, endpointFlags, limitsFromPlan } from '../../src/maps/bandwidth.js';

function thrown(f: () => unknown): PodwireError {
  try {
    f();
  } catch (e) {
    if (isPodwireError(e)) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('network config', () => {
  const base = { cniVersion: '1.1.0', name: 'n', type: 'podwire', podCIDR: '10.244.1.0/24' };

  it('applies defaults and accepts the standard keys', () => {
    const c = parseNetConf({ ...base, capabilities: { portMappings: true }, runtimeConfig: {}, args: {}, dns: {}, futureKey: 1 }, 'ADD');
    expect(c).toMatchObject({ pinDir: '/sys/fs/bpf/podwire', stateDir: '/var/lib/podwire', mtu: 1500, podCIDR: { text: '10.244.1.0/24', prefix: 24 } });
  });

  it('runtimeConfig.bandwidth: rates and bursts as CNI defines them, absent or zero rates mean no limit, bad values name the key', () => {
    const bw = (bandwidth: unknown) => parseNetConf({ ...base, runtimeConfig: { bandwidth } }, 'ADD').bandwidth;
    expect(bw({ egressRate: 10_000_000, egressBurst: 4294967295 })).toEqual({ ingressRate: 0, ingressBurst: 0, egressRate: 10_000_000, egressBurst: 4294967295 });
    expect(bw({ ingressRate: 0, egressRate: 0 })).toBeUndefined();
    expect(bw(undefined)).toBeUndefined();
    expect(parseNetConf({ ...base, runtimeConfig: { bandwidth: { egressRate: 5000 } } }, 'DEL').bandwidth).toBeUndefined(); // only ADD applies limits
    expect(thrown(() => bw({ egressRate: -1 })).message).toBe('runtimeConfig.bandwidth.egressRate -1 must be an integer from 0 to 1000000000000000 (bit/s, 0 = no limit)');
    expect(thrown(() => bw({ ingressRate: 10, ingressBurst: 0 })).message).toMatch(/ingressRate 10 is below 1000 bit\/s/);
    expect(thrown(() => bw({ ingressBurst: 'big' })).message).toMatch(/ingressBurst "big" must be an integer .*4294967295 or 0 = podwire picks/);
    expect(thrown(() => bw([1])).code).toBe('CONFIG_INVALID');
  });

  it('bandwidth plan: containerd\'s unset burst (2^32-1) and 0 pick 10 ms, an explicit burst is kept, the policer covers burst + queue + 2 GSO packets', () => {
    const unset = shapePlan(10_000_000, 4294967295, 1500);
    expect(unset).toEqual(shapePlan(10_000_000, 0, 1500));
    expect(unset.shaperBurstBytes).toBe(16 * 1500); // 10 ms at 10M is 12,500 bytes: the 16-packet floor wins
    expect(shapePlan(1e9, 4294967295, 1500).shaperBurstBytes).toBe(1_250_000); // 10 ms at 1G
    expect(shapePlan(10_000_000, 8_000_000, 1500).shaperBurstBytes).toBe(1_000_000); // explicit: 8 Mbit = 1 MB
    expect(unset.shaperQueueBytes).toBe(8 * GSO_MAX_BYTES + 16 * 1500);
    expect(unset.policerBurstBits).toBe((unset.shaperBurstBytes + unset.shaperQueueBytes + 2 * GSO_MAX_BYTES) * 8);
    const plan = planFromConfig({ ingressRate: 0, ingressBurst: 0, egressRate: 10_000_000, egressBurst: 4294967295 }, 1500);
    expect(plan.ingress).toBeUndefined();
    const l = limitsFromPlan('10.244.1.5', plan);
    expect(l).toEqual({ ip: '10.244.1.5', egress: { rateBps: 10_000_000, burstBits: unset.policerBurstBits } });
    expect(endpointFlags(l)).toBe(enums.pw_ep_flag.values.EGRESS);
    expect(endpointFlags(undefined)).toBe(0);
  });

  it('names the key, the value and the fix', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ podCIDR: 42 }, /podCIDR 42 must be a string/],
      [{ podCIDR: '10.244.1.0/31' }, /prefix \/31; use a prefix between \/8 and \/30/],
      [{ podCIDR: 'fd00::/64' }, /podCIDR "fd00::\/64" has an invalid IPv4 address/],
      [{ mtu: 100 }, /mtu 100 must be an integer from 576 to 65535/],
      [{ mtu: '1500' }, /mtu "1500"/],
      [{ pinDir: 'relative/dir' }, /pinDir "relative\/dir" must be an absolute path/],
      [{ StateDir: '/x' }, /did you mean "stateDir"/],
    ];
    for (const [extra, msg] of cases) {
      const e = thrown(() => parseNetConf({ ...base, ...extra }, 'ADD'));
      expect(e.code).toBe('CONFIG_INVALID');
      expect(e.message).toMatch(msg);
    }
  });

  it('GC needs the valid-attachments list and checks its entries', () => {
    expect(thrown(() => parseNetConf(base, 'GC')).message).toMatch(/cni\.dev\/valid-attachments must be an array/);
    expect(thrown(() => parseNetConf({ ...base, 'cni.dev/valid-attachments': [{ containerID: 'a' }] }, 'GC')).message).toMatch(/\[0\]/);
    expect(parseNetConf({ ...base, 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }, 'GC').validAttachments).toEqual([
      { containerID: 'a', ifname: 'eth0' },
    ]);
  });

  it('decoding failures are code 6', () => {
    expect(toCniError(thrown(() => decodeConfig('{')), '1.1.0').code).toBe(6);
    expect(toCniError(thrown(() => decodeConfig('[]')), '1.1.0').code).toBe(6);
    expect(toCniError(thrown(() => decodeConfig('')), '1.1.0').code).toBe(6);
  });
});

describe('versions', () => {
  it('accepts the supported versions and gates CHECK/STATUS/GC', () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) expect(requestVersion({ cniVersion: v }, 'ADD')).toBe(v);
    expect(thrown(() => requestVersion({ cniVersion: '0.2.0' }, 'ADD')).code).toBe('VERSION_INCOMPATIBLE');
    expect(thrown(() => requestVersion({}, 'DEL')).message).toMatch(/no cniVersion/);
    expect(thrown(() => requestVersion({ cniVersion: '0.3.1' }, 'CHECK')).message).toMatch(/does not allow CHECK/);
    expect(requestVersion({ cniVersion: '0.4.0' }, 'CHECK')).toBe('0.4.0');
    expect(thrown(() => requestVersion({ cniVersion: '1.0.0' }, 'GC')).code).toBe('VERSION_INCOMPATIBLE');
  });
});

describe('environment', () => {
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0' };

  it('keeps the Kubernetes pod identity from CNI_ARGS', () => {
    expect(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1;')).toEqual({
      podNamespace: 'default',
      podName: 'web-0',
      infraContainerId: 'abc',
      podUid: 'u-1',
    });
    expect(thrown(() => parseCniArgs('IgnoreUnknown')).code).toBe('ENV_INVALID');
  });

  it('names invalid variables (code 4)', () => {
    expect(thrown(() => readEnv({ ...env, CNI_CONTAINERID: '-bad' })).message).toMatch(/CNI_CONTAINERID/);
    expect(thrown(() => readEnv({ ...env, CNI_IFNAME: 'much-too-long-name0' })).message).toMatch(/CNI_IFNAME.*15 bytes/);
    expect(thrown(() => readEnv({ ...env, CNI_IFNAME: 'a/b' })).code).toBe('ENV_INVALID');
    // DEL needs no netns; VERSION needs nothing
    expect(readEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0' }).netns).toBe('');
    expect(readEnv({ CNI_COMMAND: 'VERSION', CNI_IFNAME: 'dummy' }).command).toBe('VERSION');
  });
});

describe('results', () => {
  const ours: CniResult = {
    interfaces: [{ name: 'pwabc', mac: '02:00:00:00:00:01', mtu: 1500 }, { name: 'eth0', mac: '02:00:00:00:00:02', mtu: 1500, sandbox: '/run/netns/p' }],
    ips: [{ address: '10.0.0.5/32', gateway: '169.254.1.1', interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }],
    dns: {},
  };

  it('shapes per version', () => {
    const v031 = shapeResult(ours, '0.3.1') as any;
    expect(v031.ips[0]).toEqual({ version: '4', address: '10.0.0.5/32', gateway: '169.254.1.1', interface: 1 });
    expect(v031.interfaces[1]).toEqual({ name: 'eth0', mac: '02:00:00:00:00:02', sandbox: '/run/netns/p' });
    const v100 = shapeResult(ours, '1.0.0') as any;
    expect(v100.ips[0].version).toBeUndefined();
    expect(v100.interfaces[1].mtu).toBeUndefined();
    expect((shapeResult(ours, '1.1.0') as any).interfaces[1].mtu).toBe(1500);
  });

  it('reads an older prevResult and appends ours with re-based interface indexes', () => {
    const prev = readResult({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'net1', sandbox: '/run/netns/p' }],
      ips: [{ version: '4', address: '192.168.0.2/24', interface: 0 }],
      dns: { nameservers: ['10.96.0.10'] },
    });
    const merged = mergeResults(prev, ours);
    expect(merged.interfaces.map((i) => i.name)).toEqual(['net1', 'pwabc', 'eth0']);
    expect(merged.ips.map((i) => i.interface)).toEqual([0, 2]);
    expect(merged.ips[0]).not.toHaveProperty('version');
    expect(merged.dns.nameservers).toEqual(['10.96.0.10']);
  });

  it('host veth names are deterministic, short, and per attachment', () => {
    expect(hostVethName('abc', 'eth0')).toBe(hostVethName('abc', 'eth0'));
    expect(hostVethName('abc', 'eth0')).not.toBe(hostVethName('abc', 'eth1'));
    expect(hostVethName('abc', 'eth0')).toMatch(/^pw[0-9a-f]{11}$/);
  });
});
