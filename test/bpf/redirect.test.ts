// from_pod on real traffic: two pods (netns) on one node (netns), veths whose host sides run
// the pinned program. Pings must flow by bpf_redirect_peer with IP forwarding OFF on the node,
// so the host stack cannot be what delivers them.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachFromPod, loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { openCounters, openEndpoints, type Endpoint } from '../../src/maps/index.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { wireVethPod } from './veth-pod.js';

const pinDir = `/sys/fs/bpf/pwtest-${randomBytes(4).toString('hex')}`;
const created: Netns[] = [];
let node: Netns;
const pods: Array<{ ns: Netns; ip: string; host: string }> = [];

async function forwardedDatagrams(ns: Netns): Promise<number> {
  const snmp = (await ns.exec('cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Ip:'));
  const [names, values] = snmp.map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('ForwDatagrams')]);
}

function count(reason: string): bigint {
  const c = openCounters(pinDir);
  try {
    return c.read().find((r) => r.reason === reason)?.packets ?? 0n;
  } finally {
    c.close();
  }
}

beforeAll(async () => {
  node = await createNetns('pwnode');
  created.push(node);
  await node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
  await loadDatapath({ pinDir });
  const eps: Endpoint[] = [];
  for (const [i, ip] of ['10.244.7.2', '10.244.7.3'].entries()) {
    const ns = await createNetns('pwpod');
    created.push(ns);
    const host = `pwh${i}${randomBytes(2).toString('hex')}`;
    const w = await wireVethPod(node, ns, host, ip);
    await attachFromPod(host, pinDir, { netns: node.path });
    eps.push({ ip, ifindex: w.ifindex, podMac: w.podMac, hostMac: w.hostMac, flags: 0, endpointId: i + 1 });
    pods.push({ ns, ip, host });
  }
  const m = openEndpoints(pinDir);
  m.setBatch(eps);
  m.close();
});

afterAll(async () => {
  await unloadDatapath({ pinDir, netns: node?.path });
  for (const ns of created) await ns.remove();
});

describe('from_pod on real veths', () => {
  it('delivers pod-to-pod pings by redirect_peer, bypassing the host stack', async () => {
    const [a, b] = pods;
    const fwdBefore = await forwardedDatagrams(node);
    const countBefore = count('FWD_LOCAL_PEER');
    const r = await a!.ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '1', '-n', b!.ip], { reject: false, timeoutMs: 10_000 });
    expect(r.stdout).toMatch(/3 received/);
    expect(r.stdout).toMatch(/ttl=63/); // the reply crossed one hop: ours, which decremented it
    // request + reply per ping, each one redirect
    expect(count('FWD_LOCAL_PEER') - countBefore).toBeGreaterThanOrEqual(6n);
    expect(await forwardedDatagrams(node)).toBe(fwdBefore);
  });

  it('drops a pod sending from an address that is not its own', async () => {
    const [a, b] = pods;
    await a!.ns.exec('ip', ['addr', 'add', '10.244.7.99/32', 'dev', 'eth0']);
    const before = count('DROP_SPOOFED_SRC_IP');
    const r = await a!.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-n', '-I', '10.244.7.99', b!.ip], { reject: false, timeoutMs: 10_000 });
    expect(r.stdout).toMatch(/ 0 received/);
    expect(count('DROP_SPOOFED_SRC_IP') - before).toBe(2n);
  });
});
