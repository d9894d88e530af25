// Real traffic between namespaces for the lab, the demo and the tests: ping, a TCP echo that
// reports the peer address the server saw (to prove no NAT), and iperf3 throughput. Every
// loop is bounded in count and time; every process started here is ended by its PID.
import { execa, type ResultPromise } from 'execa';
import { run } from '../exec/run.js';

export interface PingResult {
  ok: boolean;
  sent: number;
  received: number;
  rttAvgMs?: number;
  output: string;
}

export async function ping(fromNetns: string, dst: string, opts: { count?: number; intervalS?: number } = {}): Promise<PingResult> {
  const count = opts.count ?? 3;
  const r = await run('ping', ['-n', '-q', '-c', String(count), '-i', String(opts.intervalS ?? 0.2), '-W', '1', '-w', String(count + 2), dst], {
    netns: fromNetns,
    reject: false,
  });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  const sent = m ? Number(m[1]) : 0;
  const received = m ? Number(m[2]) : 0;
  return { ok: r.exitCode === 0 && received === sent && sent > 0, sent, received, rttAvgMs: rtt ? Number(rtt[1]) : undefined, output: r.stdout + r.stderr };
}

// A tiny TCP server: answers every connection with the address it saw as the peer, then closes.
const ECHO_SERVER = `
const net = require('node:net');
const [ip, port] = process.argv.slice(1);
const srv = net.createServer((s) => { s.on('error', () => {}); s.end(s.remoteAddress + '\\n'); });
srv.listen(Number(port), ip, () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(0), 120000).unref();
`;

const ECHO_CLIENT = `
const net = require('node:net');
const [ip, port] = process.argv.slice(1);
const s = net.connect({ host: ip, port: Number(port), timeout: 3000 });
let buf = '';
s.on('data', (d) => { buf += d; });
s.on('end', () => { process.stdout.write(buf); process.exit(0); });
s.on('timeout', () => { process.stderr.write('timeout'); process.exit(2); });
s.on('error', (e) => { process.stderr.write(String(e)); process.exit(1); });
`;

export interface TcpEchoServer {
  pid: number;
  stop(): Promise<void>;
}

/** Start a TCP echo-the-peer server in a namespace; resolves once it listens. */
export async function startTcpEcho(netns: string, ip: string, port: number): Promise<TcpEchoServer> {
  const child: ResultPromise = execa('nsenter', [`--net=${netns}`, '--', process.execPath, '-e', ECHO_SERVER, ip, String(port)], {
    reject: false,
    env: { NODE_EXTRA_CA_CERTS: undefined },
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`TCP echo server in ${netns} did not start`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void child.then((r) => {
      clearTimeout(timer);
      reject(new Error(`TCP echo server in ${netns} exited: ${String(r.stderr)}`));
    });
  });
  const pid = child.pid!;
  return {
    pid,
    stop: async () => {
      child.kill('SIGTERM');
      await child;
    },
  };
}

/** Connect from a namespace; returns the source address the server saw, or undefined. */
export async function tcpProbe(fromNetns: string, ip: string, port: number): Promise<{ ok: boolean; peerSeen?: string; error?: string }> {
  const r = await run('nsenter', [`--net=${fromNetns}`, '--', process.execPath, '-e', ECHO_CLIENT, ip, String(port)], {
    reject: false,
    timeoutMs: 10_000,
  });
  const seen = r.stdout.trim();
  return r.exitCode === 0 && seen ? { ok: true, peerSeen: seen.replace(/^::ffff:/, '') } : { ok: false, error: r.stderr || `exit ${r.exitCode}` };
}

export interface IperfResult {
  gbps: number;
  retransmits?: number;
  /** With opts.intervalS: the fewest bytes received in any interval (0: the stream stalled). */
  minIntervalBytes?: number;
}

