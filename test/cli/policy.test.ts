// `podwire policy` (bin/podwire) on a node whose maps hold a compiled policy and whose from_pod
// program judged real packets: isolation, the slot with its policy/rule, resolved peers and
// ports, counters from pol_stats (admitted in the slot, denials in "deny"), warnings.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinPaths } from '../../src/loader/index.js';
import { reasonNames } from '../../src/maps/index.js';
import { compilePolicy, PolicyWriter, writePolicyModel, POLICY_MODEL_FILE } from '../../src/policy/index.js';
import { buildFrame } from '../../src/twin/index.js';
import { testRun } from '../bpf/packets.js';
import { ns, pod, policy } from '../policy/helpers.js';
import { createCliNode, type CliNode } from './fixture.js';

let node: CliNode | undefined;
const n = () => node!;
const results: number[] = [];

beforeAll(async () => {
  node = await createCliNode();
  const a = pod({ ns: 'default', name: 'web-a', ip: n().podA.ip, labels: { app: 'web' } });
  const b = pod({ ns: 'shop', name: 'cart-0', ip: n().podB.ip, labels: { app: 'cart' }, ports: [{ name: 'http', containerPort: 80 }] });
  const pols = [
    policy('shop', 'cart-in', {
      podSelector: { matchLabels: { app: 'cart' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'default' } }, podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 'http' }] }, { from: [{ ipBlock: { cidr: 'fd00::/8' } }] }],
    }),
  ];
  const c = compilePolicy({
    pods: new Map([a, b].map((p) => [`${p.namespace}/${p.name}`, p])),
    namespaces: new Map([ns('default'), ns('shop')].map((x) => [x.name, x])),
    policies: new Map(pols.map((p) => [`${p.namespace}/${p.name}`, p])),
    localIps: new Set([n().podA.ip, n().podB.ip]),
    hostIps: ['192.168.77.1'],
  });
  const w = new PolicyWriter(n().pinDir);
  const s = w.apply(c);
  w.close();
  writePolicyModel(join(n().stateDir, POLICY_MODEL_FILE), c, { revision: s.revision, node: n().nodeName });
  // A -> B: two admitted flows on TCP/80, one denied on TCP/81, through the real from_pod
  for (const [sport, dport] of [[40001, 80], [40002, 80], [40003, 81]] as const) {
    const f = buildFrame({ src: n().podA.ip, dst: n().podB.ip, srcMac: n().podA.podMac, dstMac: n().podA.hostMac, proto: 'tcp', sport, dport });
    results.push((await testRun(pinPaths(n().pinDir).progs.fromPod, f, { ifindex: n().podA.ifindex, netns: n().ns.path })).cb[0]!);
  }
});

afterAll(async () => {
  await node?.remove();
});

describe('podwire policy', () => {
  it('the datapath judged the packets as compiled (denied with POLICY_DENIED_INGRESS)', () => {
    expect(results.map((r) => reasonNames[r])).toEqual(['FWD_LOCAL_PEER', 'FWD_LOCAL_PEER', 'POLICY_DENIED_INGRESS']);
  });

  it('-o json: isolation, resolved slot, counters per slot, warnings', async () => {
    const r = await n().cli(['policy', '--pin-dir', n().pinDir, '--state-dir', n().stateDir, '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(r.stdout) as {
      revision: number;
      mapRevision: number;
      endpoints: { pod: string; ip: string; ifindex: number; ingress: { isolated: boolean; policies: string[]; slots: { slot: unknown; rules: string[]; peers: string; ports: string; members: { cidr: string }[]; packets: number }[] }; egress: { isolated: boolean } }[];
      notes: string[];
    };
    expect(j.notes).toEqual([]);
    expect(j.revision).toBe(1);
    expect(j.mapRevision).toBe(1);
    expect(j.endpoints.map((e) => e.pod)).toEqual(['shop/cart-0']);
    const e = j.endpoints[0]!;
    expect(e.ifindex).toBe(n().podB.ifindex);
    expect(e.ingress.isolated).toBe(true);
    expect(e.egress.isolated).toBe(false);
    expect(e.ingress.policies).toEqual(['shop/cart-in']);
    const s0 = e.ingress.slots.find((s) => s.slot === 0)!;
    expect(s0).toMatchObject({ rules: ['shop/cart-in#ingress[0]'], ports: 'TCP/80', members: [{ cidr: `${n().podA.ip}/32`, include: true }] });
    expect(s0.packets).toBe(2);
    expect(e.ingress.slots.find((s) => s.slot === 'deny')!.packets).toBe(1);
    expect((e as unknown as { warnings: { code: string }[] }).warnings.map((w) => w.code)).toEqual(['IPV6_CIDR']);
  });

  it('table view, one pod by name, --node through the lab state, and a clear error for an unknown pod', async () => {
    const r = await n().cli(['policy', 'cart-0', '--node', n().nodeName, '--lab-state', n().labState]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('POD shop/cart-0');
    expect(r.stdout).toContain('ingress: isolated by shop/cart-in');
    expect(r.stdout).toContain('egress:  not isolated');
    expect(r.stdout).toMatch(/ingress\s+0\s+shop\/cart-in#ingress\[0\]\s+namespaces \{kubernetes.io\/metadata.name: default\} pods \{app: web\}.*TCP\/80\s+2\s+\d+/);
    expect(r.stdout).toMatch(/ingress\s+deny\s+-\s+everything else\s+-\s+1\s+\d+/);
    expect(r.stdout).toContain('warning IPV6_CIDR (shop/cart-in)');
    const bad = await n().cli(['policy', 'nope', '--pin-dir', n().pinDir, '--state-dir', n().stateDir]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('no pod "nope" isolated by NetworkPolicy');
    const none = await n().cli(['policy', '--pin-dir', n().pinDir, '--state-dir', '/nonexistent-pcp']);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain('no policy model at /nonexistent-pcp/policy.json');
  });
});
