// /metrics of a real `podwire agent` (exec'd in a node namespace against the lab API server, as
// the lab and a DaemonSet run it), scraped with curl from inside the node namespace and parsed by
// prometheus_client: every family has HELP/TYPE, counters only rise across scrapes, N spoofed
// frames sent from a pod's eth0 (a real veth, wired by a CNI ADD served on the agent's socket)
// raise the DROP_SPOOFED_SRC_IP counter by exactly N, and the pushed families (CNI operations,
// informer lists and relists, reconcile, datapath load) move when their events happen.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { AgentCluster, readLog, waitFor, type AgentProc, type TestNode } from '../agent/harness.js';
import { request } from '../agent/cni-server-proc.js';
import { ipv4Frame } from '../bpf/packets.js';
import { parseExposition, sample, seriesKey, type Family } from './parse.js';

const CONFLIST = '05-podwire.conflist';
const SPOOFED = 25;

let cluster: AgentCluster;
let node: TestNode;
let agent: AgentProc;
let pod: Netns | undefined;
const containerId = `ctr-metrics-${process.pid}`;

async function scrapeAt(url: string): Promise<{ status: number; body: string; contentType: string }> {
  const r = await run('curl', ['-sS', '--max-time', '30', '-w', '\n%{http_code} %{content_type}', url], { netns: node.netns.path, reject: false });
  const nl = r.stdout.lastIndexOf('\n');
  const [status, ...ct] = r.stdout.slice(nl + 1).split(' ');
  return { status: Number(status), body: r.stdout.slice(0, nl), contentType: ct.join(' ') };
}

async function scrape(url = 'http://127.0.0.1:9879/metrics'): Promise<Family[]> {
  const r = await scrapeAt(url);
  expect(r.status, r.body.slice(0, 500)).toBe(200);
  expect(r.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(r.body);
}

/** Samples of monotonic series: counters (the _total samples) and histogram buckets, counts and sums. */
function monotonic(f: Family[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const fam of f) {
    if (fam.type !== 'counter' && fam.type !== 'histogram') continue;
    for (const s of fam.samples) if (!s.name.endsWith('_created')) out.set(seriesKey(s), s.value);
  }
  return out;
}

function expectRise(before: Family[], after: Family[]): number {
  const a = monotonic(before);
  const b = monotonic(after);
  let compared = 0;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined) continue; // a series may appear, but none may go down
    expect(w, k).toBeGreaterThanOrEqual(v);
    compared++;
  }
  return compared;
}

function pluginConf(): Record<string, unknown> {
  const conf = JSON.parse(readFileSync(join(node.confDir, CONFLIST), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
  return { ...conf.plugins[0], cniVersion: conf.cniVersion, name: conf.name };
}

const cniEnv = (command: string, netns: string) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: containerId,
  CNI_NETNS: netns,
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=metrics-pod',
  CNI_PATH: '/usr/lib/cni',
});

beforeAll(async () => {
  cluster = await AgentCluster.create('pwmt');
  node = await cluster.addNode('node-m');
  await cluster.createNodeObject('node-m', node.ip);
  agent = cluster.startAgent(node);
  await waitFor('the agent to be ready', async () => (await cluster.readyz(node)) === 200, 180_000, 500);
}, 240_000);

afterAll(async () => {
  await pod?.remove();
  await cluster?.cleanup();
}, 60_000);

