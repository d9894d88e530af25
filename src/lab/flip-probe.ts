// A continuous connection prober for "when did the network change?" measurements: from one
// namespace, start a new TCP connection to a target every `everyMs` (each with its own short
// timeout, so attempts overlap) for `durationMs`, and report every attempt's start time (epoch
// ms, sub-ms precision) and whether the target answered. `flipTime` reads the moment the target
// settled into a state: the start of the last run of attempts that all had that outcome.
import { run } from '../exec/run.js';

const PROBER = `
const net = require('node:net');
const [host, port, everyMs, timeoutMs, durationMs] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const now = () => performance.timeOrigin + performance.now();
const out = [];
const pending = new Set();
const t0 = now();
function attempt() {
  const start = now();
  const p = new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok) => { clearTimeout(t); s.destroy(); resolve([Math.round(start * 100) / 100, ok ? 1 : 0]); };
    const t = setTimeout(() => done(false), timeoutMs);
    s.on('data', () => done(true));
    s.on('error', () => done(false));
  });
  pending.add(p);
  p.then((r) => { out.push(r); pending.delete(p); });
}
const timer = setInterval(() => { if (now() - t0 > durationMs) { clearInterval(timer); Promise.all(pending).then(() => { setTimeout(() => process.stdout.write(JSON.stringify(out.sort((a, b) => a[0] - b[0]))), 0); }); return; } attempt(); }, everyMs);
`;

/** [start epoch ms, answered] per attempt, in start order. */
export type Attempts = Array<[number, 0 | 1]>;

export async function probeContinuously(fromNetns: string, host: string, port: number, opts: { everyMs?: number; timeoutMs?: number; durationMs: number }): Promise<Attempts> {
  const r = await run(process.execPath, ['-e', PROBER, host, String(port), String(opts.everyMs ?? 10), String(opts.timeoutMs ?? 150), String(opts.durationMs)], {
    netns: fromNetns,
    timeoutMs: opts.durationMs + 30_000,
  });
  return JSON.parse(r.stdout) as Attempts;
}

/**
 * When the target settled into `state` (answering or not): the start of the first attempt of
 * the final run of attempts with that outcome; undefined if the last attempt had the other one.
 */
export function flipTime(attempts: Attempts, state: boolean): number | undefined {
  const want = state ? 1 : 0;
  if (!attempts.length || attempts[attempts.length - 1]![1] !== want) return undefined;
  let i = attempts.length - 1;
  while (i > 0 && attempts[i - 1]![1] === want) i--;
  return attempts[i]![0];
}
