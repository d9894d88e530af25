// `podwire monitor`: a live stream of datapath events (drops, policy verdicts, sampled forwards)
// from the node's ring buffer (bpf/lib/monitor.h), read by build/bin/pw-monitor. One readable line
// per event, or -o json (one object per line). Events the datapath could not emit (per-CPU rate
// limit, full ring buffer) are counted in the monitor_cpu map and reported on stderr.
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { PodwireError } from '../errors/index.js';
import { outputFormat } from './table.js';
import { resolveTarget, targetOptions, type TargetFlags } from './target.js';

interface MonitorFlags extends TargetFlags {
  type: string[];
  pod?: string;
  reason?: string;
  output?: string;
  sample?: string;
  rate: string;
  count?: string;
}

const TYPES = ['drop', 'policy', 'trace'];
/** Output the terminal or pipe has not taken yet beyond which events are skipped (and counted). */
const MAX_PENDING_BYTES = 4 << 20;

function positive(flag: string, v: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > 0xffffffff) throw new PodwireError('USAGE', `${flag} ${v}: not an integer >= ${min}`);
  return n;
}

async function monitor(f: MonitorFlags): Promise<void> {
  const fmt = outputFormat(f.output);
  const types = new Set(f.type.flatMap((t) => t.split(',')).map((t) => t.trim().toLowerCase()).filter(Boolean));
  if (types.size === 0) for (const t of ['drop', 'policy']) types.add(t);
  for (const t of types) if (!TYPES.includes(t)) throw new PodwireError('USAGE', `--type ${t}: use drop, policy or trace (repeat the flag or separate with commas)`);
  const { reasonNames, monitorTypeBit, hasMonitor, readMonitorStats } = await loadMaps();
  let reason: string | undefined;
  if (f.reason !== undefined) {
    reason = f.reason.toUpperCase().replace(/^PW_REASON_/, '');
    if (!reasonNames.includes(reason) || reason === 'UNSPEC' || reason === 'MAX') {
      throw new PodwireError('USAGE', `--reason ${f.reason}: no such reason; use one of ${reasonNames.filter((r) => r !== 'UNSPEC' && r !== 'MAX').join(', ')}`);
    }
  }
  if (f.pod !== undefined && !/^[^/\s]+\/[^/\s]+$/.test(f.pod)) throw new PodwireError('USAGE', `--pod ${f.pod}: give NAMESPACE/NAME, e.g. default/web-1`);
  if (f.sample !== undefined && !types.has('trace')) throw new PodwireError('USAGE', '--sample N samples forwarded packets: add --type trace');
  const sample = types.has('trace') ? positive('--sample', f.sample ?? '100') : 0;
  const rate = positive('--rate', f.rate);
  const count = f.count === undefined ? undefined : positive('--count', f.count);

  const t = await resolveTarget(f);
  if (!hasMonitor(t.pinDir)) {
    const { pinnedMapNames } = await import('../maps/pinned.js');
    pinnedMapNames(t.pinDir); // "no datapath at …" first
    throw new PodwireError('MAP_LAYOUT_MISMATCH', `the datapath at ${t.pinDir} has no monitor maps (loaded by an older podwire): reload it with \`podwire datapath load --pin-dir ${t.pinDir}\``);
  }
  const node = t.node ?? hostname();
  const { PodResolver } = await import('../monitor/pods.js');
  const { Listener } = await import('../monitor/listener.js');
  const { toMonitorEvent, matches, formatLine, monotonicToWallOffsetNs } = await import('../monitor/view.js');
  const pods = new PodResolver({ pinDir: t.pinDir, stateDir: t.stateDir, labPods: t.labPods, ...(t.netnsPath ? { netnsPath: t.netnsPath } : {}) });
  await pods.refresh();

  const filter = { types, ...(f.pod ? { pod: f.pod } : {}), ...(reason ? { reason } : {}) };
  // the gate emits only the types asked for (bpf/lib/monitor.h)
  let mask = 0;
  for (const ty of types) mask |= monitorTypeBit(ty) ?? 0;
  const wallOffsetNs = monotonicToWallOffsetNs();
  const start = readMonitorStats(t.pinDir);
  let last = start;
  let printed = 0;
  let received = 0;
  let skipped = 0;
  let stopping = false;
  let chain = Promise.resolve();
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));

  const listener = new Listener({ pinDir: t.pinDir, types: mask, sample, rate }, (raw) => {
    received++;
    chain = chain.then(async () => {
      if (stopping || (count !== undefined && printed >= count)) return;
      const pod = await pods.pod(raw);
      const ifname = pods.ifname(raw.ifindex);
      const ev = toMonitorEvent(raw, { node, pod, wallOffsetNs, ...(ifname ? { ifname } : {}) });
      if (!matches(ev, filter)) return;
      if (process.stdout.writableLength > MAX_PENDING_BYTES) {
        skipped++;
        return;
      }
      process.stdout.write(`${fmt === 'json' ? JSON.stringify(ev) : formatLine(ev)}\n`);
      printed++;
      if (count !== undefined && printed >= count) done();
    });
  });
  const say = (s: string) => process.stderr.write(`# ${s}\n`);
  const lostSince = (a: typeof start, b: typeof start) => ({ rate: b.lostRate - a.lostRate, full: b.lostFull - a.lostFull });
  const onSignal = () => done();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.on('error', () => done()); // EPIPE: the reader went away
  let helperGone = false; // pw-monitor exited before we stopped it
  void listener.exited.then(() => {
    helperGone = true;
    done();
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await listener.ready;
    say(`monitoring ${t.node ? `node ${t.node}, ` : ''}pin dir ${t.pinDir}: ${[...types].join(', ')}${sample ? ` (trace: 1 in ${sample} per CPU)` : ''}, at most ${rate} events/s per CPU; Ctrl-C to stop`);
    timer = setInterval(() => {
      try {
        const now = readMonitorStats(t.pinDir);
        const l = lostSince(last, now);
        if (l.rate > 0n || l.full > 0n) say(`lost ${l.rate + l.full} events in the last second (rate limit ${l.rate}, ring buffer full ${l.full})`);
        last = now;
      } catch {
        // the datapath is being reloaded: report at the next tick
      }
    }, 1000);
    await finished;
  } finally {
    if (timer) clearInterval(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    const rc = await listener.stop();
    await chain;
    stopping = true;
    await listener.ready; // pw-monitor failed before the gate opened: its own error, no summary
    let lost = { rate: 0n, full: 0n };
    try {
      lost = lostSince(start, readMonitorStats(t.pinDir));
    } catch {
      // reported as 0: the maps went away with the datapath
    }
    say(
      `${printed} events printed of ${received} received; lost in the datapath: ${lost.rate} over the rate limit, ${lost.full} ring buffer full` +
        (skipped ? `; ${skipped} skipped (output too slow)` : ''),
    );
    if (helperGone && rc !== 0) {
      throw new PodwireError('EXEC_FAILED', `pw-monitor (the ring buffer reader) exited with ${rc > 128 ? `signal ${rc - 128}` : `status ${rc}`}; the datapath closes the gate when its lease runs out`);
    }
  }
}

async function loadMaps() {
  const [{ reasonNames }, m] = await Promise.all([import('../maps/counters.js'), import('../maps/monitor.js')]);
  return { reasonNames, ...m };
}

export function registerMonitor(program: Command): void {
  targetOptions(
    program
      .command('monitor')
      .description('live datapath events: drops, policy verdicts, sampled forwards (one line each, or -o json)')
      .option('--type <type...>', 'drop, policy, trace (repeatable or comma-separated; default drop,policy)', [])
      .option('--pod <ns/name>', 'only events of this pod')
      .option('--reason <reason>', 'only this reason, e.g. DROP_SPOOFED_SRC_IP (the counters\' names)')
      .option('--sample <n>', 'trace: one in N forwarded packets per CPU (default 100)')
      .option('--rate <n>', 'events per CPU per second the datapath may emit; more are counted as lost', '1000')
      .option('--count <n>', 'exit after N events were printed')
      .option('-o, --output <format>', 'text or json', 'text'),
  ).action(async (f: MonitorFlags) => monitor(f));
}
