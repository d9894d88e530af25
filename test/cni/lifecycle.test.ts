// The plugin's commands end to end through the real binary: VERSION, result shapes per
// requested version, CHECK (pass, then catch a removed address), DEL (twice, and after the
// pod's netns is gone), GC against cni.dev/valid-attachments, STATUS with and without a
// datapath, ADD without a datapath.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerId, createHarness, podView, type Harness } from './harness.js';
import { attachedProgramId, linkPin, pinnedProgramId, pinPaths, tcxDetach } from '../../src/loader/index.js';
import { openEndpoints } from '../../src/maps/index.js';

let h: Harness;
let bare: Harness; // no datapath loaded

beforeAll(async () => {
  [h, bare] = await Promise.all([createHarness({ podCIDR: '10.202.0.0/24' }), createHarness({ noDatapath: true })]);
});

afterAll(async () => {
  await Promise.all([h?.destroy(), bare?.destroy()]);
});

type Json = Record<string, any>;

describe('VERSION', () => {
  it('answers with the asked version and the supported list, ignoring placeholder env', async () => {
    const r = await h.cni('VERSION', { config: '{"cniVersion":"1.0.0"}', netns: '/run/netns/whatever', ifname: 'dummy' });
    expect(r.exitCode).toBe(0);
    expect(r.json).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    const none = await h.cni('VERSION', { config: '' });
    expect(none.json?.['cniVersion']).toBe('1.1.0');
  });
});

describe('ADD result shapes', () => {
  for (const version of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
    it(`cniVersion ${version}`, async () => {
      const pod = await h.pod();
      const id = containerId();
      const r = await h.cni('ADD', { containerId: id, netns: pod.path, cniVersion: version });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const res = r.json as Json;
      expect(res['cniVersion']).toBe(version);
      expect(res['interfaces']).toHaveLength(2);
      const [hostIf, podIf] = res['interfaces'];
      expect(hostIf.name).toMatch(/^pw[0-9a-f]{11}$/);
      expect(hostIf.sandbox).toBeUndefined();
      expect(podIf).toMatchObject({ name: 'eth0', sandbox: pod.path });
      expect(podIf.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      // mtu on interfaces is a 1.1.0 field
      expect(podIf.mtu).toBe(version === '1.1.0' ? 1500 : undefined);
      expect(res['ips']).toHaveLength(1);
      const ip = res['ips'][0];
      expect(ip.address).toMatch(/^10\.202\.0\.\d+\/32$/);
      expect(ip.gateway).toBe('169.254.1.1');
      expect(ip.interface).toBe(1);
      // 0.3.x/0.4.0 carry the IP version; 1.x dropped it
      expect(ip.version).toBe(version.startsWith('0.') ? '4' : undefined);
      expect(res['routes']).toEqual([{ dst: '0.0.0.0/0', gw: '169.254.1.1' }]);

      // what the result says is what the pod has
      const view = await podView(pod);
      expect(view.addrs).toEqual([ip.address]);
      expect(view.defaultVia).toBe('169.254.1.1');
      const mac = JSON.parse((await pod.exec('ip', ['-j', 'link', 'show', 'eth0'])).stdout)[0].address;
      expect(mac).toBe(podIf.mac);
      // the gateway resolves to the host veth permanently; the node routes the pod IP to it
      // and forwards on it (bpf_fib_lookup needs that)
      const neigh = JSON.parse((await pod.exec('ip', ['-j', 'neigh', 'show', '169.254.1.1', 'dev', 'eth0'])).stdout)[0];
      expect(neigh).toMatchObject({ lladdr: hostIf.mac, state: ['PERMANENT'] });
      const podIp = ip.address.replace('/32', '');
      expect(await h.nodeRoutes()).toContainEqual(expect.objectContaining({ dst: podIp, dev: hostIf.name }));
      expect((await h.node.exec('cat', [`/proc/sys/net/ipv4/conf/${hostIf.name}/forwarding`])).stdout.trim()).toBe('1');
      expect(h.endpoints().find((e) => e.ip === podIp)).toMatchObject({ podMac: podIf.mac, hostMac: hostIf.mac, flags: 0 });
      // IPv4-only pod network: IPv6 is off on the pod interface (no link-local address to reach the node's :: services)
      expect((await pod.exec('cat', ['/proc/sys/net/ipv6/conf/eth0/disable_ipv6'])).stdout.trim()).toBe('1');
      expect(JSON.parse((await pod.exec('ip', ['-j', '-6', 'addr', 'show', 'dev', 'eth0'])).stdout)).toEqual([]);

      expect((await h.cni('DEL', { containerId: id, netns: pod.path, cniVersion: version, extra: { prevResult: res } })).exitCode).toBe(0);
    });
  }
});

describe('CHECK', () => {
  it('passes on a good pod and names a removed address', async () => {
    const pod = await h.pod();
    const id = containerId();
    const add = await h.cni('ADD', { containerId: id, netns: pod.path });
    expect(add.exitCode, add.stdout).toBe(0);
    const res = add.json as Json;
    const host = res['interfaces'][0].name as string;
    // the attached program is the pinned one (the loader's view, as CHECK uses it)
    expect(await attachedProgramId(host, { netns: h.node.path })).toBe(await pinnedProgramId(h.pinDir));

    const ok = await h.cni('CHECK', { containerId: id, netns: pod.path, extra: { prevResult: res } });
    expect(ok.exitCode, ok.stdout).toBe(0);
    expect(ok.stdout.trim()).toBe('');

    const addr = res['ips'][0].address as string;
    await pod.exec('ip', ['addr', 'del', addr, 'dev', 'eth0']);
    const bad = await h.cni('CHECK', { containerId: id, netns: pod.path, extra: { prevResult: res } });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.json?.['code']).toBe(5);
    expect(bad.json?.['msg']).toContain(`address ${addr} is missing on eth0`);

    expect((await h.cni('DEL', { containerId: id, netns: pod.path })).exitCode).toBe(0);
  });

  it('names a detached program and a missing endpoint entry', async () => {
    const pod = await h.pod();
    const id = containerId();
    const add = await h.cni('ADD', { containerId: id, netns: pod.path });
    const res = add.json as Json;
    const host = res['interfaces'][0].name as string;
    await tcxDetach(linkPin(h.pinDir, host));
    const ip = (res['ips'][0].address as string).replace('/32', '');
    const eps = openEndpoints(h.pinDir);
    try {
      eps.delete(ip);
    } finally {
      eps.close();
    }
    const bad = await h.cni('CHECK', { containerId: id, netns: pod.path, extra: { prevResult: res } });
    expect(bad.json?.['code']).toBe(5);
    expect(bad.json?.['msg']).toContain(`host veth ${host} runs no program`);
    expect(bad.json?.['msg']).toContain(`endpoint map has no entry for ${ip}`);
    expect((await h.cni('DEL', { containerId: id, netns: pod.path })).exitCode).toBe(0);
  });
});

