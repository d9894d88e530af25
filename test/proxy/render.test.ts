// The generated rule text for fixture Services/EndpointSlices, asserted against kube-proxy's
// layout: chain names (hash vectors taken from well-known kube-proxy chains and the examples in
// kube-proxy's own source comments), statistic probabilities, affinity, NodePorts, hairpin,
// no-endpoint rejects, and what must be skipped (headless, ExternalName, malformed).
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { buildServicePorts, type ServicePort } from '../../src/proxy/model.js';
import { iptSepChain, iptSvcChain, nftEpChain, nftSvcChain, portProtoHash } from '../../src/proxy/names.js';
import { probability, renderIptables } from '../../src/proxy/iptables.js';
import { renderNftables } from '../../src/proxy/nftables.js';
import { staleUdpFlows } from '../../src/proxy/apply.js';
import { parseDurationMs, readKubeProxyConfig } from '../../src/proxy/config.js';

const CIDR = '10.244.0.0/16';

function svc(name: string, spec: Record<string, unknown>, ns = 'default'): V1Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec } as V1Service;
}

function slice(svcName: string, ports: Array<{ name?: string; port: number; protocol?: string }>, eps: Array<{ ip: string; ready?: boolean; serving?: boolean; terminating?: boolean }>, ns = 'default', name = `${svcName}-abc`): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svcName } },
    addressType: 'IPv4',
    ports,
    endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating } })),
  } as V1EndpointSlice;
}

describe('chain names', () => {
  it('hash like kube-proxy (well-known chains and kube-proxy source examples)', () => {
    expect(portProtoHash({ namespace: 'default', name: 'kubernetes', portName: 'https', protocol: 'TCP' })).toBe('NPX46M4PTMTKRN6Y');
    expect(portProtoHash({ namespace: 'kube-system', name: 'kube-dns', portName: 'dns', protocol: 'UDP' })).toBe('TCOU7JCQXEZGVUNU');
    const sp: ServicePort = { namespace: 'ns1', name: 'svc1', portName: 'p80', protocol: 'TCP', clusterIP: '172.30.0.41', port: 80, nodePort: 0, endpoints: [] };
    expect(nftSvcChain(sp)).toBe('service-ULMVA6XW-ns1/svc1/tcp/p80');
    expect(nftEpChain(sp, { ip: '10.180.0.1', port: 80 })).toBe('endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80');
    expect(iptSvcChain(sp)).toMatch(/^KUBE-SVC-[A-Z2-7]{16}$/);
    expect(iptSepChain(sp, { ip: '10.180.0.1', port: 80 })).not.toBe(iptSepChain(sp, { ip: '10.180.0.2', port: 80 }));
  });
});

