// The twin on its own: programs it exposes, snapshot lookups with the kernel's semantics per map
// type, the checks that refuse mismatched builds, a trace explained in words, and its cost per
// verdict from JavaScript (measured and printed, never asserted).
import { describe, expect, it } from 'vitest';
import { isPodwireError } from '../../src/errors/index.js';
import { encodeEndpoint, encodeEndpointKey, encodeNodeConfig, encodeRoute, encodeRouteKey, type Endpoint } from '../../src/maps/index.js';
import { enums, maps as mapLayouts } from '../../src/maps/generated/layouts.js';
import { NodeNames } from '../../src/maps/names.js';
import { layoutsHash, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type MapSnapshot, type SnapshotMap } from '../../src/maps/snapshot.js';
import { buildFrame, explain, FIB_RC, snapshotSource, tableFib, Twin, type MapSource } from '../../src/twin/index.js';

const R = enums.pw_reason.values;
const A = enums.pw_action.values;

const pod = (i: number, ifindex: number): Endpoint => ({
  ip: `10.244.0.${i}`,
  ifindex,
  podMac: `02:00:0a:f4:00:${i.toString(16).padStart(2, '0')}`,
  hostMac: `ee:00:00:00:00:${i.toString(16).padStart(2, '0')}`,
  flags: 0,
  endpointId: i,
});

type Entries = Array<[Uint8Array, Uint8Array]>;

function snapshot(eps: Endpoint[], mode: 'native' | 'vxlan' | 'vxlan-bpf' = 'native', policy: Partial<Record<keyof typeof mapLayouts, Entries>> = {}): MapSnapshot {
  const m = (name: keyof typeof mapLayouts, entries: Array<[Uint8Array, Uint8Array]>): SnapshotMap => ({
    type: mapLayouts[name].type,
    keySize: mapLayouts[name].keySize,
    valueSize: mapLayouts[name].valueSize,
    maxEntries: mapLayouts[name].maxEntries,
    percpu: false,
    entries,
  });
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    createdAt: new Date().toISOString(),
    pinDir: '/test',
    layoutsHash: layoutsHash(),
    possibleCpus: 1,
    maps: {
      endpoints: m('endpoints', eps.map((e) => [encodeEndpointKey(e.ip), encodeEndpoint(e)])),
      routes: m('routes', [
        [encodeRouteKey('10.244.0.0/24'), encodeRoute({ cidr: '10.244.0.0/24', nodeIp: '192.168.1.1', kind: 'local' })],
        [encodeRouteKey('10.244.0.0/16'), encodeRoute({ cidr: '10.244.0.0/16', nodeIp: '192.168.1.9', kind: 'remote' })],
        [encodeRouteKey('10.244.2.0/24'), encodeRoute({ cidr: '10.244.2.0/24', nodeIp: '192.168.1.2', kind: 'remote' })],
        [encodeRouteKey('10.244.2.128/25'), encodeRoute({ cidr: '10.244.2.128/25', nodeIp: '192.168.1.3', kind: 'remote' })],
      ]),
      node_cfg: m('node_cfg', [
        [Buffer.alloc(4), encodeNodeConfig(mode === 'native'
          ? { mode, nodeIp: '192.168.1.1', uplinkIfindex: 2, vxlanIfindex: 0, vni: 0 }
          : { mode: 'vxlan', nodeIp: '192.168.1.1', uplinkIfindex: 2, vxlanIfindex: 3, vni: 42, vxlanDatapath: mode === 'vxlan-bpf' ? 'bpf' : 'device' })],
      ]),
      ct: m('ct', policy.ct ?? []),
      pol_state: m('pol_state', policy.pol_state ?? []),
      pol_endpoints: m('pol_endpoints', policy.pol_endpoints ?? []),
      pol_ports: m('pol_ports', policy.pol_ports ?? []),
      pol_slots: m('pol_slots', policy.pol_slots ?? []),
      pol_sets: m('pol_sets', policy.pol_sets ?? []),
      svc_addrs: m('svc_addrs', policy.svc_addrs ?? []),
    },
    links: [
      { ifindex: 2, name: 'eth0' },
      { ifindex: 3, name: 'pwvxlan0', kind: 'vxlan' },
      { ifindex: 11, name: 'pwaaaa' },
      { ifindex: 12, name: 'pwbbbb' },
    ],
    pods: [{ ip: '10.244.0.2', namespace: 'default', name: 'web-a' }, { ip: '10.244.0.3', namespace: 'default', name: 'web-b' }],
  };
}

