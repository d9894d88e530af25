// Long-lived flows for tests that change the network under traffic: a TCP stream (a sink that
// reports the bytes it received every 100 ms and sends a byte back every 50 ms, a client writing
// as fast as the socket takes) and
// a ping that reports every reply with its timestamp. Both are bounded in time and stopped by
// their PIDs; their reports are parsed as they arrive.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { PodwireError } from '../errors/index.js';

const SINK = `
const net = require('node:net');
const [ip, port, maxS] = process.argv.slice(1);
let bytes = 0, conns = 0;
// the sink also talks back (a byte every 50 ms): the server side of the flow keeps sending, as most
// real servers do, so a datapath that loses track of the flow's direction shows it deterministically
const srv = net.createServer((s) => { conns++; const talk = setInterval(() => s.write('k'), 50); s.on('data', (d) => { bytes += d.length; }); s.on('error', () => {}); s.on('close', () => { clearInterval(talk); process.stdout.write('closed ' + Date.now() + '\\n'); }); });
srv.listen(Number(port), ip, () => process.stdout.write('ready\\n'));
setInterval(() => process.stdout.write('rx ' + Date.now() + ' ' + bytes + ' ' + conns + '\\n'), 100);
setTimeout(() => process.exit(0), Number(maxS) * 1000);
`;

const SOURCE = `
const net = require('node:net');
const [ip, port, maxS] = process.argv.slice(1);
const chunk = Buffer.alloc(16384, 120);
const s = net.connect({ host: ip, port: Number(port) }, () => { process.stdout.write('connected\\n'); pump(); });
function pump() { while (s.write(chunk)) {} }
s.on('drain', pump);
s.on('error', (e) => { process.stdout.write('error ' + Date.now() + ' ' + (e.code || e) + '\\n'); process.exit(1); });
s.on('close', () => { process.stdout.write('closed ' + Date.now() + '\\n'); process.exit(1); });
setTimeout(() => process.exit(0), Number(maxS) * 1000);
`;

interface Proc {
  child: ChildProcess;
  lines: string[];
}

function start(netns: string, args: string[]): Proc {
  const child = spawn('nsenter', [`--net=${netns}`, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => lines.push(`stderr ${d.toString().trim()}`));
  return { child, lines };
}

async function waitFor(p: Proc, what: string, line: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!p.lines.includes(line)) {
    if (Date.now() > deadline || p.child.exitCode !== null) throw new PodwireError('IO_FAILED', `${what}: no "${line}" within ${timeoutMs} ms: ${p.lines.slice(-5).join(' | ')}`);
    await sleep(20);
  }
}

function stop(p: Proc): void {
  if (p.child.exitCode === null && p.child.pid) process.kill(p.child.pid, 'SIGKILL');
}

export interface TcpStream {
  /** Bytes the sink had received, every 100 ms: [time ms, total bytes]. */
  received(): Array<[number, number]>;
  /** The client's end, if it ended ("error <t> <code>", "closed <t>"); undefined while it streams. */
  clientEnd(): string | undefined;
  stop(): void;
}

export async function startTcpStream(server: { netns: string; ip: string }, clientNetns: string, opts: { port?: number; maxSeconds?: number } = {}): Promise<TcpStream> {
  const port = String(opts.port ?? 5001);
  const maxS = String(opts.maxSeconds ?? 120);
  const sink = start(server.netns, [process.execPath, '-e', SINK, server.ip, port, maxS]);
  let source: Proc | undefined;
  try {
    await waitFor(sink, 'stream sink', 'ready');
    source = start(clientNetns, [process.execPath, '-e', SOURCE, server.ip, port, maxS]);
    await waitFor(source, 'stream source', 'connected');
  } catch (e) {
    stop(sink);
    if (source) stop(source);
    throw e;
  }
  const src = source;
  return {
    received: () => sink.lines.filter((l) => l.startsWith('rx ')).map((l) => { const [, t, b] = l.split(' '); return [Number(t), Number(b)] as [number, number]; }),
    clientEnd: () => src.lines.find((l) => l.startsWith('error ') || l.startsWith('closed ')),
    stop: () => { stop(src); stop(sink); },
  };
}

export interface PingRun {
  /** Every echo reply: [time ms (ping -D), icmp_seq]. */
  replies(): Array<[number, number]>;
  stop(): void;
}

export function startPing(fromNetns: string, dst: string, opts: { intervalS?: number; maxSeconds?: number } = {}): PingRun {
  const p = start(fromNetns, ['ping', '-D', '-n', '-i', String(opts.intervalS ?? 0.1), '-w', String(opts.maxSeconds ?? 120), dst]);
  return {
    replies: () => p.lines.flatMap((l) => { const m = /^\[([\d.]+)\].*icmp_seq=(\d+)/.exec(l); return m && l.includes('bytes from') ? [[Math.round(Number(m[1]) * 1000), Number(m[2])] as [number, number]] : []; }),
    stop: () => stop(p),
  };
}

/** Bytes received between two times (from the sink's 100 ms reports). */
export function bytesBetween(samples: ReadonlyArray<[number, number]>, from: number, to: number): number {
  const at = (t: number) => { let b = 0; for (const [ts, n] of samples) if (ts <= t) b = n; return b; };
  return at(to) - at(from);
}

/** The longest time the byte count did not grow between two times, in ms. */
export function longestStall(samples: ReadonlyArray<[number, number]>, from: number, to: number): number {
  let worst = 0;
  let lastGrowth = from;
  let prev: number | undefined;
  for (const [t, b] of samples) {
    if (t < from || t > to) { if (t < from) prev = b; continue; }
    if (prev === undefined || b > prev) lastGrowth = t;
    worst = Math.max(worst, t - lastGrowth);
    prev = b;
  }
  return worst;
}