describe('model', () => {
  it('resolves named ports per protocol, keeps ready endpoints sorted, skips headless/ExternalName/malformed', () => {
    const skipped: string[] = [];
    const sps = buildServicePorts(
      [
        svc('web', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
        svc('headless', { clusterIP: 'None', ports: [{ port: 80 }] }),
        svc('ext', { type: 'ExternalName', externalName: 'example.com' }),
        svc('bad', { clusterIP: 'not-an-ip', ports: [{ port: 80 }] }),
        svc('badport', { clusterIP: '10.96.0.12', ports: [{ port: 'x' }, { port: 81 }] }),
        { metadata: { name: 'nospec', namespace: 'default' } } as V1Service,
      ],
      [
        slice('web', [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }], [
          { ip: '10.244.1.20' },
          { ip: '10.244.1.3', ready: true },
          { ip: '10.244.2.9', ready: false },
        ]),
        slice('headless', [{ port: 80 }], [{ ip: '10.244.1.7' }]),
        { metadata: { name: 'junk', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', endpoints: 'x' } as unknown as V1EndpointSlice,
      ],
      (w, r) => skipped.push(`${w}: ${r}`),
    );
    expect(sps.map((s) => `${s.name}:${s.portName}/${s.protocol}`)).toEqual(['badport:/TCP', 'web:dns/UDP', 'web:http/TCP']);
    const http = sps.find((s) => s.portName === 'http')!;
    expect(http.endpoints).toEqual([{ ip: '10.244.1.3', port: 8080 }, { ip: '10.244.1.20', port: 8080 }]);
    expect(sps.find((s) => s.portName === 'dns')!.endpoints.map((e) => e.port)).toEqual([5353, 5353]);
    expect(skipped.some((s) => s.includes('service default/bad') && s.includes('clusterIP'))).toBe(true);
    expect(skipped.some((s) => s.includes('service default/badport'))).toBe(true);
    expect(skipped.some((s) => s.includes('service default/nospec') && s.includes('spec'))).toBe(true);
    expect(skipped.some((s) => s.includes('endpointslice default/junk'))).toBe(true);
  });

  it('falls back to serving terminating endpoints only when none is ready', () => {
    const s = [svc('t', { clusterIP: '10.96.0.20', ports: [{ port: 80 }] })];
    const term = buildServicePorts(s, [slice('t', [{ port: 80 }], [{ ip: '10.244.1.1', ready: false, serving: true, terminating: true }, { ip: '10.244.1.2', ready: false, serving: false, terminating: true }])]);
    expect(term[0]!.endpoints).toEqual([{ ip: '10.244.1.1', port: 80 }]);
    const mixed = buildServicePorts(s, [slice('t', [{ port: 80 }], [{ ip: '10.244.1.1', ready: false, serving: true, terminating: true }, { ip: '10.244.1.5' }])]);
    expect(mixed[0]!.endpoints).toEqual([{ ip: '10.244.1.5', port: 80 }]);
  });
});

const three: ServicePort = {
  namespace: 'default', name: 'web', portName: 'http', protocol: 'TCP', clusterIP: '10.96.0.10', port: 80, nodePort: 30080,
  endpoints: [{ ip: '10.244.1.2', port: 8080 }, { ip: '10.244.1.3', port: 8080 }, { ip: '10.244.2.4', port: 8080 }],
};
const sticky: ServicePort = { ...three, name: 'sticky', nodePort: 0, affinitySeconds: 600, endpoints: three.endpoints.slice(0, 2) };
// externalTrafficPolicy Local with one endpoint on this node; internalTrafficPolicy Local with none
const extLocal: ServicePort = { ...three, name: 'extlocal', nodePort: 30081, externalLocal: true, endpoints: [{ ...three.endpoints[0]!, local: true }, ...three.endpoints.slice(1)] };
const intLocal: ServicePort = { ...three, name: 'intlocal', nodePort: 0, internalLocal: true };
const empty: ServicePort = { namespace: 'default', name: 'none', portName: '', protocol: 'UDP', clusterIP: '10.96.0.30', port: 53, nodePort: 30053, endpoints: [] };

describe('iptables layout', () => {
  const { text, staleNatChains } = renderIptables([three, sticky, empty], { clusterCIDR: CIDR, existingNatChains: ['KUBE-SERVICES', 'KUBE-SVC-GONEGONEGONEGONE', 'KUBE-SEP-OLDOLDOLDOLDOLDO', 'MY-OWN-CHAIN'] });
  const lines = text.split('\n');
  const svcC = iptSvcChain(three);
  const seps = three.endpoints.map((ep) => iptSepChain(three, ep));

  it('declares the fixed chains of both tables and commits each', () => {
    expect(lines.slice(0, 6)).toEqual(['*filter', ':KUBE-SERVICES - [0:0]', ':KUBE-EXTERNAL-SERVICES - [0:0]', ':KUBE-FORWARD - [0:0]', ':KUBE-NODEPORTS - [0:0]', ':KUBE-PROXY-FIREWALL - [0:0]']);
    const nat = lines.slice(lines.indexOf('*nat'));
    for (const c of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']) expect(nat).toContain(`:${c} - [0:0]`);
    expect(lines.filter((l) => l === 'COMMIT')).toHaveLength(2);
  });

  it('ClusterIP → SVC → statistic-balanced SEP chains with DNAT and hairpin masquerade', () => {
    expect(lines).toContain(`-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j ${svcC}`);
    expect(lines).toContain(`-A ${svcC} -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s ${CIDR} -j KUBE-MARK-MASQ`);
    const svcRules = lines.filter((l) => l.startsWith(`-A ${svcC} `) && l.includes(' -> '));
    expect(svcRules).toEqual([
      `-A ${svcC} -m comment --comment "default/web:http -> 10.244.1.2:8080" -m statistic --mode random --probability 0.3333333333 -j ${seps[0]}`,
      `-A ${svcC} -m comment --comment "default/web:http -> 10.244.1.3:8080" -m statistic --mode random --probability 0.5000000000 -j ${seps[1]}`,
      `-A ${svcC} -m comment --comment "default/web:http -> 10.244.2.4:8080" -j ${seps[2]}`,
    ]);
    expect(lines).toContain(`-A ${seps[2]} -m comment --comment default/web:http -s 10.244.2.4 -j KUBE-MARK-MASQ`);
    expect(lines).toContain(`-A ${seps[2]} -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.2.4:8080`);
    expect(probability(4)).toBe('0.2500000000');
  });

  it('NodePort → KUBE-EXT (mark, then SVC); KUBE-NODEPORTS is the last KUBE-SERVICES rule', () => {
    const ext = `KUBE-EXT-${portProtoHash(three)}`;
    expect(lines).toContain(`-A KUBE-NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport 30080 -j ${ext}`);
    expect(lines).toContain(`-A ${ext} -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ`);
    expect(lines).toContain(`-A ${ext} -j ${svcC}`);
    const ks = lines.filter((l) => l.startsWith('-A KUBE-SERVICES ') && !l.includes('REJECT'));
    expect(ks.at(-1)).toContain('-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS');
  });

  it('masquerade of marked packets clears the mark; KUBE-FORWARD accepts marked and established', () => {
    expect(lines).toContain('-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000');
    const post = lines.filter((l) => l.startsWith('-A KUBE-POSTROUTING'));
    expect(post).toEqual([
      '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
      '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]);
    expect(lines).toContain('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT');
    expect(lines).toContain('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  });

  it('ClientIP affinity: --rcheck per endpoint before the random rules, --set on DNAT', () => {
    const c = iptSvcChain(sticky);
    const s0 = iptSepChain(sticky, sticky.endpoints[0]!);
    const rules = lines.filter((l) => l.startsWith(`-A ${c} `));
    expect(rules[1]).toBe(`-A ${c} -m comment --comment "default/sticky:http -> 10.244.1.2:8080" -m recent --name ${s0} --rcheck --seconds 600 --reap -j ${s0}`);
    expect(rules[3]).toContain('-m statistic --mode random --probability 0.5000000000');
    expect(lines).toContain(`-A ${s0} -m comment --comment default/sticky:http -m recent --name ${s0} --set -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080`);
  });

  it('no endpoints: filter REJECT for ClusterIP and NodePort, no nat chains', () => {
    expect(lines).toContain('-A KUBE-SERVICES -m comment --comment "default/none has no endpoints" -m udp -p udp -d 10.96.0.30 --dport 53 -j REJECT');
    expect(lines).toContain('-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/none has no endpoints" -m addrtype --dst-type LOCAL -m udp -p udp --dport 30053 -j REJECT');
    expect(text).not.toContain(iptSvcChain(empty));
  });

  it('deletes stale service chains only, never foreign ones', () => {
    expect(staleNatChains).toEqual(['KUBE-SEP-OLDOLDOLDOLDOLDO', 'KUBE-SVC-GONEGONEGONEGONE']);
    expect(lines).toContain('-X KUBE-SVC-GONEGONEGONEGONE');
    expect(text).not.toContain('MY-OWN-CHAIN');
  });
});

describe('traffic policies Local', () => {
  const L = renderIptables([extLocal, intLocal], { clusterCIDR: CIDR }).text.split('\n');
  const N = renderNftables([extLocal, intLocal], { clusterCIDR: CIDR }).text.split('\n');
  const h = portProtoHash(extLocal);
  const local0 = iptSepChain(extLocal, extLocal.endpoints[0]!);

  it('iptables: NodePort → KUBE-EXT short-circuits pods and the node to SVC, the rest to SVL (local endpoints only, no SNAT)', () => {
    expect(L.filter((l) => l.startsWith(`-A KUBE-EXT-${h} `))).toEqual([
      `-A KUBE-EXT-${h} -m comment --comment "pod traffic for default/extlocal:http external destinations" -s ${CIDR} -j KUBE-SVC-${h}`,
      `-A KUBE-EXT-${h} -m comment --comment "masquerade LOCAL traffic for default/extlocal:http external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
      `-A KUBE-EXT-${h} -m comment --comment "route LOCAL traffic for default/extlocal:http external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-${h}`,
      `-A KUBE-EXT-${h} -j KUBE-SVL-${h}`,
    ]);
    expect(L.filter((l) => l.startsWith(`-A KUBE-SVL-${h} `))).toEqual([`-A KUBE-SVL-${h} -m comment --comment "default/extlocal:http -> 10.244.1.2:8080" -j ${local0}`]);
    // the ClusterIP still uses every endpoint
    expect(L).toContain(`-A KUBE-SERVICES -m comment --comment "default/extlocal:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j KUBE-SVC-${h}`);
  });

  it('iptables: internalTrafficPolicy Local without local endpoints drops ClusterIP traffic', () => {
    expect(L).toContain('-A KUBE-SERVICES -m comment --comment "default/intlocal:http has no local endpoints" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j DROP');
    expect(L.some((l) => l.includes(`KUBE-SVC-${portProtoHash(intLocal)}`))).toBe(false);
  });

  it('nftables: the same decisions with external-/local- chains and a drop verdict', () => {
    const ext = nftSvcChain(extLocal).replace('service-', 'external-');
    const loc = nftSvcChain(extLocal).replace('service-', 'local-');
    expect(N).toContain(`add rule ip kube-proxy ${ext} ip saddr ${CIDR} goto ${nftSvcChain(extLocal)} comment "short-circuit pod traffic"`);
    expect(N).toContain(`add rule ip kube-proxy ${ext} fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"`);
    expect(N).toContain(`add rule ip kube-proxy ${ext} goto ${loc}`);
    expect(N).toContain(`add rule ip kube-proxy ${loc} numgen random mod 1 vmap { 0 : goto ${nftEpChain(extLocal, extLocal.endpoints[0]!)} }`);
    expect(N).toContain('add element ip kube-proxy no-endpoint-services { 10.96.0.10 . tcp . 80 comment "default/intlocal:http" : drop }');
  });
});

describe('external IPs', () => {
  const withEip: ServicePort = { ...three, name: 'eip', nodePort: 0, externalIPs: ['192.0.2.10'] };
  const twin: ServicePort = { ...withEip, name: 'eip2', clusterIP: '10.96.0.99' };
  const noEp: ServicePort = { ...withEip, name: 'eipnone', clusterIP: '10.96.0.98', externalIPs: ['192.0.2.11'], endpoints: [] };

  it('iptables: KUBE-SERVICES sends the external IP to KUBE-EXT (masquerade, then SVC); none → REJECT in KUBE-EXTERNAL-SERVICES', () => {
    const L = renderIptables([withEip, noEp], { clusterCIDR: CIDR }).text.split('\n');
    const h = portProtoHash(withEip);
    expect(L).toContain(`-A KUBE-SERVICES -m comment --comment "default/eip:http external IP" -m tcp -p tcp -d 192.0.2.10 --dport 80 -j KUBE-EXT-${h}`);
    expect(L).toContain(`-A KUBE-EXT-${h} -j KUBE-SVC-${h}`);
    expect(L.some((l) => l.startsWith('-A KUBE-NODEPORTS') && l.includes('eip'))).toBe(false);
    expect(L).toContain('-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/eipnone:http has no endpoints" -m tcp -p tcp -d 192.0.2.11 --dport 80 -j REJECT');
  });

  it('nftables: external IP in @service-ips → external chain; a second claim of the same IP:port is dropped, not fatal', () => {
    const N = renderNftables([withEip, twin, noEp], { clusterCIDR: CIDR }).text.split('\n');
    const ext = nftSvcChain(withEip).replace('service-', 'external-');
    expect(N).toContain(`add element ip kube-proxy service-ips { 192.0.2.10 . tcp . 80 : goto ${ext} }`);
    expect(N.filter((l) => l.includes('service-ips { 192.0.2.10 . tcp . 80'))).toHaveLength(1);
    expect(N).toContain('add element ip kube-proxy no-endpoint-services { 192.0.2.11 . tcp . 80 comment "default/eipnone:http" : goto reject-chain }');
  });
});

describe('nftables layout', () => {
  const r = renderNftables([three, sticky, empty], {
    clusterCIDR: CIDR,
    existingChains: ['services', 'service-AAAAAAAA-default/gone/tcp/', 'endpoint-BBBBBBBB-default/web/tcp/http__10.244.9.9/8080'],
    existingSets: ['affinity-CCCCCCCC-default/gone/tcp/__10.1.1.1/80', nftEpChain(sticky, sticky.endpoints[0]!).replace('endpoint-', 'affinity-')],
  });
  const L = r.text.split('\n');
  const T = 'add rule ip kube-proxy';

  it('base chains, dispatch maps and masquerading', () => {
    expect(L).toContain('add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }');
    expect(L).toContain('add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }');
    expect(L).toContain('add chain ip kube-proxy filter-forward { type filter hook forward priority -110 ; }');
    expect(L).toContain(`${T} services ip daddr . meta l4proto . th dport vmap @service-ips`);
    expect(L).toContain(`${T} services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports`);
    expect(L).toContain(`${T} masquerading mark and 0x4000 == 0 return`);
    expect(L).toContain(`${T} masquerading mark set mark xor 0x4000`);
    expect(L).toContain(`${T} masquerading masquerade fully-random`);
    expect(L).toContain(`${T} mark-for-masquerade mark set mark or 0x4000`);
    expect(L).toContain(`${T} filter-forward ct state new jump endpoints-check`);
  });

  it('service chain: off-cluster masquerade, affinity, numgen vmap; endpoint chain: hairpin, DNAT', () => {
    const c = nftSvcChain(three);
    const eps = three.endpoints.map((ep) => nftEpChain(three, ep));
    expect(L).toContain(`add element ip kube-proxy service-ips { 10.96.0.10 . tcp . 80 : goto ${c} }`);
    expect(L).toContain(`add element ip kube-proxy service-nodeports { tcp . 30080 : goto external-${c.slice('service-'.length)} }`);
    expect(L).toContain(`${T} ${c} ip daddr 10.96.0.10 tcp dport 80 ip saddr != ${CIDR} jump mark-for-masquerade`);
    expect(L).toContain(`${T} ${c} numgen random mod 3 vmap { 0 : goto ${eps[0]}, 1 : goto ${eps[1]}, 2 : goto ${eps[2]} }`);
    expect(L).toContain(`${T} ${eps[1]} ip saddr 10.244.1.3 jump mark-for-masquerade`);
    expect(L).toContain(`${T} ${eps[1]} meta l4proto tcp dnat to 10.244.1.3:8080`);
    const sc = nftSvcChain(sticky);
    const se = nftEpChain(sticky, sticky.endpoints[0]!);
    const set = se.replace('endpoint-', 'affinity-');
    expect(L).toContain(`add set ip kube-proxy ${set} { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }`);
    expect(L).toContain(`${T} ${sc} ip saddr @${set} goto ${se}`);
    expect(L).toContain(`${T} ${se} update @${set} { ip saddr }`);
    // affinity sets keep their elements across syncs (never flushed)
    expect(r.text).not.toContain(`flush set ip kube-proxy ${set}`);
  });

  it('no endpoints → reject via the no-endpoint maps; stale chains and sets deleted, live ones kept', () => {
    expect(L).toContain('add element ip kube-proxy no-endpoint-services { 10.96.0.30 . udp . 53 comment "default/none" : goto reject-chain }');
    expect(L).toContain('add element ip kube-proxy no-endpoint-nodeports { udp . 30053 comment "default/none" : goto reject-chain }');
    expect(L).toContain(`${T} reject-chain reject`);
    expect(r.staleChains).toEqual(['endpoint-BBBBBBBB-default/web/tcp/http__10.244.9.9/8080', 'service-AAAAAAAA-default/gone/tcp/']);
    expect(r.staleSets).toEqual(['affinity-CCCCCCCC-default/gone/tcp/__10.1.1.1/80']);
    expect(L.indexOf('delete chain ip kube-proxy service-AAAAAAAA-default/gone/tcp/')).toBeGreaterThan(L.indexOf('delete set ip kube-proxy affinity-CCCCCCCC-default/gone/tcp/__10.1.1.1/80'));
  });
});

describe('UDP conntrack cleanup and config', () => {
  it('flushes flows to removed endpoints and cached rejects when the first endpoint appears', () => {
    const a: ServicePort = { ...empty, nodePort: 0, endpoints: [{ ip: '10.244.1.2', port: 53 }, { ip: '10.244.1.3', port: 53 }] };
    expect(staleUdpFlows([a], [{ ...a, endpoints: [{ ip: '10.244.1.3', port: 53 }] }])).toEqual([['-D', '-p', 'udp', '--orig-dst', '10.96.0.30', '--dst-nat', '10.244.1.2']]);
    expect(staleUdpFlows([{ ...a, endpoints: [] }], [a])).toEqual([['-D', '-p', 'udp', '--orig-dst', '10.96.0.30', '--orig-port-dst', '53']]);
    expect(staleUdpFlows([three], [{ ...three, endpoints: [] }])).toEqual([]);
  });

  it('validates flags with messages naming flag and value', () => {
    expect(parseDurationMs('--min-sync-period', '250ms')).toBe(250);
    expect(parseDurationMs('--min-sync-period', '1m30s')).toBe(90_000);
    expect(parseDurationMs('--min-sync-period', '2')).toBe(2000);
    expect(() => parseDurationMs('--min-sync-period', '5 parsecs')).toThrow(/--min-sync-period "5 parsecs"/);
    const c = readKubeProxyConfig({ nodeName: 'n1', kubeconfig: '/k' });
    expect(c).toEqual({ nodeName: 'n1', kubeconfig: '/k', mode: 'iptables', clusterCIDR: '10.244.0.0/16', minSyncPeriodMs: 1000 });
    expect(() => readKubeProxyConfig({ nodeName: 'n1', kubeconfig: '/k', proxyMode: 'ipvs' })).toThrow(/--proxy-mode "ipvs" must be iptables or nftables/);
    expect(() => readKubeProxyConfig({ nodeName: 'n1', kubeconfig: '/k', clusterCidr: '10.0.0.0/33' })).toThrow(/--cluster-cidr/);
    expect(() => readKubeProxyConfig({ kubeconfig: '/k' })).toThrow(/--node-name is required/);
  });
});
