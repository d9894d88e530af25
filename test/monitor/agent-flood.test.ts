// `podwire monitor` next to a real `podwire agent` (exec'd in a node namespace against the lab API
// server, as in test/metrics/agent.test.ts), with a pod wired by a CNI ADD served on the agent's
// socket: the events name the pod from the agent's own IPAM records, N spoofed frames from the
// pod's eth0 are exactly N events and N counted drops, and a flood from the pod for a few seconds
// leaves the agent answering /readyz and /metrics, the monitor streaming, and the lost events
// counted in the CLI and in the agent's /metrics.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { createNetns, type Netns } from '../../src/netns/index.js';
import { AgentCluster, waitFor, type TestNode } from '../agent/harness.js';
import { request } from '../agent/cni-server-proc.js';
import { ipv4Frame, l4Ports } from '../bpf/packets.js';
import { parseExposition, sample, type Family } from '../metrics/parse.js';

const CONFLIST = '05-podwire.conflist';
const SPOOFED = 25;
const KEY = { reason: 'DROP_SPOOFED_SRC_IP', direction: 'EGRESS', verdict: 'drop' };

let cluster: AgentCluster;
let node: TestNode;
let pod: Netns | undefined;
let frame: Buffer;
let labState: string;
const procs: ChildProcess[] = [];
const containerId = `ctr-monitor-${process.pid}`;

async function get(path: string): Promise<{ status: number; body: string }> {
  const r = await run('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', `http://127.0.0.1:9879${path}`], { netns: node.netns.path, reject: false });
  const nl = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
}

async function scrape(): Promise<Family[]> {
  const r = await get('/metrics');
  expect(r.status).toBe(200);
  return parseExposition(r.body);
}

