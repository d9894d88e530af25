// `podwire monitor` (bin/podwire, as an operator runs it) on a real datapath: from_pod attached with
// tcx to a pod's host veth, real frames written to the veth's pod end with a packet socket. N
// spoofed frames raise DROP_SPOOFED_SRC_IP by exactly N and the monitor prints exactly N events
// with the pod and reason; with no listener the ring buffer's producer position does not move; a
// listener that is SIGKILLed (the CLI, or pw-monitor itself) leaves the gate closed; one reader
// per node; sampled forwards (--type trace); and a flood keeps the CLI and /metrics answering while
// every drop is either an emitted event or a counted lost one.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monitorHelper, podwireBin } from '../../src/assets/index.js';
import { run } from '../../src/exec/run.js';
import { attachFromPod } from '../../src/loader/index.js';
import { openCounters } from '../../src/maps/index.js';
import { monotonicNs } from '../../src/maps/conntrack.js';
import { readMonitorConfig, readMonitorStats } from '../../src/maps/monitor.js';
import { scrape, watchDatapath } from '../../src/metrics/index.js';
import { waitFor } from '../agent/harness.js';
import { ipv4Frame, l4Ports } from '../bpf/packets.js';
import { parseExposition, sample } from '../metrics/parse.js';
import { createCliNode, type CliNode } from './fixture.js';

const SPOOFED = 25;
const SPOOF_SRC = '10.244.0.200';
let node: CliNode | undefined;
const n = () => node!;
const procs: ChildProcess[] = [];