describe('DEL', () => {
  it('removes everything and succeeds again when everything is gone, with or without prevResult', async () => {
    const pod = await h.pod();
    const id = containerId();
    const add = await h.cni('ADD', { containerId: id, netns: pod.path });
    expect(add.exitCode).toBe(0);
    const ip = ((add.json as Json)['ips'][0].address as string).replace('/32', '');
    expect(h.records()).toContain(ip);
    expect(h.endpoints().map((e) => e.ip)).toContain(ip);
    const pin = linkPin(h.pinDir, (add.json as Json)['interfaces'][0].name as string);
    expect(existsSync(pin)).toBe(true);
    // another hook's pin of the same veth (<veth>@<hook>) goes too
    await run('bpftool', ['map', 'pin', 'pinned', pinPaths(h.pinDir).maps.counters, `${pin}@egress`]);

    const del1 = await h.cni('DEL', { containerId: id, netns: pod.path, extra: { prevResult: add.json } });
    expect(del1.exitCode, del1.stdout).toBe(0);
    expect(del1.stdout.trim()).toBe('');
    expect(h.records()).not.toContain(ip);
    expect(h.endpoints().map((e) => e.ip)).not.toContain(ip);
    expect(await h.hostVeths()).toEqual([]);
    expect(existsSync(pin)).toBe(false); // the tcx link's pin would outlive the veth
    expect(existsSync(`${pin}@egress`)).toBe(false);
    expect((await h.nodeRoutes()).map((r) => r.dst)).not.toContain(ip);
    expect((await pod.exec('ip', ['link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(0);

    const del2 = await h.cni('DEL', { containerId: id, netns: pod.path });
    expect(del2.exitCode, del2.stdout).toBe(0);
  });

  it('succeeds after the pod netns was removed and cleans up', async () => {
    const pod = await h.pod();
    const id = containerId();
    const add = await h.cni('ADD', { containerId: id, netns: pod.path });
    const ip = ((add.json as Json)['ips'][0].address as string).replace('/32', '');
    const pin = linkPin(h.pinDir, (add.json as Json)['interfaces'][0].name as string);
    await pod.remove();
    const del = await h.cni('DEL', { containerId: id, netns: pod.path });
    expect(del.exitCode, del.stdout).toBe(0);
    // without CNI_NETNS at all, too (the runtime may no longer know it)
    expect((await h.cni('DEL', { containerId: id, ifname: 'eth0' })).exitCode).toBe(0);
    expect(h.records()).not.toContain(ip);
    expect(h.endpoints().map((e) => e.ip)).not.toContain(ip);
    expect(await h.hostVeths()).toEqual([]);
    expect(existsSync(pin)).toBe(false);
  });
});

describe('GC', () => {
  it('releases every attachment not in cni.dev/valid-attachments and keeps the valid ones', async () => {
    const pods = await Promise.all([h.pod(), h.pod(), h.pod()]);
    const ids = pods.map(() => containerId());
    const adds = [];
    for (let i = 0; i < 3; i++) adds.push(await h.cni('ADD', { containerId: ids[i], netns: pods[i]!.path }));
    const ips = adds.map((a) => ((a.json as Json)['ips'][0].address as string).replace('/32', ''));
    const keepHost = (adds[0]!.json as Json)['interfaces'][0].name;
    const goneHost = (adds[1]!.json as Json)['interfaces'][0].name;
    // a second hook's pin per veth (<veth>@<hook>, as the datapath pins to_pod on egress)
    for (const host of [keepHost, goneHost]) {
      await run('bpftool', ['map', 'pin', 'pinned', pinPaths(h.pinDir).maps.counters, join(pinPaths(h.pinDir).linksDir, `${host}@egress`)]);
    }

    const gc = await h.cni('GC', { extra: { 'cni.dev/valid-attachments': [{ containerID: ids[0], ifname: 'eth0' }] } });
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect(h.records()).toEqual([ips[0]]);
    expect(h.endpoints().map((e) => e.ip)).toEqual([ips[0]]);
    expect(await h.hostVeths()).toEqual([keepHost]);
    // tcx link pins follow the veths, every hook's
    expect(readdirSync(pinPaths(h.pinDir).linksDir).sort()).toEqual([keepHost, `${keepHost}@egress`]);
    expect((await h.nodeRoutes()).map((r) => r.dst)).toEqual([ips[0]]);
    // the kept pod still checks out
    const check = await h.cni('CHECK', { containerId: ids[0], netns: pods[0]!.path, extra: { prevResult: adds[0]!.json } });
    expect(check.exitCode, check.stdout).toBe(0);

    // GC without the list is refused rather than treated as "nothing is valid"
    const noList = await h.cni('GC');
    expect(noList.json?.['code']).toBe(7);
    expect(h.records()).toEqual([ips[0]]);

    expect((await h.cni('GC', { extra: { 'cni.dev/valid-attachments': [] } })).exitCode).toBe(0);
    expect(h.records()).toEqual([]);
    expect(await h.hostVeths()).toEqual([]);
    expect(readdirSync(pinPaths(h.pinDir).linksDir)).toEqual([]);
  });
});

describe('STATUS and the datapath', () => {
  it('STATUS succeeds silently with a datapath', async () => {
    const r = await h.cni('STATUS');
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.stdout.trim()).toBe('');
  });

  it('STATUS and ADD give 50 without one, telling the operator what to run; nothing is allocated', async () => {
    const r = await bare.cni('STATUS');
    expect(r.exitCode).not.toBe(0);
    expect(r.json?.['code']).toBe(50);
    expect(r.json?.['msg']).toContain(`podwire datapath load --pin-dir ${bare.pinDir}`);
    const pod = await bare.pod();
    const add = await bare.cni('ADD', { containerId: containerId(), netns: pod.path });
    expect(add.json?.['code']).toBe(50);
    expect(bare.records()).toEqual([]);
    expect(await bare.hostVeths()).toEqual([]);
    // DEL still succeeds (best effort, nothing to remove)
    expect((await bare.cni('DEL', { containerId: containerId(), ifname: 'eth0' })).exitCode).toBe(0);
  });
});