function pluginConf(): Record<string, unknown> {
  const conf = JSON.parse(readFileSync(join(node.confDir, CONFLIST), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
  return { ...conf.plugins[0], cniVersion: conf.cniVersion, name: conf.name };
}

interface Mon {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

async function startMonitor(args: string[]): Promise<Mon> {
  const child = spawn(podwireBin(), ['monitor', '--node', node.name, '--lab-state', labState, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(child);
  let out = '';
  let err = '';
  let gone = false;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) =>
    child.on('close', (code) => {
      gone = true;
      r(code);
    }),
  );
  await waitFor('the monitor to open the gate', () => err.includes('# monitoring') || gone, 30_000);
  expect(gone, err).toBe(false);
  return { child, out: () => out, err: () => err, exited };
}

const events = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Raw frames from the pod's eth0 (a packet socket): they meet from_pod on the host veth. */
const SENDER = [
  'import socket, sys, time',
  's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
  "s.bind(('eth0', 0))",
  'f = bytes.fromhex(sys.argv[1])',
  'if sys.argv[2] == "count":',
  '    for _ in range(int(sys.argv[3])): s.send(f)',
  'else:',
  '    end = time.monotonic() + float(sys.argv[3]); n = 0',
  '    while time.monotonic() < end:',
  '        for _ in range(1000): s.send(f)',
  '        n += 1000',
  '    print(n)',
].join('\n');

beforeAll(async () => {
  cluster = await AgentCluster.create('pwmn');
  node = await cluster.addNode('node-mon');
  await cluster.createNodeObject('node-mon', node.ip);
  cluster.startAgent(node);
  // the fields `--node` reads (a real lab writes many more): the node's pin dir, IPAM state and
  // network namespace (veth names are resolved there)
  labState = join(cluster.dir, 'lab.json');
  await writeFile(labState, JSON.stringify({ nodes: [{ name: node.name, netnsPath: node.netns.path, pinDir: node.pinDir, stateDir: node.stateDir }], pods: [] }));
  await waitFor('the agent to be ready', async () => (await cluster.readyz(node)) === 200, 180_000, 500);
  pod = await createNetns('pwmnp');
  // no router solicitations or MLD from the pod: the only frames it sends are the test's
  await pod.exec('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  const socket = join(cluster.dir, node.name, 'cni.sock');
  const env = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: containerId,
    CNI_NETNS: pod.path,
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=flood-0',
    CNI_PATH: '/usr/lib/cni',
  };
  const r = await request(socket, env, JSON.stringify(pluginConf()));
  expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  const link = JSON.parse((await pod.exec('ip', ['-j', 'link', 'show', 'eth0'])).stdout) as { address: string }[];
  const neigh = JSON.parse((await pod.exec('ip', ['-j', 'neigh', 'show', '169.254.1.1', 'dev', 'eth0'])).stdout) as { lladdr: string }[];
  frame = ipv4Frame({ dmac: neigh[0]!.lladdr, smac: link[0]!.address, saddr: '10.250.0.9', daddr: '10.250.0.10', payload: l4Ports(31000, 9090, 12) });
}, 240_000);

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await pod?.remove();
  await cluster?.cleanup();
}, 60_000);

describe('podwire monitor on an agent-run node', () => {
  it(`${SPOOFED} spoofed frames from a CNI-wired pod: ${SPOOFED} drops in the agent's /metrics and ${SPOOFED} events naming the pod`, async () => {
    const m = await startMonitor(['-o', 'json']);
    const before = sample(await scrape(), 'podwire_datapath_packets_total', KEY);
    await pod!.exec('/usr/bin/python3', ['-c', SENDER, frame.toString('hex'), 'count', String(SPOOFED)]);
    await waitFor('the events', () => events(m.out()).length >= SPOOFED, 30_000);
    const f = await scrape();
    expect(sample(f, 'podwire_datapath_packets_total', KEY) - before).toBe(SPOOFED);
    expect(sample(f, 'podwire_monitor_listening')).toBe(1);
    m.child.kill('SIGINT');
    expect(await m.exited).toBe(0);
    const ev = events(m.out());
    expect(ev).toHaveLength(SPOOFED);
    for (const e of ev) {
      expect(e).toMatchObject({ node: 'node-mon', type: 'drop', reason: 'DROP_SPOOFED_SRC_IP', direction: 'EGRESS', pod: 'shop/flood-0', src: '10.250.0.9', dst: '10.250.0.10', proto: 'udp', sport: 31000, dport: 9090, len: frame.length });
      expect(e['ifname']).toMatch(/^pw/);
    }
    expect(sample(await scrape(), 'podwire_monitor_listening')).toBe(0);
  });

  it('a flood from the pod: the agent answers /readyz and /metrics, the monitor streams, lost events are counted', async () => {
    const m = await startMonitor(['-o', 'json', '--rate', '300']);
    const f0 = await scrape();
    const lost0 = sample(f0, 'podwire_monitor_events_lost_total', { cause: 'rate_limit' });
    const sending = pod!.exec('/usr/bin/python3', ['-c', SENDER, frame.toString('hex'), 'seconds', '4'], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    expect((await get('/readyz')).status).toBe(200);
    const readyMs = Date.now() - t0;
    const t1 = Date.now();
    const mid = await scrape();
    const scrapeMs = Date.now() - t1;
    expect(sample(mid, 'podwire_monitor_listening')).toBe(1);
    const printedMid = events(m.out()).length;
    expect(printedMid).toBeGreaterThan(0);
    const sent = Number((await sending).stdout.trim());
    const after = await scrape();
    const lost = sample(after, 'podwire_monitor_events_lost_total', { cause: 'rate_limit' }) - lost0;
    expect(lost).toBeGreaterThan(0);
    m.child.kill('SIGINT');
    expect(await m.exited).toBe(0);
    const summary = m.err().match(/# (\d+) events printed of (\d+) received; lost in the datapath: (\d+) over the rate limit/);
    expect(summary).not.toBeNull();
    expect(Number(summary![3])).toBeGreaterThanOrEqual(lost);
    expect(Number(summary![1])).toBe(events(m.out()).length);
    console.log(
      `agent flood: ${sent} frames in 4 s (${Math.round(sent / 4)}/s); during it /readyz ${readyMs} ms, a /metrics scrape ${scrapeMs} ms; ` +
        `${events(m.out()).length} events printed, ${lost} lost (rate limit); load average ${readFileSync('/proc/loadavg', 'utf8').trim()}`,
    );
  }, 120_000);
});
