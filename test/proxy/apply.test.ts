// The kernel accepts every rendered layout: each fixture (several endpoints, NodePort, affinity,
// Local policies, no endpoints) applied in a scratch namespace in both modes, re-applied
// unchanged (idempotent: no duplicate jump rules), then shrunk (stale chains and sets deleted,
// foreign rules untouched).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRules } from '../../src/proxy/apply.js';
import type { ServicePort } from '../../src/proxy/model.js';
import { createNetns, type Netns } from '../../src/netns/index.js';

const CIDR = '10.244.0.0/16';
const base: ServicePort = {
  namespace: 'default', name: 'web', portName: 'http', protocol: 'TCP', clusterIP: '10.96.0.10', port: 80, nodePort: 30080,
  endpoints: [{ ip: '10.244.1.2', port: 8080, local: true }, { ip: '10.244.1.3', port: 8080 }, { ip: '10.244.2.4', port: 8080 }],
};
const all: ServicePort[] = [
  base,
  { ...base, name: 'dns', portName: 'dns', protocol: 'UDP', clusterIP: '10.96.0.53', port: 53, nodePort: 0 },
  { ...base, name: 'sticky', clusterIP: '10.96.0.11', nodePort: 0, affinitySeconds: 60 },
  { ...base, name: 'extlocal', clusterIP: '10.96.0.12', nodePort: 30081, externalLocal: true },
  { ...base, name: 'intlocal', clusterIP: '10.96.0.13', nodePort: 0, internalLocal: true, endpoints: base.endpoints.slice(1) },
  { ...base, name: 'none', clusterIP: '10.96.0.14', nodePort: 30082, endpoints: [] },
  { ...base, name: 'eip', clusterIP: '10.96.0.15', nodePort: 0, externalIPs: ['192.0.2.10'] },
  { ...base, name: 'eip2', clusterIP: '10.96.0.16', nodePort: 0, externalIPs: ['192.0.2.10'] },
  { ...base, name: 'eipnone', clusterIP: '10.96.0.17', nodePort: 0, externalIPs: ['192.0.2.11'], endpoints: [] },
];

describe.each(['iptables', 'nftables'] as const)('applying the %s layout', (mode) => {
  let ns: Netns;
  beforeAll(async () => {
    ns = await createNetns('pxa');
    // a rule that is not kube-proxy's must survive every sync
    if (mode === 'iptables') await ns.exec('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', '10.99.0.0/16', '-j', 'MASQUERADE']);
    else await ns.exec('nft', ['add table ip mine; add chain ip mine c { type nat hook postrouting priority 100 ; }; add rule ip mine c ip saddr 10.99.0.0/16 masquerade']);
  });
  afterAll(async () => {
    await ns?.remove();
  });

  const dump = async () => (mode === 'iptables' ? (await ns.exec('iptables-save', [])).stdout : (await ns.exec('nft', ['list', 'ruleset'])).stdout);

  it('the kernel accepts every fixture, and a second sync changes nothing', async () => {
    const first = await applyRules(all, { mode, clusterCIDR: CIDR, netns: ns.path });
    expect(first.chains).toBeGreaterThan(10);
    if (mode === 'iptables') expect(first.jumpsAdded).toBe(12);
    const before = await dump();
    const second = await applyRules(all, { mode, clusterCIDR: CIDR, netns: ns.path });
    expect(second).toMatchObject({ deleted: 0, jumpsAdded: 0 });
    const strip = (t: string) => t.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '').replace(/handle \d+/g, '');
    expect(strip(await dump())).toBe(strip(before));
    expect(before).toContain('default/extlocal');
    expect(before).toContain('10.99.0.0/16');
  });

  it('shrinking deletes the stale chains and affinity sets, and leaves foreign rules', async () => {
    const r = await applyRules([base], { mode, clusterCIDR: CIDR, netns: ns.path });
    expect(r.deleted).toBeGreaterThan(5);
    const after = await dump();
    for (const gone of ['default/sticky', 'default/extlocal', 'default/intlocal', 'default/dns', 'default/eip', 'affinity-']) expect(after).not.toContain(gone);
    expect(after).toContain('default/web');
    expect(after).toContain('10.99.0.0/16');
  });
});
