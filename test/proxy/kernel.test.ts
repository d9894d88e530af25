// The lab kube-proxy on the real kernel, in both proxy modes: a client pod reaches backends
// through a ClusterIP (TCP and UDP, no SNAT of the pod's own address), many connections spread
// over both backends, a NodePort on the node IP works (masqueraded), the node itself reaches the
// ClusterIP, ClientIP affinity sticks, a service without endpoints is rejected, endpoint changes
// and service deletions are picked up, malformed objects are skipped without a crash, and
// SIGTERM exits cleanly leaving the rules.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, CLIENT_IP, NODE_IP, ProxyWorld, sleep, waitFor } from './topology.js';

const WEB = '10.96.0.10';
const STICKY = '10.96.0.11';
const EMPTY = '10.96.0.12';
const SELF = '10.96.0.13';
const LOCAL = '10.96.0.14';

function service(name: string, clusterIP: string, extra: Record<string, unknown> = {}, ports?: unknown[]) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ports: ports ?? [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }], ...extra },
  };
}

function slice(svc: string, ips: readonly string[], ports = [{ name: 'http', port: 8080, protocol: 'TCP' }], nodeOf: (ip: string) => string = () => 'n1') {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-x1`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports,
    endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: nodeOf(ip), conditions: { ready: true } })),
  };
}

const backendsOf = (rs: string[]) => new Set(rs.map((r) => r.split(' ')[0]));
const ALL_IPS = BACKENDS.map((b) => b.ip);

describe.each(['iptables', 'nftables'] as const)('lab kube-proxy (%s mode) on the kernel', (mode) => {
  let w: ProxyWorld;
  let synced: Record<string, unknown>;
  // iptables mode learns the node IP from the Node object, nftables mode is given --node-ip
  const args = mode === 'iptables' ? ['--proxy-mode', mode] : ['--proxy-mode', mode, '--node-ip', NODE_IP];

  beforeAll(async () => {
    w = await ProxyWorld.create();
    w.api.put('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } });
    w.api.put(
      'services',
      service('web', WEB, { type: 'NodePort' }, [
        { name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 30080 },
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353, nodePort: 30053 },
      ]),
    );
    w.api.put('endpointslices', slice('web', ALL_IPS, [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }]));
    w.api.put('services', service('sticky', STICKY, { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } }));
    w.api.put('endpointslices', slice('sticky', ALL_IPS));
    w.api.put('services', service('empty', EMPTY));
    w.api.put('services', service('self', SELF));
    w.api.put('endpointslices', slice('self', [BACKENDS[0].ip]));
    // externalTrafficPolicy Local: only b1 is on this node (n1); b2 is on another node
    w.api.put('services', service('local', LOCAL, { type: 'NodePort', externalTrafficPolicy: 'Local' }, [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 30090 }]));
    w.api.put('endpointslices', slice('local', ALL_IPS, undefined, (ip) => (ip === BACKENDS[0].ip ? 'n1' : 'n2')));
    w.api.put('services', service('headless', 'None'));
    w.api.put('endpointslices', slice('headless', ALL_IPS));
    // malformed: must be logged and skipped, never crash the proxy
    w.api.put('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'broken', namespace: 'default' }, spec: { clusterIP: 'bogus', ports: [{ port: 80 }] } });
    synced = await w.startProxy(args);
  }, 120_000);

  afterAll(async () => {
    await w?.cleanup();
  }, 60_000);

  it('announces the first sync with the node IP (from the Node object or --node-ip)', () => {
    expect(synced).toMatchObject({ synced: true, mode, node: 'n1', nodeIP: NODE_IP, servicePorts: 6 });
  });

  it('programs kube-proxy\'s layout in the node namespace', async () => {
    if (mode === 'iptables') {
      const nat = (await w.node.exec('iptables-save', ['-t', 'nat'])).stdout;
      expect(nat).toMatch(/-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
      expect(nat).toMatch(/-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
      expect(nat).toMatch(/-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING/);
      expect(nat).toMatch(/-A KUBE-SVC-\S+ .*-m statistic --mode random --probability 0\.50000000000? -j KUBE-SEP-/);
      expect(nat).toContain('--rcheck --seconds 300 --reap');
    } else {
      const t = (await w.node.exec('nft', ['list', 'table', 'ip', 'kube-proxy'])).stdout;
      expect(t).toContain('map service-ips');
      expect(t).toMatch(/numgen random mod 2 vmap/);
      expect(t).toMatch(/set affinity-/);
    }
  });

  it('TCP and UDP to the ClusterIP reach a backend that sees the client pod\'s own IP', async () => {
    const tcp = await w.call('tcp', WEB, 80, 4);
    for (const r of tcp) expect(r).toMatch(new RegExp(`^b[12] ${CLIENT_IP.replace(/\./g, '\\.')}$`));
    const udp = await w.call('udp', WEB, 53, 4);
    for (const r of udp) expect(r).toMatch(new RegExp(`^b[12] ${CLIENT_IP.replace(/\./g, '\\.')}$`));
  });

  it('many connections all succeed and reach both backends', async () => {
    const rs = await w.call('tcp', WEB, 80, 40);
    expect(rs.filter((r) => r.startsWith('ERR'))).toEqual([]);
    expect(backendsOf(rs)).toEqual(new Set(['b1', 'b2']));
    const us = await w.call('udp', WEB, 53, 30);
    expect(us.filter((r) => r.startsWith('ERR'))).toEqual([]);
    expect(backendsOf(us)).toEqual(new Set(['b1', 'b2']));
  });

  it('NodePort on the node IP reaches a backend (masqueraded, as kube-proxy does)', async () => {
    const rs = await w.call('tcp', NODE_IP, 30080, 6);
    for (const r of rs) expect(r).toMatch(/^b[12] 169\.254\.1\.1$/);
    const us = await w.call('udp', NODE_IP, 30053, 3);
    for (const r of us) expect(r).toMatch(/^b[12] 169\.254\.1\.1$/);
  });

  it('the outside reaches the NodePort; the node itself reaches the ClusterIP (both masqueraded)', async () => {
    for (const r of await w.call('tcp', NODE_IP, 30080, 4, w.outside)) expect(r).toMatch(/^b[12] 169\.254\.1\.1$/);
    for (const r of await w.call('tcp', WEB, 80, 2, w.node)) expect(r).toMatch(/^b[12] 169\.254\.1\.1$/);
  });

  it('hairpin: a backend reaching itself through its service sees a masqueraded source', async () => {
    const rs = await w.call('tcp', SELF, 80, 3, w.backends[0]);
    expect(rs).toEqual(['b1 169.254.1.1', 'b1 169.254.1.1', 'b1 169.254.1.1']);
    // another pod through the same service keeps its own address
    expect(await w.call('tcp', SELF, 80, 1)).toEqual([`b1 ${CLIENT_IP}`]);
  });

  it('externalTrafficPolicy Local: the outside reaches only this node\'s endpoint and keeps its address; pods use all', async () => {
    const out = await w.call('tcp', NODE_IP, 30090, 8, w.outside);
    expect(new Set(out)).toEqual(new Set(['b1 192.168.77.2']));
    const pods = await w.call('tcp', NODE_IP, 30090, 30);
    expect(pods.filter((r) => r.startsWith('ERR'))).toEqual([]);
    expect(backendsOf(pods)).toEqual(new Set(['b1', 'b2']));
  });

  it('ClientIP affinity sticks to one backend', async () => {
    const rs = await w.call('tcp', STICKY, 80, 20);
    expect(rs.filter((r) => r.startsWith('ERR'))).toEqual([]);
    expect(backendsOf(rs).size).toBe(1);
  });

  it('a service without endpoints is rejected (not timed out)', async () => {
    expect(await w.call('tcp', EMPTY, 80, 1)).toEqual(['ERR:ECONNREFUSED']);
  });

  it('endpoint changes are picked up: one backend, then none, then both again', async () => {
    w.api.put('endpointslices', slice('sticky', [BACKENDS[1].ip]));
    w.api.put('endpointslices', slice('web', [BACKENDS[1].ip], [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }]));
    await waitFor('web to use only b2', async () => {
      const rs = await w.call('tcp', WEB, 80, 8);
      return rs.every((r) => r.startsWith('b2 '));
    });
    // UDP flows to the removed endpoint were flushed from conntrack: every request reaches b2
    const us = await w.call('udp', WEB, 53, 6);
    expect(us.every((r) => r.startsWith('b2 '))).toBe(true);
    // the affinity binding to a removed endpoint does not survive it
    await waitFor('sticky to use only b2', async () => (await w.call('tcp', STICKY, 80, 4)).every((r) => r.startsWith('b2 ')));

    w.api.put('endpointslices', slice('web', [], [{ name: 'http', port: 8080, protocol: 'TCP' }]));
    await waitFor('web to be rejected', async () => (await w.call('tcp', WEB, 80, 1))[0] === 'ERR:ECONNREFUSED');

    w.api.put('endpointslices', slice('web', ALL_IPS, [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }]));
    await waitFor('web to use both backends again', async () => backendsOf(await w.call('tcp', WEB, 80, 30)).size === 2);
  });

  it('survives an API outage: rules stay, and a change made meanwhile is picked up after it', async () => {
    await w.stopBridge();
    w.api.put('endpointslices', slice('web', [BACKENDS[0].ip], [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }]));
    // while the API is unreachable the last rules keep serving
    expect(backendsOf(await w.call('tcp', WEB, 80, 20))).toEqual(new Set(['b1', 'b2']));
    expect(w.proxy!.exitCode).toBeNull();
    await w.startBridge();
    await waitFor('web to use only b1 after the outage', async () => (await w.call('tcp', WEB, 80, 8)).every((r) => r.startsWith('b1 ')), 60_000, 500);
    expect(w.logLines().some((l) => l.msg === 'watch failed; restarting')).toBe(true);
    w.api.put('endpointslices', slice('web', ALL_IPS, [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }]));
    await waitFor('web to use both backends again', async () => backendsOf(await w.call('tcp', WEB, 80, 30)).size === 2);
  }, 120_000);

  it('a deleted service stops answering and its chains are removed', async () => {
    w.api.delete('services', 'default', 'sticky');
    await waitFor('sticky to stop answering', async () => (await w.call('tcp', STICKY, 80, 1))[0]!.startsWith('ERR'));
    if (mode === 'iptables') {
      const nat = (await w.node.exec('iptables-save', ['-t', 'nat'])).stdout;
      expect(nat).not.toContain('default/sticky');
    } else {
      const t = (await w.node.exec('nft', ['list', 'table', 'ip', 'kube-proxy'])).stdout;
      expect(t).not.toContain('default/sticky');
    }
  });

  it('logged the malformed service, and exits 0 on SIGTERM leaving the rules', async () => {
    expect(w.logLines().some((l) => l.msg === 'skipping malformed object' && String(l.object).includes('default/broken'))).toBe(true);
    const p = w.proxy!;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(20_000).then(() => 'still running')]);
    expect(code, JSON.stringify(w.logLines().slice(-5))).toBe(0);
    // rules stay: the service still answers with the proxy gone
    const rs = await w.call('tcp', WEB, 80, 2);
    for (const r of rs) expect(r).toMatch(/^b[12] /);
  });

  it('a restarted proxy adopts the rules it left and removes what changed while it was down', async () => {
    w.api.delete('services', 'default', 'self');
    const again = await w.startProxy(args);
    expect(again).toMatchObject({ synced: true, servicePorts: 4 });
    const firsts = w.logLines().filter((l) => l.msg === 'first sync done');
    expect(firsts).toHaveLength(2);
    // the jump rules from the built-in chains were still there: none added twice
    expect(firsts[1]).toMatchObject({ jumpsAdded: 0 });
    expect(Number(firsts[1]!.deletedChains)).toBeGreaterThan(0);
    const rules = mode === 'iptables' ? (await w.node.exec('iptables-save', [])).stdout : (await w.node.exec('nft', ['list', 'ruleset'])).stdout;
    expect(rules).not.toContain('default/self');
    if (mode === 'iptables') expect(rules.match(/-A PREROUTING .*-j KUBE-SERVICES/g)).toHaveLength(1);
    for (const r of await w.call('tcp', WEB, 80, 4)) expect(r).toMatch(new RegExp(`^b[12] ${CLIENT_IP.replace(/\./g, '\\.')}$`));
  });
});
