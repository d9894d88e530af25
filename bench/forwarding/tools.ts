// The traffic tools of the forwarding benchmark, each run inside the namespaces a topology
// made and pinned to CPUs with taskset. Servers are started per measurement and ended by their
// PID; every client run is bounded by its own duration plus a timeout.
//
// CPU placement (2 cores, CPU 0 and CPU 1):
//  - tcp1c and rr: client and server both on CPU 1, so the whole path (both stacks, the
//    forwarding in softirq, the wake-ups) is serialised on one core: the figure is the path's
//    CPU cost, not scheduler luck. CPU 0 keeps the orchestrating Node process.
//  - udp64: sender on CPU 0, receiver on CPU 1. On veth paths the sender's CPU runs the entire
//    forwarding path in softirq; putting the (slow) receiving application on the other core
//    keeps it from stealing that CPU, so the rate measures the path.
//  - secondary rr_xcpu: client CPU 0, server CPU 1; tcp4s: four streams, unpinned.
import { execa, type ResultPromise } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import { PodwireError } from '../../src/errors/index.js';
import { run } from '../../src/exec/run.js';

export interface Endpoints {
  /** Namespace path of the client (sender) and of the server (receiver). */
  client: string;
  server: string;
  serverIp: string;
  /** The address the client sends to, when it is not the server's own (a Service IP the node
   * DNATs to serverIp); default serverIp. */
  dialIp?: string;
}

const dialIp = (e: Endpoints): string => e.dialIp ?? e.serverIp;

const IPERF_PORT = 5201;
const SOCKPERF_PORT = 11111;

function spawnIn(netns: string, cpu: number | undefined, cmd: string, args: string[]): ResultPromise {
  const pinned = cpu === undefined ? [cmd, ...args] : ['taskset', '-c', String(cpu), cmd, ...args];
  // nsenter execs (no fork) and so does taskset: the child's PID is the tool's PID
  return execa('nsenter', [`--net=${netns}`, '--', ...pinned], { reject: false, stdin: 'ignore' });
}

async function runIn(netns: string, cpu: number | undefined, cmd: string, args: string[], timeoutMs: number) {
  const pinned = cpu === undefined ? [cmd, ...args] : ['taskset', '-c', String(cpu), cmd, ...args];
  return run(pinned[0]!, pinned.slice(1), { netns, reject: false, timeoutMs });
}

/** Wait until a TCP port listens inside a namespace (bounded). */
async function waitListening(netns: string, port: number, server: ResultPromise, what: string): Promise<void> {
  let exited = false;
  void server.then(() => {
    exited = true;
  });
  for (let i = 0; i < 100; i++) {
    const r = await run('ss', ['-Hltn', `sport = :${port}`], { netns, reject: false });
    if (r.stdout.trim() !== '') return;
    if (exited) break;
    await sleep(20);
  }
  const r = await server;
  throw new PodwireError('EXEC_FAILED', `${what} server did not listen on :${port} in ${netns}: ${String(r.stderr ?? '').slice(0, 300)}`);
}

async function stop(server: ResultPromise): Promise<void> {
  if (server.pid !== undefined && server.exitCode === null) server.kill('SIGTERM');
  const t = setTimeout(() => server.kill('SIGKILL'), 3000);
  await server;
  clearTimeout(t);
}

interface IperfJson {
  end: {
    sum_received?: { bits_per_second: number };
    sum_sent?: { retransmits?: number };
    sum?: { packets?: number; seconds?: number; lost_packets?: number };
  };
  error?: string;
}

async function iperf(e: Endpoints, o: { serverCpu?: number; clientCpu?: number; args: string[]; seconds: number }): Promise<IperfJson> {
  const server = spawnIn(e.server, o.serverCpu, 'iperf3', ['-s', '-1', '-B', e.serverIp, '-p', String(IPERF_PORT)]);
  try {
    await waitListening(e.server, IPERF_PORT, server, 'iperf3');
    const r = await runIn(e.client, o.clientCpu, 'iperf3', ['-c', dialIp(e), '-p', String(IPERF_PORT), '-t', String(o.seconds), '-J', ...o.args], (o.seconds + 20) * 1000);
    let j: IperfJson | undefined;
    try {
      j = JSON.parse(r.stdout) as IperfJson;
    } catch {
      j = undefined;
    }
    if (r.exitCode !== 0 || !j || j.error) {
      throw new PodwireError('EXEC_FAILED', `iperf3 ${o.args.join(' ')} to ${dialIp(e)} failed: ${j?.error ?? (r.stderr || r.stdout).slice(0, 300)}`);
    }
    return j;
  } finally {
    await stop(server);
  }
}