const a = pod(2, 11);
const b = pod(3, 12);
const frameFrom = (src: Endpoint, dst: string, ttl = 64) => buildFrame({ src: src.ip, dst, srcMac: src.podMac, dstMac: src.hostMac, ttl });

describe('twin', () => {
  it('exposes one entry per BPF program', async () => {
    const twin = await Twin.load(snapshotSource(snapshot([a, b])));
    expect([...twin.programs].sort()).toEqual(['from_pod', 'from_uplink', 'from_vxlan', 'to_pod', 'to_uplink']);
  });

  it('decides local delivery, spoofing and the routes (longest prefix wins) like the programs', async () => {
    const snap = snapshot([a, b]);
    const fib = tableFib(new Map([['192.168.1.3', { rc: FIB_RC.SUCCESS, ifindex: 2, nexthop: '192.168.1.254' }]]));
    const twin = await Twin.load(snapshotSource(snap), fib);
    const run = (f: Buffer, ifindex = a.ifindex) => twin.run('from_pod', f, { ifindex });

    const local = run(frameFrom(a, b.ip));
    expect([local.reasonName, local.core.ifindex, local.verdict['dmac'], local.verdict['ttl']]).toEqual(['FWD_LOCAL_PEER', 12, b.podMac, 63]);
    expect(run(frameFrom(a, b.ip), b.ifindex).reasonName).toBe('DROP_SPOOFED_SRC_IFINDEX');
    expect(run(buildFrame({ src: a.ip, dst: b.ip, srcMac: '02:66:66:66:66:66', dstMac: a.hostMac })).reasonName).toBe('DROP_SPOOFED_SRC_MAC');
    expect(run(frameFrom(pod(9, 11), b.ip)).reasonName).toBe('DROP_SPOOFED_SRC_IP');
    expect(run(frameFrom(a, b.ip, 1)).reasonName).toBe('DROP_TTL_EXCEEDED');
    expect(run(frameFrom(a, '10.244.0.77')).reasonName).toBe('DROP_NO_ENDPOINT'); // /24 LOCAL beats /16 REMOTE
    expect(run(frameFrom(a, '8.8.8.8')).reasonName).toBe('PASS_STACK_MISS');

    const viaFib = run(frameFrom(a, '10.244.2.200')); // /25 beats /24
    expect([viaFib.reasonName, viaFib.core.action, viaFib.core.ifindex, viaFib.verdict['nh_addr']]).toEqual(['FWD_REMOTE_NATIVE', A.REDIRECT_NEIGH, 2, '192.168.1.254']);
    expect(viaFib.fib).toMatchObject({ dst: '192.168.1.3', rc: FIB_RC.SUCCESS });
    // no FIB answer (an offline snapshot): the verdict stops before the FIB, toward the node IP
    const noFib = run(frameFrom(a, '10.244.2.5'));
    expect([noFib.reasonName, noFib.core.ifindex, noFib.verdict['nh_addr'], noFib.fib?.rc]).toEqual(['FWD_REMOTE_NATIVE', 0, '192.168.1.2', undefined]);

    twin.setSource(snapshotSource(snapshot([a, b], 'vxlan')));
    const tunnel = run(frameFrom(a, '10.244.2.5'));
    expect([tunnel.reasonName, tunnel.core.ifindex, tunnel.core.tunnelId, tunnel.verdict['nh_addr']]).toEqual(['FWD_REMOTE_VXLAN', 3, 42, '192.168.1.2']);
    const up = twin.run('from_uplink', buildFrame({ src: '10.244.2.9', dst: b.ip, srcMac: '02:00:00:00:00:99', dstMac: '02:00:00:00:00:01', ttl: 63 }), { ifindex: 2 });
    expect([up.reasonName, up.core.ifindex, up.verdict['ttl']]).toEqual(['FWD_LOCAL_PEER', 12, 62]);
  });

  it('BPF VXLAN datapath: from_pod encapsulates toward the node IP via the FIB; from_uplink judges our tunnel by its inner frame', async () => {
    const fib = tableFib(new Map([['192.168.1.2', { rc: FIB_RC.SUCCESS, ifindex: 2, nexthop: '192.168.1.2' }]]));
    const twin = await Twin.load(snapshotSource(snapshot([a, b], 'vxlan-bpf')), fib);
    const outFrame = frameFrom(a, '10.244.2.5');
    const out = twin.run('from_pod', outFrame, { ifindex: a.ifindex });
    expect([out.reasonName, out.actionName, out.core.ifindex, out.core.tunnelId, out.verdict['nh_addr']]).toEqual(['FWD_REMOTE_VXLAN_BPF', 'ENCAP_NEIGH', 2, 42, '192.168.1.2']);
    // the outer packet is routed from the node IP as UDP
    expect(out.fib).toMatchObject({ dst: '192.168.1.2', rc: FIB_RC.SUCCESS });
    expect(explain(out, outFrame, new NodeNames([{ ifindex: 2, name: 'eth0' }])).summary).toMatch(/VXLAN encapsulation in BPF \(VNI 42, UDP 8472, outer destination 192\.168\.1\.2\), redirect_neigh out of ifindex 2 \(eth0\)/);

    // [eth][outer IPv4 → 192.168.1.1][UDP → 8472][VXLAN vni][inner frame]
    const vxlan = (vni: number, inner: Buffer, dport = 8472, dst = '192.168.1.1') => {
      const hdr = Buffer.alloc(8);
      hdr[0] = 0x08;
      hdr.writeUIntBE(vni, 4, 3);
      const outer = buildFrame({ src: '192.168.1.2', dst, srcMac: '02:00:00:00:00:99', dstMac: '02:00:00:00:00:01', proto: 'udp', sport: 50000, dport, ttl: 64 });
      // buildFrame's UDP payload is fixed: rebuild the datagram around our VXLAN payload
      const payload = Buffer.concat([hdr, inner]);
      const f = Buffer.concat([outer.subarray(0, 42), payload]);
      f.writeUInt16BE(20 + 8 + payload.length, 16);
      f.writeUInt16BE(8 + payload.length, 38);
      f.writeUInt16BE(0, 24);
      let sum = 0;
      for (let i = 14; i < 34; i += 2) sum += f.readUInt16BE(i);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      f.writeUInt16BE(~sum & 0xffff, 24);
      return f;
    };
    const inner = buildFrame({ src: '10.244.2.9', dst: b.ip, srcMac: '0a:58:c0:a8:01:02', dstMac: '0a:58:c0:a8:01:01', ttl: 63 });
    const run = (f: Buffer) => twin.run('from_uplink', f, { ifindex: 2 });
    const ours = run(vxlan(42, inner));
    expect([ours.reasonName, ours.core.ifindex, ours.verdict['ttl'], ours.pkt['saddr']]).toEqual(['FWD_LOCAL_PEER', 12, 62, '10.244.2.9']);
    expect(run(vxlan(42, buildFrame({ src: '10.244.2.9', dst: '10.244.0.77', srcMac: '0a:58:c0:a8:01:02', dstMac: '0a:58:c0:a8:01:01' }))).reasonName).toBe('DROP_NO_ENDPOINT');
    // not our tunnel (another VNI, another port, another address): the outer packet, the stack's
    for (const f of [vxlan(43, inner), vxlan(42, inner, 4789), vxlan(42, inner, 8472, '192.168.1.7')]) {
      const r = run(f);
      expect([r.reasonName, r.pkt['protocol']]).toEqual(['PASS_STACK_MISS', 17]);
    }
    // the device datapath never looks inside
    twin.setSource(snapshotSource(snapshot([a, b], 'vxlan')));
    expect(run(vxlan(42, inner)).reasonName).toBe('PASS_STACK_MISS');
  });

  it('explains a run in words, with pod and device names', async () => {
    const snap = snapshot([a, b]);
    const twin = await Twin.load(snapshotSource(snap));
    const names = new NodeNames(snap.links, snap.pods);
    const f = frameFrom(a, b.ip);
    const ex = explain(twin.run('from_pod', f, { ifindex: a.ifindex }), f, names);
    expect(ex.summary).toBe('hit endpoint 10.244.0.3 → redirect_peer to ifindex 12 (pwbbbb) (pod default/web-b); rewrite MACs ee:00:00:00:00:03 → 02:00:0a:f4:00:03, TTL 64 → 63');
    expect(ex.steps.map((s) => s.kind)).toEqual(['packet', 'parse', 'lookup', 'check', 'lookup', 'lookup', 'verdict']);
    expect(ex.steps[3]!.text).toContain('= pod MAC ✓');
    expect(ex.steps[5]!.text).toBe("lookup ct[stack 10.244.0.3:80/tcp (pod default/web-b)] → miss: no flow through the node's stack started there, the fast path may deliver");
    const spoof = buildFrame({ src: '10.244.0.99', dst: b.ip, srcMac: a.podMac, dstMac: a.hostMac });
    expect(explain(twin.run('from_pod', spoof, { ifindex: a.ifindex }), spoof, names).summary).toBe('spoofed source: drop, reason DROP_SPOOFED_SRC_IP');
  });

  it('explains the NetworkPolicy step: the conntrack state, the isolating policies and the rule that admitted (or that none did)', async () => {
    // b is isolated for ingress by ruleset 7: slot 0 admits TCP/80 from set 9 = {a}
    const bIso = { ...b, flags: enums.pw_endpoint_flags.values.INGRESS_ISOLATED };
    const u32s = (...v: number[]) => { const x = Buffer.alloc(v.length * 4); v.forEach((n, i) => x.writeUInt32LE(n, i * 4)); return x; };
    const portKey = Buffer.alloc(12);
    portKey.writeUInt32LE(64, 0);
    portKey.writeUInt32LE(7, 4);
    portKey.writeUInt8(6, 8);
    portKey.writeUInt16BE(80, 10);
    const setKey = Buffer.alloc(12);
    setKey.writeUInt32LE(64, 0);
    setKey.writeUInt32LE(9, 4);
    Buffer.from([10, 244, 0, 2]).copy(setKey, 8);
    const snap = snapshot([a, bIso], 'native', {
      pol_state: [[u32s(0), u32s(3, 0, 0, 0)]],
      pol_endpoints: [[encodeEndpointKey(b.ip), u32s(7, 0)]],
      pol_ports: [[portKey, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])]],
      pol_slots: [[u32s(7, 0), u32s(9, 0, 1234, 1)]],
      pol_sets: [[setKey, u32s(1, 0)]],
    });
    const twin = await Twin.load(snapshotSource(snap));
    const names = new NodeNames(snap.links, snap.pods);
    const policy = {
      policyName: (id: number) => (id === 1234 ? 'default/allow-a' : undefined),
      slot: (rs: number, slot: number) => (rs === 7 && slot === 0 ? { rules: [{ policy: 'default/allow-a', rule: 1 }], ports: 'TCP/80', peers: 'pods {app: a}' } : undefined),
      isolatedBy: (ip: string) => (ip === b.ip ? ['default/allow-a'] : undefined),
    };
    const ok = buildFrame({ src: a.ip, dst: b.ip, srcMac: a.podMac, dstMac: a.hostMac, proto: 'tcp', dport: 80 });
    const okEx = explain(twin.run('from_pod', ok, { ifindex: a.ifindex }), ok, names, { policy });
    const texts = okEx.steps.filter((s) => s.kind === 'policy').map((s) => s.text);
    expect(texts).toEqual([
      'policy: a new flow: the rules decide, and an admitted flow is recorded in both directions',
      'ingress: pod default/web-b is isolated for ingress by default/allow-a (ruleset 7); admitted by default/allow-a ingress rule #1 (TCP/80 from/to pods {app: a})',
    ]);
    expect(okEx.summary).toContain('redirect_peer');
    const bad = buildFrame({ src: a.ip, dst: b.ip, srcMac: a.podMac, dstMac: a.hostMac, proto: 'tcp', dport: 81 });
    const badEx = explain(twin.run('from_pod', bad, { ifindex: a.ifindex }), bad, names, { policy });
    expect(badEx.steps.filter((s) => s.kind === 'policy').map((s) => s.text)[1]).toBe(
      'ingress: pod default/web-b is isolated for ingress by default/allow-a (ruleset 7); no rule admits 10.244.0.2 (pod default/web-a) → denied',
    );
    expect(badEx.summary).toBe('NetworkPolicy: the destination pod is isolated for ingress and no rule admits this peer and port: drop, reason POLICY_DENIED_INGRESS');
    expect(badEx.steps.some((s) => s.text.startsWith('lookup pol_ports[ruleset 7 tcp/'))).toBe(true);
  });

  it('explains the bandwidth step of a limited sender and receiver (it cannot know whether the packet fits), and none for unlimited pods', async () => {
    const F = enums.pw_ep_flag.values;
    const la = { ...a, flags: F.EGRESS };
    const lb = { ...b, flags: F.INGRESS };
    const snap = snapshot([la, lb]);
    const twin = await Twin.load(snapshotSource(snap));
    const names = new NodeNames(snap.links, snap.pods);
    const f = frameFrom(la, lb.ip);
    const run = twin.run('from_pod', f, { ifindex: la.ifindex });
    expect(run.verdict['limits']).toBe(F.EGRESS | F.INGRESS);
    const ex = explain(run, f, names);
    const last = ex.steps[ex.steps.length - 1]!;
    expect(last.kind).toBe('check');
    expect(last.text).toContain("the sender 10.244.0.2's egress bucket (over its burst: drop, reason DROP_BW_EGRESS)");
    expect(last.text).toContain("the receiver 10.244.0.3's ingress bucket (over its burst: drop, reason DROP_BW_INGRESS)");
    expect(last.text).toContain('cannot tell whether this packet fits');
    expect(ex.summary).toMatch(/^hit endpoint 10\.244\.0\.3 → redirect_peer/);
    // the limits ride only on verdicts that deliver: a spoofed packet from the limited pod is just dropped
    const spoof = buildFrame({ src: '10.244.0.99', dst: lb.ip, srcMac: la.podMac, dstMac: la.hostMac });
    expect(twin.run('from_pod', spoof, { ifindex: la.ifindex }).verdict['limits']).toBe(0);
    // unlimited pods: no bandwidth step
    const plain = await Twin.load(snapshotSource(snapshot([a, b])));
    expect(explain(plain.run('from_pod', frameFrom(a, b.ip), { ifindex: a.ifindex }), f, names).steps.some((s) => s.text.startsWith('bandwidth'))).toBe(false);
  });

  it('refuses map values of the wrong size (a snapshot or map from another build)', async () => {
    const bad: MapSource = { description: 'bad', lookup: () => new Uint8Array(3), close() {} };
    const twin = await Twin.load(bad);
    let err: unknown;
    try {
      twin.decide('from_pod', frameFrom(a, b.ip), { ifindex: a.ifindex });
    } catch (e) {
      err = e;
    }
    expect(isPodwireError(err, 'MAP_LAYOUT_MISMATCH')).toBe(true);
    await expect(Twin.load(bad, undefined, '/nonexistent/decide.wasm')).rejects.toThrow(/npm run build/);
  });

  it('reports its cost per verdict from JavaScript (measured and printed, not asserted)', async () => {
    const eps = Array.from({ length: 200 }, (_, i) => pod(i + 2, 100 + i));
    const snap = snapshot(eps);
    const fib = tableFib(new Map(['192.168.1.2', '192.168.1.3', '192.168.1.9'].map((ip) => [ip, { rc: FIB_RC.SUCCESS, ifindex: 2, nexthop: ip }])));
    const twin = await Twin.load(snapshotSource(snap), fib);
    // a mix: local forwards, remote routes through the FIB, spoofs, misses
    const frames = Array.from({ length: 256 }, (_, i) => {
      const src = eps[i % eps.length]!;
      const dst = [eps[(i * 7) % eps.length]!.ip, '10.244.2.9', '10.244.2.200', '8.8.8.8', '10.244.0.250'][i % 5]!;
      return { f: frameFrom(i % 11 === 0 ? pod(250, 1) : src, dst), ctx: { ifindex: src.ifindex } };
    });
    const reasons = new Set<number>();
    for (const { f, ctx } of frames) reasons.add(twin.decide('from_pod', f, ctx).reason);
    expect(reasons.size).toBeGreaterThanOrEqual(4);

    // CPU time of this process as well as wall time: on a shared, loaded machine the wall clock
    // also counts the time other processes held the CPU
    const measure = (n: number, fn: (i: number) => void): { wall: number; cpu: number } => {
      const w0 = performance.now();
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) fn(i);
      const c = process.cpuUsage(c0);
      return { wall: ((performance.now() - w0) * 1e6) / n, cpu: ((c.user + c.system) * 1e3) / n };
    };
    const N = 200_000;
    const at = (fs: typeof frames) => (i: number) => twin.decide('from_pod', fs[i & 255]!.f, fs[i & 255]!.ctx);
    measure(20_000, at(frames)); // warm-up
    const d = measure(N, at(frames));
    const only = (dst: (i: number) => string) =>
      frames.map((x, i) => ({ f: frameFrom(eps[i % eps.length]!, dst(i)), ctx: { ifindex: eps[i % eps.length]!.ifindex } }));
    const local = measure(N, at(only((i) => eps[(i * 7) % eps.length]!.ip)));
    const remote = measure(N, at(only(() => '10.244.2.9')));
    const arp = Buffer.alloc(42);
    arp.writeUInt16BE(0x0806, 12);
    const none = measure(N, at(frames.map((x) => ({ f: arp, ctx: x.ctx }))));
    const r = measure(N / 10, (i) => twin.run('from_pod', frames[i & 255]!.f, frames[i & 255]!.ctx));
    const fmt = (m: { wall: number; cpu: number }) => `${m.cpu.toFixed(0)} ns CPU (${m.wall.toFixed(0)} ns wall)`;
    console.log(
      `twin cost from JS per verdict (${N} verdicts each, snapshot maps, ${eps.length} endpoints): mix of local/remote/spoof/miss ${fmt(d)}; ` +
        `local forward (2 lookups) ${fmt(local)}; remote native (3 lookups + FIB answer) ${fmt(remote)}; ARP (no lookup) ${fmt(none)}; ` +
        `run() with lookups recorded and structs decoded ${fmt(r)}`,
    );
    expect(d.wall).toBeGreaterThan(0);
  });
});
