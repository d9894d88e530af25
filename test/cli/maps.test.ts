// `podwire maps list|dump`, `endpoints`, `routes`, `counters` (bin/podwire, as an operator runs
// it) against maps this test filled: tables and JSON must show exactly that content, with link
// and pod names; errors must say what is wrong and how to fix it.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { pinPaths } from '../../src/loader/index.js';
import { decodeSnapshot } from '../../src/maps/snapshot.js';
import { limitsFromPlan, openBandwidth, planFromConfig } from '../../src/maps/bandwidth.js';
import { buildFrame } from '../../src/twin/index.js';
import { testRun } from '../bpf/packets.js';
import { createCliNode, type CliNode } from './fixture.js';
import { maps as ALL_MAP_LAYOUTS } from '../../src/maps/generated/layouts.js';

/** Every map the datapath object defines (the generated layouts), sorted like a directory listing. */
const ALL_MAPS = Object.keys(ALL_MAP_LAYOUTS).sort();

let node: CliNode | undefined;
const fakeDir = `/sys/fs/bpf/pwcli-fake-${randomBytes(3).toString('hex')}`;
const n = () => node!;
const json = async (args: string[]) => {
  const r = await n().cli([...args, '-o', 'json']);
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
};

beforeAll(async () => {
  node = await createCliNode();
  // traffic for the counters: 3 forwards A->B and 2 spoofed sources, through the real program
  const fwd = buildFrame({ src: n().podA.ip, dst: n().podB.ip, srcMac: n().podA.podMac, dstMac: n().podA.hostMac });
  const spoof = buildFrame({ src: '10.244.0.200', dst: n().podB.ip, srcMac: n().podA.podMac, dstMac: n().podA.hostMac });
  // pod A is limited to 10M each way (as CNI ADD writes it from runtimeConfig.bandwidth)
  const bw = openBandwidth(n().pinDir);
  try {
    bw.set(limitsFromPlan(n().podA.ip, planFromConfig({ egressRate: 10_000_000, egressBurst: 4294967295, ingressRate: 10_000_000, ingressBurst: 4294967295 }, 1500)));
  } finally {
    bw.close();
  }
  for (const f of [fwd, fwd, fwd, spoof, spoof]) await testRun(pinPaths(n().pinDir).progs.fromPod, f, { ifindex: n().podA.ifindex, netns: n().ns.path });
});

afterAll(async () => {
  await node?.remove();
  await rm(fakeDir, { recursive: true, force: true });
});