/** TCP single stream, client and server on CPU 1. */
export async function tcp1c(e: Endpoints, seconds: number): Promise<{ gbps: number; retransmits: number }> {
  const j = await iperf(e, { serverCpu: 1, clientCpu: 1, args: [], seconds });
  return { gbps: (j.end.sum_received?.bits_per_second ?? 0) / 1e9, retransmits: j.end.sum_sent?.retransmits ?? 0 };
}

/** TCP, four streams, unpinned (secondary: on two cores this mostly measures the scheduler). */
export async function tcp4s(e: Endpoints, seconds: number): Promise<{ gbps: number }> {
  const j = await iperf(e, { args: ['-P', '4'], seconds });
  return { gbps: (j.end.sum_received?.bits_per_second ?? 0) / 1e9 };
}

/** The server namespace's UDP counters: datagrams that reached the UDP layer (queued or not). */
async function udpArrivals(netns: string): Promise<number> {
  const r = await run('cat', ['/proc/net/snmp'], { netns });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const get = (n: string) => Number(values[names.indexOf(n)] ?? Number.NaN);
  // InErrors includes RcvbufErrors: datagrams the path delivered that the slow receiving
  // application had no buffer space for. They crossed the datapath, so they count as arrived.
  return get('InDatagrams') + get('InErrors');
}

/**
 * UDP with 64-byte payloads as fast as iperf3 sends them (sender CPU 0, receiver CPU 1).
 * pps = datagrams that reached the receiver's UDP layer per second; loss = the share of sent
 * datagrams that never got there (dropped on the path).
 */
export async function udp64(e: Endpoints, seconds: number): Promise<{ pps: number; lossPct: number; sent: number; arrived: number; appReceivedPps: number }> {
  const before = await udpArrivals(e.server);
  const j = await iperf(e, { serverCpu: 1, clientCpu: 0, args: ['-u', '-l', '64', '-b', '0'], seconds });
  const after = await udpArrivals(e.server);
  const sent = j.end.sum?.packets ?? 0;
  const secs = j.end.sum?.seconds ?? seconds;
  const arrived = Math.min(after - before, sent);
  const appReceived = sent - (j.end.sum?.lost_packets ?? 0);
  return { pps: arrived / secs, lossPct: sent > 0 ? (100 * (sent - arrived)) / sent : 100, sent, arrived, appReceivedPps: appReceived / secs };
}

/** TCP ping-pong latency (round trip, µs) with sockperf; p50 and p99. */
export async function rr(e: Endpoints, seconds: number, cpus: { client: number; server: number }): Promise<{ p50: number; p99: number; observations: number }> {
  const server = spawnIn(e.server, cpus.server, 'sockperf', ['sr', '--tcp', '-i', e.serverIp, '-p', String(SOCKPERF_PORT)]);
  try {
    await waitListening(e.server, SOCKPERF_PORT, server, 'sockperf');
    const r = await runIn(
      e.client,
      cpus.client,
      'sockperf',
      ['pp', '--tcp', '-i', dialIp(e), '-p', String(SOCKPERF_PORT), '-t', String(seconds), '-m', '64', '--full-rtt'],
      (seconds + 20) * 1000,
    );
    const text = (r.stdout + r.stderr).replace(/\u001b\[[0-9;]*m/g, '');
    const pct = (p: string) => Number(new RegExp(`percentile ${p} =\\s*([\\d.]+)`).exec(text)?.[1] ?? Number.NaN);
    const p50 = pct('50\\.000');
    const p99 = pct('99\\.000');
    const observations = Number(/Total (\d+) observations/.exec(text)?.[1] ?? 0);
    if (r.exitCode !== 0 || !Number.isFinite(p50) || !Number.isFinite(p99)) {
      throw new PodwireError('EXEC_FAILED', `sockperf ping-pong to ${dialIp(e)} failed (exit ${r.exitCode}): ${text.slice(-400)}`);
    }
    return { p50, p99, observations };
  } finally {
    await stop(server);
  }
}