describe('the agent\'s /metrics', () => {
  let first: Family[];

  it('serves every family with HELP and TYPE on the health listener, build info and the datapath load included', async () => {
    first = await scrape();
    const names = first.map((f) => f.name);
    for (const fam of first) {
      expect(fam.type, fam.name).not.toBe('unknown');
      expect(fam.help, fam.name).not.toBe('');
      expect(fam.name.startsWith('podwire_'), fam.name).toBe(true);
    }
    expect(names).toEqual(
      expect.arrayContaining([
        'podwire_build_info',
        'podwire_datapath_packets',
        'podwire_datapath_bytes',
        'podwire_endpoints',
        'podwire_bpf_map_pressure',
        'podwire_bpf_map_entries',
        'podwire_bpf_map_capacity',
        'podwire_conntrack_entries',
        'podwire_conntrack_gc_runs',
        'podwire_k8s_watch_events',
        'podwire_k8s_lists',
        'podwire_k8s_relists',
        'podwire_k8s_watch_errors',
        'podwire_k8s_informer_restarts',
        'podwire_reconcile_duration_seconds',
        'podwire_cni_operation_duration_seconds',
        'podwire_veth_pool_events',
        'podwire_veth_pool_ready',
        'podwire_datapath_load_duration_seconds',
        'podwire_datapath_attach_duration_seconds',
        'podwire_policy_verdicts',
        'podwire_policy_warnings',
        'podwire_policy_runs',
        'podwire_policy_malformed_objects',
        'podwire_process_resident_memory_bytes',
      ]),
    );
    const version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
    // the agent runs in a node netns of this very kernel
    expect(sample(first, 'podwire_build_info', { version, kernel: release(), node: 'node-m' })).toBe(1);
    expect(sample(first, 'podwire_datapath_load_duration_seconds_count', { result: 'loaded' })).toBe(1);
    expect(sample(first, 'podwire_datapath_attach_duration_seconds_count', { target: 'node' })).toBe(1);
    expect(sample(first, 'podwire_k8s_lists_total', { informer: 'nodes' })).toBeGreaterThanOrEqual(1);
    expect(sample(first, 'podwire_k8s_watch_events_total', { informer: 'nodes', type: 'add' })).toBeGreaterThanOrEqual(1);
    const reconciles = first.find((f) => f.name === 'podwire_reconcile_duration_seconds')!.samples.filter((s) => s.name.endsWith('_count'));
    expect(reconciles.reduce((a, s) => a + s.value, 0)).toBeGreaterThanOrEqual(1);
    expect(sample(first, 'podwire_endpoints')).toBe(0);
    // /healthz and /readyz still answer next to it
    expect((await scrapeAt('http://127.0.0.1:9879/healthz')).status).toBe(200);
  });

  it('a CNI ADD on the agent socket is one ADD/success observation and one endpoint', async () => {
    pod = await createNetns('pwmtp');
    const socket = join(cluster.dir, node.name, 'cni.sock');
    const r = await request(socket, cniEnv('ADD', pod.path), JSON.stringify(pluginConf()));
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const f = await scrape();
    expect(sample(f, 'podwire_cni_operation_duration_seconds_count', { command: 'ADD', result: 'success' })).toBe(1);
    // the warm veth pool (default size 4) served it or, not filled yet, counted a miss
    const takes = f.flatMap((x) => x.samples).filter((x) => x.name === 'podwire_veth_pool_events_total' && (x.labels['event'] === 'hit' || x.labels['event'] === 'miss'));
    expect(takes.reduce((a, x) => a + x.value, 0)).toBe(1);
    expect(sample(f, 'podwire_endpoints')).toBe(1);
    expect(sample(f, 'podwire_bpf_map_entries', { map: 'endpoints' })).toBe(1);
    const cap = sample(f, 'podwire_bpf_map_capacity', { map: 'endpoints' });
    expect(sample(f, 'podwire_bpf_map_pressure', { map: 'endpoints' })).toBeCloseTo(1 / cap, 12);
    expect(expectRise(first, f)).toBeGreaterThan(50);
  });

  it(`${SPOOFED} frames with a spoofed source IP from the pod's eth0 raise DROP_SPOOFED_SRC_IP by exactly ${SPOOFED}`, async () => {
    const before = await scrape();
    const key = { reason: 'DROP_SPOOFED_SRC_IP', direction: 'EGRESS', verdict: 'drop' };
    const pkts0 = sample(before, 'podwire_datapath_packets_total', key);
    const bytes0 = sample(before, 'podwire_datapath_bytes_total', key);
    // the pod's own MAC and its gateway's (the host veth), as its kernel would address a frame
    const link = JSON.parse((await pod!.exec('ip', ['-j', 'link', 'show', 'eth0'])).stdout) as { address: string }[];
    const neigh = JSON.parse((await pod!.exec('ip', ['-j', 'neigh', 'show', '169.254.1.1', 'dev', 'eth0'])).stdout) as { lladdr: string }[];
    const frame = ipv4Frame({ dmac: neigh[0]!.lladdr, smac: link[0]!.address, saddr: '10.250.0.9', daddr: '10.250.0.10' });
    // raw frames written to the real veth: they meet from_pod on the host side, like any pod packet
    const py = [
      'import socket, sys',
      's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
      "s.bind(('eth0', 0))",
      'f = bytes.fromhex(sys.argv[1])',
      'for _ in range(int(sys.argv[2])): s.send(f)',
    ].join('\n');
    await pod!.exec('/usr/bin/python3', ['-c', py, frame.toString('hex'), String(SPOOFED)]);
    let after: Family[] = [];
    await waitFor('the spoofed frames to be counted', async () => {
      after = await scrape();
      return sample(after, 'podwire_datapath_packets_total', key) - pkts0 >= SPOOFED;
    }, 30_000, 200);
    expect(sample(after, 'podwire_datapath_packets_total', key) - pkts0).toBe(SPOOFED);
    expect(sample(after, 'podwire_datapath_bytes_total', key) - bytes0).toBe(SPOOFED * frame.length);
    expectRise(before, after);
  });

  it('a relist (410 Gone) and a failed watch (HTTP 500) show up as relists, errors and restarts', async () => {
    const before = await scrape();
    const relists0 = sample(before, 'podwire_k8s_relists_total', { informer: 'nodes' });
    await cluster.faults({ expireHistory: true });
    await waitFor('a nodes relist', async () => sample(await scrape(), 'podwire_k8s_relists_total', { informer: 'nodes' }) > relists0, 30_000, 300);
    const mid = await scrape();
    const errors0 = sample(mid, 'podwire_k8s_watch_errors_total', { informer: 'nodes' });
    const restarts0 = sample(mid, 'podwire_k8s_informer_restarts_total', { informer: 'nodes' });
    await cluster.faults({ failNextWatches: 4 });
    await cluster.faults({ closeWatches: true });
    let after: Family[] = [];
    await waitFor('a watch error and a restart', async () => {
      after = await scrape();
      return sample(after, 'podwire_k8s_watch_errors_total', { informer: 'nodes' }) > errors0 && sample(after, 'podwire_k8s_informer_restarts_total', { informer: 'nodes' }) > restarts0;
    }, 60_000, 300);
    // the log tells the same story
    expect(readLog(agent.log).some((l) => l.msg === 'watch failed; restarting' && l['statusCode'] === 500)).toBe(true);
    expectRise(before, after);
  });

  it('a CNI DEL is one DEL/success observation and the endpoint is gone', async () => {
    const socket = join(cluster.dir, node.name, 'cni.sock');
    const r = await request(socket, cniEnv('DEL', pod!.path), JSON.stringify(pluginConf()));
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const f = await scrape();
    expect(sample(f, 'podwire_cni_operation_duration_seconds_count', { command: 'DEL', result: 'success' })).toBe(1);
    expect(sample(f, 'podwire_endpoints')).toBe(0);
  });

  it('--metrics-listen moves /metrics to its own listener; a restarted agent adopts the datapath and keeps the counters', async () => {
    const before = await scrape();
    agent.child.kill('SIGTERM');
    await agent.exited;
    agent = cluster.startAgent(node, { extra: ['--metrics-listen', '127.0.0.1:9881'] });
    await waitFor('the restarted agent to be ready', async () => (await cluster.readyz(node)) === 200, 120_000, 500);
    const f = await scrape('http://127.0.0.1:9881/metrics');
    expect((await scrapeAt('http://127.0.0.1:9879/metrics')).status).toBe(404);
    expect(sample(f, 'podwire_datapath_load_duration_seconds_count', { result: 'adopted' })).toBe(1);
    const key = { reason: 'DROP_SPOOFED_SRC_IP', direction: 'EGRESS', verdict: 'drop' };
    // the map survived the restart: the datapath counters continue where they were
    expect(sample(f, 'podwire_datapath_packets_total', key)).toBe(sample(before, 'podwire_datapath_packets_total', key));
  }, 180_000);
});