/** Wait until something listens on a TCP port inside a namespace (bounded). */
export async function waitListening(netns: string, port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run('ss', ['-Hltn', `sport = :${port}`], { netns, reject: false });
    if (r.stdout.trim()) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} in ${netns} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** A bounded iperf3 TCP run from one namespace to another (server is one-shot). */
export async function iperfTcp(serverNetns: string, serverIp: string, clientNetns: string, opts: { seconds?: number; port?: number; intervalS?: number } = {}): Promise<IperfResult> {
  const port = opts.port ?? 5201;
  const seconds = opts.seconds ?? 2;
  const server = execa('nsenter', [`--net=${serverNetns}`, '--', 'iperf3', '-s', '-1', '-B', serverIp, '-p', String(port)], { reject: false });
  try {
    await waitListening(serverNetns, port);
    const r = await run('iperf3', ['-c', serverIp, '-p', String(port), '-t', String(seconds), ...(opts.intervalS ? ['-i', String(opts.intervalS)] : []), '-J'], {
      netns: clientNetns,
      reject: false,
      timeoutMs: (seconds + 15) * 1000,
    });
    let j: { error?: string; intervals?: Array<{ sum: { bytes: number } }>; end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } } } = {};
    try {
      j = JSON.parse(r.stdout) as typeof j;
    } catch {
      // reported below
    }
    const received = j.end?.sum_received?.bits_per_second;
    if (r.exitCode !== 0 || received === undefined) {
      throw new Error(`iperf3 to ${serverIp}:${port} failed: ${j.error ?? (r.stderr || r.stdout).slice(0, 500)}`);
    }
    const intervals = j.intervals?.map((i) => i.sum.bytes) ?? [];
    return { gbps: received / 1e9, retransmits: j.end?.sum_sent?.retransmits, ...(opts.intervalS && intervals.length ? { minIntervalBytes: Math.min(...intervals) } : {}) };
  } finally {
    server.kill('SIGTERM');
    await server;
  }
}

export interface IperfUdpResult {
  /** What the receiver got, bit/s. */
  receivedBps: number;
  /** What the sender offered, bit/s. */
  sentBps: number;
  lostPercent: number;
}

/** A UDP flood at offeredBps from clientNetns to serverIp (iperf3 -u), measured at the receiver. */
export async function iperfUdp(
  serverNetns: string,
  serverIp: string,
  clientNetns: string,
  opts: { seconds?: number; port?: number; offeredBps: number; length?: number },
): Promise<IperfUdpResult> {
  const port = opts.port ?? 5201;
  const seconds = opts.seconds ?? 2;
  const server = execa('nsenter', [`--net=${serverNetns}`, '--', 'iperf3', '-s', '-1', '-B', serverIp, '-p', String(port)], { reject: false });
  try {
    await waitListening(serverNetns, port);
    const args = ['-c', serverIp, '-p', String(port), '-u', '-b', String(opts.offeredBps), '-l', String(opts.length ?? 1400), '-t', String(seconds), '-J'];
    const r = await run('iperf3', args, { netns: clientNetns, reject: false, timeoutMs: (seconds + 15) * 1000 });
    type Sum = { bits_per_second: number; lost_percent?: number; bytes?: number; seconds?: number };
    let j: { error?: string; end?: { sum?: Sum; sum_sent?: Sum; sum_received?: Sum } } = {};
    try {
      j = JSON.parse(r.stdout) as typeof j;
    } catch {
      // reported below
    }
    const rx = j.end?.sum_received ?? j.end?.sum;
    if (r.exitCode !== 0 || rx === undefined) {
      throw new Error(`iperf3 -u to ${serverIp}:${port} failed: ${j.error ?? (r.stderr || r.stdout).slice(0, 500)}`);
    }
    return { receivedBps: rx.bits_per_second, sentBps: j.end?.sum_sent?.bits_per_second ?? rx.bits_per_second, lostPercent: j.end?.sum?.lost_percent ?? rx.lost_percent ?? 0 };
  } finally {
    server.kill('SIGTERM');
    await server;
  }
}
