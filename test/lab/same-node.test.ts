// End to end on one node: three pods created by exec'ing the CNI binary inside a node
// namespace, real ping and TCP between every ordered pair through the from-pod program,
// no NAT (the server sees the client's pod IP), and no forwarding by the host stack.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podwireBin } from '../../src/assets/index.js';
import { LabNode, type LabPod } from '../../src/lab/node.js';
import { ping, startTcpEcho, tcpProbe, type TcpEchoServer } from '../../src/lab/traffic.js';
import { openCounters, openEndpoints } from '../../src/maps/index.js';

describe('same node: three pods through the CNI binary', () => {
  let node: LabNode;
  const pods: LabPod[] = [];
  const servers: TcpEchoServer[] = [];

  beforeAll(async () => {
    if (!existsSync(podwireBin())) throw new Error(`${podwireBin()} is missing: run \`npm run build\` (npm test does)`);
    node = await LabNode.create({ podCIDR: '10.244.7.0/24', prefix: 'pwsn' });
    for (const name of ['web-1', 'web-2', 'db-1']) pods.push(await node.addPod(name));
    for (const p of pods) servers.push(await startTcpEcho(p.netns.path, p.ip, 7000));
  });

  afterAll(async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await node?.destroy();
  });

  it('gives every pod a distinct address from the podCIDR and an endpoint entry', () => {
    const ips = pods.map((p) => p.ip);
    expect(new Set(ips).size).toBe(3);
    for (const ip of ips) expect(ip).toMatch(/^10\.244\.7\.\d+$/);
    const eps = openEndpoints(node.pinDir);
    try {
      expect(eps.list().map((e) => e.ip).sort()).toEqual([...ips].sort());
    } finally {
      eps.close();
    }
  });

  it('pings and talks TCP between every ordered pair, without NAT and without the host stack forwarding', async () => {
    const forwardedBefore = await node.forwardedDatagrams();
    const pairs = pods.flatMap((a) => pods.filter((b) => b !== a).map((b) => [a, b] as const));
    for (const [a, b] of pairs) {
      const p = await ping(a.netns.path, b.ip, { count: 3 });
      expect(p.ok, `${a.name} → ${b.name} ping: ${p.output}`).toBe(true);
      const t = await tcpProbe(a.netns.path, b.ip, 7000);
      expect(t.ok, `${a.name} → ${b.name} tcp: ${t.error}`).toBe(true);
      expect(t.peerSeen, `${b.name} saw the client as`).toBe(a.ip);
    }
    expect(await node.forwardedDatagrams()).toBe(forwardedBefore);

    const counters = openCounters(node.pinDir);
    try {
      const fwd = counters.read().filter((r) => /LOCAL/.test(r.reason) && r.packets > 0n);
      // 6 pairs × (3 echo requests + 3 replies) plus the TCP exchanges all went through redirect_peer.
      expect(fwd.reduce((n, r) => n + r.packets, 0n)).toBeGreaterThanOrEqual(36n);
    } finally {
      counters.close?.();
    }
  });

  it('lets the node host namespace reach its pods', async () => {
    for (const p of pods) {
      const r = await ping(node.netns.path, p.ip, { count: 1 });
      expect(r.ok, r.output).toBe(true);
      const t = await tcpProbe(node.netns.path, p.ip, 7000);
      expect(t.ok, t.error).toBe(true);
    }
  });

  it('DEL removes the veth, the endpoint entry and the address', async () => {
    const victim = pods[2]!;
    const out = await node.delPod(victim.name);
    expect(out?.exitCode, out?.stdout).toBe(0);
    const eps = openEndpoints(node.pinDir);
    try {
      expect(eps.get(victim.ip)).toBeUndefined();
      expect(eps.list()).toHaveLength(2);
    } finally {
      eps.close();
    }
    const links = await node.netns.exec('ip', ['-j', 'link', 'show']);
    const names = (JSON.parse(links.stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
    expect(names.filter((n) => n !== 'lo')).toHaveLength(2); // the two remaining host veths
    const routes = await node.netns.exec('ip', ['-j', 'route', 'show']);
    expect(routes.stdout).not.toContain(victim.ip);
    const ping2 = await ping(pods[0]!.netns.path, victim.ip, { count: 1 });
    expect(ping2.ok).toBe(false);
    // The address is free again in the store.
    const stateFiles = (await readdir(node.stateDir, { recursive: true })).map(String);
    expect(stateFiles.some((f) => f.includes(victim.ip))).toBe(false);
  });
});