describe('podwire maps / endpoints / routes / counters', () => {
  it('maps list: every pinned map with its definition, entry count and layout check', async () => {
    const out = await json(['maps', 'list', '--pin-dir', n().pinDir]);
    const maps = out['maps'] as Array<Record<string, unknown>>;
    const pick = (m: Record<string, unknown>) => [m['name'], m['type'], m['keySize'], m['valueSize'], m['entries'], m['maxEntries'], m['layout']];
    expect(maps.map(pick)).toEqual([
      ['bw', 'hash', 20, 72, 1, 65536, 'ok'],
      ['counters', 'percpu_array', 4, 16, 128, 128, 'ok'],
      ['ct', 'lru_hash', 16, 32, 0, 131072, 'ok'],
      ['ct_cache', 'percpu_array', 4, 72, 65, 65, 'ok'],
      ['endpoints', 'hash', 20, 24, 2, 65536, 'ok'],
      ['monitor_cfg', 'array', 4, 24, 1, 1, 'ok'],
      ['monitor_cpu', 'percpu_array', 4, 40, 1, 1, 'ok'],
      ['monitor_events', 'ringbuf', 0, 0, null, 1048576, 'ok'],
      ['nh_cache', 'lru_hash', 4, 32, 0, 16384, 'ok'],
      ['node_cfg', 'array', 4, 24, 1, 1, 'ok'],
      ['pol_endpoints', 'hash', 20, 8, 0, 65536, 'ok'],
      ['pol_ports', 'lpm_trie', 12, 8, 0, 262144, 'ok'],
      ['pol_sets', 'lpm_trie', 12, 8, 0, 1048576, 'ok'],
      ['pol_slots', 'hash', 8, 16, 0, 262144, 'ok'],
      ['pol_state', 'array', 4, 16, 1, 1, 'ok'],
      ['pol_stats', 'lru_percpu_hash', 12, 16, 0, 65536, 'ok'],
      ['prefilter', 'lpm_trie', 8, 8, 0, 65536, 'ok'],
      ['prefilter_safe', 'hash', 8, 4, 0, 256, 'ok'],
      ['routes', 'lpm_trie', 8, 16, 3, 131072, 'ok'],
      ['svc_addrs', 'hash', 4, 4, 0, 131072, 'ok'],
    ]);
    const text = (await n().cli(['maps', 'list', '--pin-dir', n().pinDir])).stdout.split('\n');
    expect(text[0]).toMatch(/^NAME\s+TYPE\s+KEY\s+VALUE\s+ENTRIES\s+MAX\s+ID\s+LAYOUT$/);
    expect(text.find((l) => l.startsWith('endpoints'))).toMatch(/^endpoints\s+hash\s+20\s+24\s+2\s+65536\s+\d+\s+ok$/);
  });

  it('endpoints (--node via the lab state file): IPs, veths by name, MACs, bandwidth limits, pod names from the IPAM records', async () => {
    const out = await json(['endpoints', '--node', n().nodeName, '--lab-state', n().labState]);
    expect(out['node']).toBe(n().nodeName);
    const plan = planFromConfig({ egressRate: 10_000_000, egressBurst: 4294967295, ingressRate: 10_000_000, ingressBurst: 4294967295 }, 1500);
    expect(out['endpoints']).toEqual(
      [
        {
          ...n().podA,
          ifname: 'hA',
          pod: 'default/web-a',
          egressLimit: { rateBps: 10_000_000, burstBits: plan.egress!.policerBurstBits },
          ingressLimit: { rateBps: 10_000_000, burstBits: plan.ingress!.policerBurstBits },
        },
        { ...n().podB, ifname: 'hB', pod: 'shop/cart-0', egressLimit: null, ingressLimit: null },
      ].sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true })),
    );
    // the same through $PODWIRE_LAB_STATE, as a table
    const r = await n().cli(['endpoints', '--node', n().nodeName], { PODWIRE_LAB_STATE: n().labState });
    expect(r.exitCode).toBe(0);
    const rowA = r.stdout.split('\n').find((l) => l.startsWith(`${n().podA.ip} `));
    const si = (b: number) => `${+(b / 1e6).toFixed(2)}M`;
    const lim = `10M/${si(plan.egress!.policerBurstBits)}`;
    const limIn = `10M/${si(plan.ingress!.policerBurstBits)}`;
    expect(rowA?.split(/\s+/)).toEqual([n().podA.ip, String(n().podA.ifindex), 'hA', n().podA.podMac, n().podA.hostMac, '10', lim, limIn, 'default/web-a']);
    const rowB = r.stdout.split('\n').find((l) => l.startsWith(`${n().podB.ip} `));
    expect(rowB?.split(/\s+/).slice(6, 8)).toEqual(['-', '-']);
    expect(r.stdout).toMatch(/^# endpoints of node node-\w+, pin dir \/sys\/fs\/bpf\/pwcli-\w+: 2 \(limits: /m);
  });

  it('routes: pod CIDRs with kind and node IP, and the node config', async () => {
    const out = await json(['routes', '--pin-dir', n().pinDir]);
    expect(out['routes']).toEqual([
      { cidr: '10.244.0.0/24', nodeIp: '192.168.77.1', kind: 'local' },
      { cidr: '10.244.9.0/24', nodeIp: '192.168.77.2', kind: 'remote' },
      { cidr: '10.244.10.0/24', nodeIp: '10.99.99.99', kind: 'remote' },
    ]);
    expect(out['nodeConfig']).toEqual({ mode: 'native', nodeIp: '192.168.77.1', uplinkIfindex: n().ifindex['up0'], vxlanIfindex: 0, vni: 0 });
    const text = (await n().cli(['routes', '--node', n().nodeName, '--lab-state', n().labState])).stdout;
    expect(text).toContain(`# node: mode native, node IP 192.168.77.1, uplink ${n().ifindex['up0']} (up0), vxlan -, vni 0`);
    expect(text.split('\n')).toContain('10.244.9.0/24   remote  192.168.77.2');
  });

  it('counters: packets and bytes per reason and direction, summed over CPUs, by name', async () => {
    const out = await json(['counters', '--pin-dir', n().pinDir]);
    const frameLen = buildFrame({ src: n().podA.ip, dst: n().podB.ip, srcMac: n().podA.podMac, dstMac: n().podA.hostMac }).length;
    expect(out['counters']).toEqual([
      { reason: 'FWD_LOCAL_PEER', direction: 'EGRESS', packets: 3, bytes: 3 * frameLen },
      { reason: 'DROP_SPOOFED_SRC_IP', direction: 'EGRESS', packets: 2, bytes: 2 * frameLen },
    ]);
    const lines = (await n().cli(['counters', '--pin-dir', n().pinDir])).stdout.split('\n');
    expect(lines[1]).toMatch(/^REASON\s+EGRESS PKTS\s+EGRESS BYTES\s+INGRESS PKTS\s+INGRESS BYTES$/);
    expect(lines.find((l) => l.startsWith('FWD_LOCAL_PEER'))?.split(/\s+/)).toEqual(['FWD_LOCAL_PEER', '3', String(3 * frameLen), '0', '0']);
    const all = (await n().cli(['counters', '--pin-dir', n().pinDir, '--all'])).stdout;
    expect(all).toMatch(/^PASS_STACK_ARP\s+0\s+0\s+0\s+0$/m);
  });

  it('maps dump: a msgpack snapshot of every map with names and the layouts hash', async () => {
    const file = `${n().stateDir}/snap.mpk`;
    const r = await n().cli(['maps', 'dump', '--format', 'msgpack', '--node', n().nodeName, '--lab-state', n().labState, '--out', file]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^wrote .*snap\\.mpk: ${ALL_MAPS.length} maps, 203 entries, \\d+ bytes$`, 'm'));
    const snap = await decodeSnapshot(await readFile(file));
    expect(Object.keys(snap.maps).sort()).toEqual(ALL_MAPS);
    expect(snap.maps['monitor_events']!.entries).toHaveLength(0); // a ring buffer has no entries to dump
    expect(snap.maps['endpoints']!.entries).toHaveLength(2);
    expect(snap.maps['counters']!.percpu).toBe(true);
    expect(snap.node).toBe(n().nodeName);
    expect(snap.links.find((l) => l.name === 'hB')?.ifindex).toBe(n().podB.ifindex);
    expect(snap.pods.find((p) => p.ip === n().podB.ip)).toMatchObject({ namespace: 'shop', name: 'cart-0' });
    // to stdout (redirected) it is the same bytes format
    const piped = await run('sh', ['-c', `${JSON.stringify(podwireBin())} maps dump --pin-dir ${n().pinDir} | wc -c`]);
    expect(Number(piped.stdout.trim())).toBeGreaterThan(100);
  });

  it('errors say what is wrong and how to fix it', async () => {
    const missing = await n().cli(['endpoints', '--pin-dir', `${fakeDir}-none`]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain(`no podwire datapath at ${fakeDir}-none`);
    expect(missing.stderr).toContain('podwire datapath load --pin-dir');

    const noNode = await n().cli(['counters', '--node', 'nope', '--lab-state', n().labState]);
    expect(noNode.stderr).toContain(`the lab has no node "nope" (nodes: ${n().nodeName})`);
    const noLab = await n().cli(['counters', '--node', 'x', '--lab-state', `${n().stateDir}/absent.json`]);
    expect(noLab.stderr).toContain('no lab is running');
    const both = await n().cli(['counters', '--node', 'x', '--pin-dir', n().pinDir]);
    expect(both.stderr).toContain('--node and --pin-dir both pick the maps to read: give only one');

    // a pinned map with this name but another definition (an older/newer datapath)
    await mkdir(`${fakeDir}/maps`, { recursive: true });
    await run('bpftool', ['map', 'create', `${fakeDir}/maps/endpoints`, 'type', 'hash', 'key', '4', 'value', '4', 'entries', '8', 'name', 'endpoints']);
    const mismatch = await n().cli(['endpoints', '--pin-dir', fakeDir]);
    expect(mismatch.exitCode).toBe(1);
    expect(mismatch.stderr).toContain('does not match this build');
    expect(mismatch.stderr).toContain(`podwire datapath unload --pin-dir ${fakeDir}`);
    const listed = JSON.parse((await n().cli(['maps', 'list', '--pin-dir', fakeDir, '-o', 'json'])).stdout) as { maps: Array<{ layout: string }> };
    expect(listed.maps.map((m) => m.layout)).toEqual(['mismatch']);

    // not root: BPF objects cannot be opened
    const nobody = await run('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, podwireBin(), 'maps', 'list', '--pin-dir', n().pinDir], { reject: false });
    expect(nobody.exitCode).toBe(1);
    expect(nobody.stderr).toMatch(/permission denied opening .*: reading BPF maps needs root/);

    const badFormat = await n().cli(['maps', 'list', '--pin-dir', n().pinDir, '-o', 'yaml']);
    expect(badFormat.stderr).toContain('-o yaml: use text or json');
  });
});
