// The host routes to other nodes' pod CIDRs, in a scratch namespace with a real kernel: every
// remote node is one nexthop object (id = its IPv4 address) and its CIDR a route `nhid ID`; a sync
// diffs routes and nexthops, migrates plain routes an older agent left, leaves other programs'
// nexthops alone (their id gets a plain route instead), reports a refused node once, and a sync to
// nothing removes every route and nexthop of ours. The scale case syncs 5,000 nodes: with plain
// `via` routes the kernel's cost grows with the square of the node count (findings.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listKernelRoutes, listNexthops, nexthopIdOf, parseNexthopLines, parseRouteLines, ROUTE_PROTO, syncKernelRoutes } from '../../src/hostnet/index.js';
import { createNetns, type Netns } from '../../src/netns/index.js';

const ours = async (ns: Netns) => (await listNexthops(ns.path)).filter((n) => n.proto === String(ROUTE_PROTO));

describe('parsing ip route / ip nexthop text', () => {
  it('reads nhid, gateway, device, encap and source', () => {
    expect(parseRouteLines('10.9.0.0/24 nhid 7  encap ip id 1 src 0.0.0.0 dst 10.0.0.2 ttl 64 tos 0 dev vx src 10.0.0.1 \n10.8.0.0/24 via 100.64.0.2 dev eth0 \n')).toEqual([
      { cidr: '10.9.0.0/24', nhid: 7, encapId: 1, encapDst: '10.0.0.2', dev: 'vx', prefsrc: '10.0.0.1' },
      { cidr: '10.8.0.0/24', gateway: '100.64.0.2', dev: 'eth0' },
    ]);
    expect(parseNexthopLines('id 8 via 100.64.0.3 dev eth0 scope link proto 210 onlink \nid 7  encap ip id 1 src 0.0.0.0 dst 10.0.0.2 ttl 64 tos 0 dev vx scope host proto zebra \n')).toEqual([
      { id: 8, gateway: '100.64.0.3', dev: 'eth0', proto: '210' },
      { id: 7, encapId: 1, encapDst: '10.0.0.2', dev: 'vx', proto: 'zebra' },
    ]);
    expect(nexthopIdOf('10.250.0.1')).toBe(0x0afa0001);
    expect(() => nexthopIdOf('0.0.0.0')).toThrow(/nexthop/);
  });
});