interface Mon {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `podwire monitor ARGS` and waits until it reports the gate open. */
async function startMonitor(args: string[]): Promise<Mon> {
  const child = spawn(podwireBin(), ['monitor', '--node', n().nodeName, '--lab-state', n().labState, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  let gone = false;
  const exited = new Promise<number | null>((r) =>
    child.on('close', (code) => {
      gone = true;
      r(code);
    }),
  );
  await waitFor('the monitor to open the gate (or exit)', () => err.includes('# monitoring') || gone, 30_000, 50);
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function stopMonitor(m: Mon): Promise<number | null> {
  m.child.kill('SIGINT');
  return m.exited;
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Raw frames written to pA (the pod end of hA's veth pair): they meet from_pod on hA's ingress. */
async function send(frame: Buffer, count: number): Promise<void> {
  const py = [
    'import socket, sys',
    's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
    "s.bind(('pA', 0))",
    'f = bytes.fromhex(sys.argv[1])',
    'for _ in range(int(sys.argv[2])): s.send(f)',
  ].join('\n');
  // one CPU: the per-CPU sampling of --type trace is then exact
  await n().ns.exec('taskset', ['-c', '0', '/usr/bin/python3', '-c', py, frame.toString('hex'), String(count)]);
}

/** Sends as fast as one Python process can for `seconds`; returns the frames sent. */
async function flood(frame: Buffer, seconds: number): Promise<number> {
  const py = [
    'import socket, sys, time',
    's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
    "s.bind(('pA', 0))",
    'f = bytes.fromhex(sys.argv[1])',
    'end = time.monotonic() + float(sys.argv[2]); n = 0',
    'while time.monotonic() < end:',
    '    for _ in range(1000): s.send(f)',
    '    n += 1000',
    'print(n)',
  ].join('\n');
  const r = await n().ns.exec('/usr/bin/python3', ['-c', py, frame.toString('hex'), String(seconds)], { timeoutMs: (seconds + 30) * 1000 });
  return Number(r.stdout.trim());
}

function dropped(reason = 'DROP_SPOOFED_SRC_IP'): bigint {
  const c = openCounters(n().pinDir);
  try {
    return c.read().find((r) => r.reason === reason && r.direction === 'EGRESS')?.packets ?? 0n;
  } finally {
    c.close();
  }
}

async function positions(): Promise<{ consumer: number; producer: number }> {
  const r = await run(monitorHelper(), ['--pin-dir', n().pinDir, '--positions']);
  return JSON.parse(r.stdout) as { consumer: number; producer: number };
}

const spoofFrame = () => ipv4Frame({ dmac: n().podA.hostMac, smac: n().podA.podMac, saddr: SPOOF_SRC, daddr: n().podB.ip, payload: l4Ports(40000, 8080, 12) });

beforeAll(async () => {
  node = await createCliNode();
  // no router solicitations or MLD from pA: the only frames hA sees are the test's
  await n().ns.exec('sysctl', ['-qw', 'net.ipv6.conf.pA.disable_ipv6=1', 'net.ipv6.conf.hA.disable_ipv6=1']);
  await attachFromPod('hA', n().pinDir, { netns: n().ns.path });
  watchDatapath(n().pinDir);
}, 120_000);

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await node?.remove();
});

describe('podwire monitor', () => {
  it('no listener: the gate is closed and the ring buffer receives nothing while drops are counted', async () => {
    expect(readMonitorConfig(n().pinDir).leaseNs).toBe(0n);
    const before = await positions();
    const d0 = dropped();
    await send(spoofFrame(), SPOOFED);
    await waitFor('the drops to be counted', () => dropped() - d0 >= BigInt(SPOOFED));
    expect(dropped() - d0).toBe(BigInt(SPOOFED));
    expect(await positions()).toEqual(before);
    expect(readMonitorStats(n().pinDir).emitted).toBe(0n);
  });

  it(`${SPOOFED} spoofed frames: the counter rises by exactly ${SPOOFED} and -o json prints ${SPOOFED} events with pod and reason`, async () => {
    const m = await startMonitor(['-o', 'json']);
    const lease = readMonitorConfig(n().pinDir);
    expect(lease.leaseNs).toBeGreaterThan(monotonicNs());
    const d0 = dropped();
    const frame = spoofFrame();
    await send(frame, SPOOFED);
    await waitFor('the events', () => jsonLines(m.stdout()).length >= SPOOFED, 30_000);
    expect(dropped() - d0).toBe(BigInt(SPOOFED));
    expect(await stopMonitor(m)).toBe(0);
    const events = jsonLines(m.stdout());
    expect(events).toHaveLength(SPOOFED);
    for (const e of events) {
      expect(e).toMatchObject({
        node: n().nodeName,
        type: 'drop',
        reason: 'DROP_SPOOFED_SRC_IP',
        direction: 'EGRESS',
        pod: 'default/web-a',
        ifname: 'hA',
        src: SPOOF_SRC,
        dst: n().podB.ip,
        proto: 'udp',
        sport: 40000,
        dport: 8080,
        len: frame.length,
      });
      expect(Date.parse(e['time'] as string)).toBeGreaterThan(Date.now() - 120_000);
    }
    expect(m.stderr()).toMatch(new RegExp(`# ${SPOOFED} events printed of ${SPOOFED} received; lost in the datapath: 0 over the rate limit, 0 ring buffer full`));
    // a clean exit closes the gate
    expect(readMonitorConfig(n().pinDir).leaseNs).toBe(0n);
  });

  it('the readable line and the filters: --pod and --reason select, a wrong --reason names the valid ones', async () => {
    const m = await startMonitor(['--pod', 'default/web-a', '--reason', 'DROP_SPOOFED_SRC_IP']);
    const other = await startMonitor(['--pod', 'shop/cart-0']).catch((e: unknown) => e);
    // one reader per node: the second listener is refused
    expect(other).not.toBeInstanceOf(Error);
    const second = other as Mon;
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toMatch(/another monitor is reading .* the ring buffer has one reader/);
    await send(spoofFrame(), 3);
    await waitFor('3 lines', () => m.stdout().split('\n').filter(Boolean).length >= 3, 30_000);
    expect(await stopMonitor(m)).toBe(0);
    const lines = m.stdout().split('\n').filter(Boolean);
    expect(lines).toHaveLength(3);
    for (const l of lines) {
      expect(l).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{9} ${n().nodeName} drop DROP_SPOOFED_SRC_IP EGRESS default/web-a \\(hA\\) ${SPOOF_SRC.replace(/\./g, '\\.')}:40000 -> ${n().podB.ip.replace(/\./g, '\\.')}:8080 udp len \\d+$`));
    }
    const bad = await n().cli(['monitor', '--pin-dir', n().pinDir, '--reason', 'DROP_NOPE']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/--reason DROP_NOPE: no such reason; use one of .*DROP_SPOOFED_SRC_IP/);
  });

  it('--count N: exits by itself after N events, closing the gate', async () => {
    const m = await startMonitor(['--count', '2', '-o', 'json']);
    await send(spoofFrame(), 3);
    expect(await m.exited).toBe(0);
    expect(jsonLines(m.stdout())).toHaveLength(2);
    expect(readMonitorConfig(n().pinDir).leaseNs).toBe(0n);
  });

  it('--type trace --sample 10: one in ten forwards, as FWD_LOCAL_PEER trace events of the sending pod', async () => {
    const m = await startMonitor(['--type', 'trace', '--sample', '10', '-o', 'json']);
    const fwd = ipv4Frame({ dmac: n().podA.hostMac, smac: n().podA.podMac, saddr: n().podA.ip, daddr: n().podB.ip, payload: l4Ports(5000, 53, 12) });
    const f0 = dropped('FWD_LOCAL_PEER');
    await send(fwd, 50);
    await waitFor('the forwards to be counted', () => dropped('FWD_LOCAL_PEER') - f0 >= 50n);
    await waitFor('5 events', () => jsonLines(m.stdout()).length >= 5, 30_000);
    expect(await stopMonitor(m)).toBe(0);
    const events = jsonLines(m.stdout());
    expect(events).toHaveLength(5);
    for (const e of events) expect(e).toMatchObject({ type: 'trace', reason: 'FWD_LOCAL_PEER', action: 'redirect_peer', pod: 'default/web-a', src: n().podA.ip, dst: n().podB.ip, sport: 5000, dport: 53 });
  });

  it('a listener that disconnects turns the gate off: the CLI SIGKILLed, then pw-monitor itself SIGKILLed', async () => {
    // 1. the CLI dies: pw-monitor's stdin pipe closes and it closes the gate
    const a = await startMonitor([]);
    expect(readMonitorConfig(n().pinDir).leaseNs).toBeGreaterThan(0n);
    a.child.kill('SIGKILL');
    await a.exited;
    await waitFor('the gate to close', () => readMonitorConfig(n().pinDir).leaseNs === 0n, 10_000);

    // 2. the reader itself dies: nobody writes lease 0; once the lease ran out the next packet
    // closes the gate in the datapath, and that packet costs no ring-buffer work
    const b = await startMonitor([]);
    const children = readFileSync(`/proc/${b.child.pid}/task/${b.child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    const helper = children.find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'pw-monitor');
    expect(helper).toBeDefined();
    process.kill(helper!, 'SIGKILL');
    expect(await b.exited).toBe(1);
    expect(b.stderr()).toMatch(/pw-monitor \(the ring buffer reader\) exited with signal 9/);
    const lease = readMonitorConfig(n().pinDir).leaseNs;
    expect(lease).toBeGreaterThan(0n);
    await waitFor('the lease to run out', () => monotonicNs() > lease, 10_000, 100);
    await new Promise((r) => setTimeout(r, 100)); // the datapath compares with the coarse clock (a tick behind)
    const before = await positions();
    const emitted = readMonitorStats(n().pinDir).emitted;
    await send(spoofFrame(), 1);
    await waitFor('the gate to close', () => readMonitorConfig(n().pinDir).leaseNs === 0n, 10_000);
    expect(await positions()).toEqual(before);
    expect(readMonitorStats(n().pinDir).emitted).toBe(emitted);
  });

  it('a flood of spoofed frames: the CLI and /metrics keep answering, every drop is an event or a counted lost one', async () => {
    const m = await startMonitor(['-o', 'json', '--rate', '200']);
    const s0 = readMonitorStats(n().pinDir);
    const d0 = dropped();
    const sending = flood(spoofFrame(), 4);
    // while the flood runs: another CLI command and a scrape answer
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    const counters = await n().cli(['counters', '--pin-dir', n().pinDir, '-o', 'json']);
    const cliMs = Date.now() - t0;
    expect(counters.exitCode).toBe(0);
    const t1 = Date.now();
    const mid = parseExposition((await scrape()).body);
    const scrapeMs = Date.now() - t1;
    expect(sample(mid, 'podwire_monitor_listening')).toBe(1);
    const sent = await sending;
    await waitFor('the last events', () => {
      const s = readMonitorStats(n().pinDir);
      return jsonLines(m.stdout()).length >= Number(s.emitted - s0.emitted);
    }, 30_000, 200);
    expect(await stopMonitor(m)).toBe(0);
    const s1 = readMonitorStats(n().pinDir);
    const drops = dropped() - d0;
    const emitted = s1.emitted - s0.emitted;
    const lost = s1.lostRate - s0.lostRate + (s1.lostFull - s0.lostFull);
    // every drop while the gate was open is accounted for, and the limiter did its work
    expect(emitted + lost).toBe(drops);
    expect(s1.lostRate - s0.lostRate).toBeGreaterThan(0n);
    expect(jsonLines(m.stdout())).toHaveLength(Number(emitted));
    const summary = m.stderr().match(/# (\d+) events printed of (\d+) received; lost in the datapath: (\d+) over the rate limit, (\d+) ring buffer full/);
    expect(summary).not.toBeNull();
    expect(BigInt(summary![3]!) + BigInt(summary![4]!)).toBe(lost);
    expect(m.stderr()).toMatch(/# lost \d+ events in the last second \(rate limit \d+, ring buffer full \d+\)/);
    const after = parseExposition((await scrape()).body);
    expect(sample(after, 'podwire_monitor_events_lost_total', { cause: 'rate_limit' })).toBe(Number(s1.lostRate));
    expect(sample(after, 'podwire_monitor_events_total')).toBe(Number(s1.emitted));
    expect(sample(after, 'podwire_monitor_listening')).toBe(0);
    console.log(
      `flood: ${sent} frames sent in 4 s (${Math.round(sent / 4)}/s), ${drops} dropped by from_pod, ${emitted} events, ${lost} lost; ` +
        `\`podwire counters\` took ${cliMs} ms and a scrape ${scrapeMs} ms during the flood; load average ${readFileSync('/proc/loadavg', 'utf8').trim()}`,
    );
  }, 120_000);
});