describe('kernel routes through nexthop objects', () => {
  let ns: Netns;
  beforeAll(async () => {
    ns = await createNetns('pwkrt');
    const lines = ['link add eth0 type veth peer name eth1', 'link set eth0 up', 'link set eth1 up', 'addr add 100.64.0.1/16 dev eth0', 'link add vx type vxlan external dstport 8472', 'link set vx up'];
    await ns.exec('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
  });
  afterAll(async () => {
    await ns?.remove();
  });

  it('native: one nexthop per node, CIDRs through it; unchanged costs no write; a moved CIDR and a gone node are diffed', async () => {
    const remote = [
      { cidr: '10.244.1.0/24', nodeIp: '100.64.0.2' },
      { cidr: '10.244.2.0/24', nodeIp: '100.64.0.3' },
      { cidr: '10.244.12.0/24', nodeIp: '100.64.0.3' }, // a second CIDR of the same node shares its nexthop
    ];
    expect(await syncKernelRoutes({ mode: 'native', remote, uplink: 'eth0', netns: ns.path })).toEqual({ added: 3, replaced: 0, deleted: 0, unchanged: 0, failed: [] });
    const routes = await listKernelRoutes(ns.path);
    expect(routes.map((r) => [r.cidr, r.nhid, r.gateway])).toEqual([
      ['10.244.1.0/24', nexthopIdOf('100.64.0.2'), '100.64.0.2'],
      ['10.244.2.0/24', nexthopIdOf('100.64.0.3'), '100.64.0.3'],
      ['10.244.12.0/24', nexthopIdOf('100.64.0.3'), '100.64.0.3'],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]), 'en', { numeric: true })));
    expect((await ours(ns)).map((n) => [n.id, n.gateway, n.dev]).sort()).toEqual([
      [nexthopIdOf('100.64.0.2'), '100.64.0.2', 'eth0'],
      [nexthopIdOf('100.64.0.3'), '100.64.0.3', 'eth0'],
    ].sort());
    const got = await ns.exec('ip', ['-4', 'route', 'get', '10.244.12.9']);
    expect(got.stdout).toMatch(/via 100\.64\.0\.3 dev eth0/);
    expect(await syncKernelRoutes({ mode: 'native', remote, uplink: 'eth0', netns: ns.path })).toEqual({ added: 0, replaced: 0, deleted: 0, unchanged: 3, failed: [] });
    // 10.244.2.0/24 moves to a new node; the node 100.64.0.2 leaves
    const next = [{ cidr: '10.244.2.0/24', nodeIp: '100.64.0.4' }, remote[2]!];
    expect(await syncKernelRoutes({ mode: 'native', remote: next, uplink: 'eth0', netns: ns.path })).toEqual({ added: 0, replaced: 1, deleted: 1, unchanged: 1, failed: [] });
    expect((await ours(ns)).map((n) => n.gateway).sort()).toEqual(['100.64.0.3', '100.64.0.4']);
    // without an explicit uplink the device comes from the kernel's route to the first node
    expect(await syncKernelRoutes({ mode: 'native', remote: next, netns: ns.path })).toMatchObject({ unchanged: 2, failed: [] });
    expect(await syncKernelRoutes({ mode: 'native', remote: [], netns: ns.path })).toMatchObject({ deleted: 2, failed: [] });
    expect(await listKernelRoutes(ns.path)).toEqual([]);
    expect(await ours(ns)).toEqual([]);
  });

  it('migrates plain routes an older agent left, keeps off another program\'s nexthop id, reports an off-link node once', async () => {
    const proto = String(ROUTE_PROTO);
    await ns.exec('ip', ['route', 'add', '10.244.1.0/24', 'via', '100.64.0.2', 'proto', proto]);
    const foreignId = nexthopIdOf('100.64.0.5');
    await ns.exec('ip', ['nexthop', 'add', 'id', String(foreignId), 'via', '100.64.0.77', 'dev', 'eth0', 'proto', 'static']);
    const remote = [
      { cidr: '10.244.1.0/24', nodeIp: '100.64.0.2' },
      { cidr: '10.244.5.0/24', nodeIp: '100.64.0.5' },
      { cidr: '10.244.9.0/24', nodeIp: '192.0.2.99' }, // not on eth0's link
    ];
    const r = await syncKernelRoutes({ mode: 'native', remote, uplink: 'eth0', netns: ns.path });
    expect(r).toMatchObject({ added: 2, replaced: 1, deleted: 0, unchanged: 0 });
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]).toMatch(/192\.0\.2\.99/);
    const routes = new Map((await listKernelRoutes(ns.path)).map((x) => [x.cidr, x]));
    expect(routes.get('10.244.1.0/24')).toMatchObject({ nhid: nexthopIdOf('100.64.0.2') });
    expect(routes.get('10.244.5.0/24')).toMatchObject({ gateway: '100.64.0.5' });
    expect(routes.get('10.244.5.0/24')?.nhid).toBeUndefined();
    expect(routes.has('10.244.9.0/24')).toBe(false);
    // the other program's nexthop is untouched, now and when we remove ours
    const theirs = () => listNexthops(ns.path).then((l) => l.find((n) => n.id === foreignId));
    expect(await theirs()).toMatchObject({ gateway: '100.64.0.77', proto: 'static' });
    const again = await syncKernelRoutes({ mode: 'native', remote: remote.slice(0, 2), uplink: 'eth0', netns: ns.path });
    expect(again).toEqual({ added: 0, replaced: 0, deleted: 0, unchanged: 2, failed: [] });
    await syncKernelRoutes({ mode: 'native', remote: [], netns: ns.path });
    expect(await listKernelRoutes(ns.path)).toEqual([]);
    expect(await ours(ns)).toEqual([]);
    expect(await theirs()).toMatchObject({ gateway: '100.64.0.77' });
    await ns.exec('ip', ['nexthop', 'del', 'id', String(foreignId)]);
  });

  it('vxlan: encap nexthops on the device, the node IP as source; switching modes replaces in place', async () => {
    // the device the routes use is pwvxlan0 in production; here the namespace's "vx" stands in
    await ns.exec('ip', ['link', 'set', 'vx', 'name', 'pwvxlan0']);
    try {
      const remote = [{ cidr: '10.244.1.0/24', nodeIp: '100.64.0.2' }];
      expect(await syncKernelRoutes({ mode: 'vxlan', remote, vni: 7, nodeIp: '100.64.0.1', netns: ns.path })).toMatchObject({ added: 1, failed: [] });
      expect(await listKernelRoutes(ns.path)).toEqual([{ cidr: '10.244.1.0/24', nhid: nexthopIdOf('100.64.0.2'), encapId: 7, encapDst: '100.64.0.2', dev: 'pwvxlan0', prefsrc: '100.64.0.1' }]);
      expect(await syncKernelRoutes({ mode: 'vxlan', remote, vni: 7, nodeIp: '100.64.0.1', netns: ns.path })).toMatchObject({ unchanged: 1 });
      const native = await syncKernelRoutes({ mode: 'native', remote, uplink: 'eth0', netns: ns.path });
      expect(native).toMatchObject({ replaced: 1, failed: [] });
      expect(await listKernelRoutes(ns.path)).toEqual([{ cidr: '10.244.1.0/24', nhid: nexthopIdOf('100.64.0.2'), gateway: '100.64.0.2', dev: 'eth0' }]);
      await syncKernelRoutes({ mode: 'native', remote: [], netns: ns.path });
      expect(await ours(ns)).toEqual([]);
    } finally {
      await ns.exec('ip', ['link', 'set', 'pwvxlan0', 'name', 'vx']);
    }
  });

  it('5,000 nodes: every CIDR through its node\'s nexthop, a second sync writes nothing, a sync to nothing removes all', async () => {
    const remote = Array.from({ length: 5000 }, (_, i) => ({ cidr: `10.${64 + (i >> 8)}.${i & 255}.0/24`, nodeIp: `100.64.${(i + 10) >> 8}.${(i + 10) & 255}` }));
    expect(await syncKernelRoutes({ mode: 'native', remote, uplink: 'eth0', netns: ns.path })).toEqual({ added: 5000, replaced: 0, deleted: 0, unchanged: 0, failed: [] });
    const routes = await listKernelRoutes(ns.path);
    expect(routes).toHaveLength(5000);
    expect(routes.every((r) => r.nhid !== undefined && r.nhid === nexthopIdOf(r.gateway ?? '0.0.0.0'))).toBe(true);
    expect(await ours(ns)).toHaveLength(5000);
    expect(await syncKernelRoutes({ mode: 'native', remote, uplink: 'eth0', netns: ns.path })).toEqual({ added: 0, replaced: 0, deleted: 0, unchanged: 5000, failed: [] });
    expect(await syncKernelRoutes({ mode: 'native', remote: [], netns: ns.path })).toMatchObject({ deleted: 5000, failed: [] });
    expect(await ours(ns)).toEqual([]);
  }, 120_000);
});
