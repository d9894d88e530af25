// `npm run bench`: forwarding next to the kernel's own dataplanes, per-packet program cost,
// control-plane rates and the scale simulation, in one run on one machine. Writes
//   OUT/latest.json      {machine, startedAt, rows: [{topology, metric, unit, median, min, max, samples, ratio, ratioTo}]}
//   OUT/latest.raw.json  every raw sample, machine facts, options, errors
//   OUT/latest.md        targets next to measured ratios, where podwire falls short and why
//   OUT/latest.svg       ratio chart
// and prints the table. Exit status 1 when any measurement failed (the rows are still written).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../src/assets/index.js';
import { isPodwireError } from '../src/errors/index.js';
import { runControlPlane } from './control/index.js';
import { runForwarding } from './forwarding/index.js';
import { machineFacts, type Machine } from './machine.js';
import { parseOptions, type BenchOptions } from './options.js';
import { runPrefilterBench } from './prefilter/index.js';
import { runProgCost } from './prog-cost/index.js';
import { Progress } from './progress.js';
import { renderMarkdown } from './report/markdown.js';
import { renderSvg } from './report/svg.js';
import { renderTable } from './report/table.js';
import { Collector, type BenchError, type MetricInfo, type Row, type Sample } from './results.js';
import { runScale } from './scale/index.js';
import { runPolicyScale } from './policy-scale/index.js';

async function writeAtomic(path: string, text: string): Promise<void> {
  // bench/results/*.tmp is git-ignored: a crashed run never leaves a half-written latest.*
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

interface RawFile {
  machine: Machine;
  startedAt: string;
  finishedAt: string;
  mode: 'full' | 'quick';
  options: Record<string, unknown>;
  samples: Sample[];
  errors: BenchError[];
  notes: string[];
  limits: Record<string, string>;
  metricInfo: Record<string, MetricInfo>;
}

async function measure(opts: BenchOptions): Promise<RawFile> {
  const progress = new Progress(opts.quiet);
  const col = new Collector();
  const startedAt = new Date().toISOString();
  const machine = await machineFacts();
  progress.section(`podwire bench (${opts.quick ? 'quick' : 'full'}): ${[...opts.sections].join(', ')} on ${machine.cpuModel}, ${machine.cpus} CPUs, kernel ${machine.kernel}`);
  if (opts.quick) col.notes.push('QUICK run: one repetition of 1-second measurements and a scaled-down simulation — indicative figures, not results.');

  if (opts.sections.has('forwarding') && opts.topologies.length) {
    progress.section(`forwarding: ${opts.topologies.join(', ')} — ${opts.reps} interleaved repetition(s) × ${opts.seconds} s`);
    await runForwarding({ topologies: opts.topologies, reps: opts.reps, seconds: opts.seconds, secondary: opts.secondary }, col, progress);
  }
  if (opts.sections.has('prog-cost')) {
    progress.section('per-packet program cost (BPF_PROG_TEST_RUN)');
    await runProgCost({ quick: opts.quick, ...(opts.bpfDir ? { bpfDir: opts.bpfDir } : {}), ...(opts.baselineBpfDir ? { baselineBpfDir: opts.baselineBpfDir } : {}) }, col, progress);
  }
  if (opts.sections.has('control-plane')) {
    progress.section('control plane');
    await runControlPlane({ quick: opts.quick }, col, progress);
  }
  if (opts.sections.has('scale')) {
    progress.section(`scale simulation: ${opts.scaleNodes.toLocaleString('en')} Nodes, ${opts.scalePods.toLocaleString('en')} Pods`);
    await runScale({ nodes: opts.scaleNodes, pods: opts.scalePods, quick: opts.quick }, col, progress);
  }
  if (opts.sections.has('policy-scale')) {
    progress.section('NetworkPolicy scale: 10,000 policies, 100,000 pods, 1,000 namespaces');
    await runPolicyScale({ quick: opts.quick }, col, progress);
  }

  if (opts.sections.has('prefilter')) {
    progress.section(`prefilter: 64 B flood from a listed source — XDP vs tc vs iptables raw, ${opts.reps} interleaved repetition(s) × ${opts.seconds} s`);
    await runPrefilterBench({ reps: opts.reps, seconds: opts.seconds }, col, progress);
  }

  const load = col.load();
  if (load && load.max > 1.5) {
    col.notes.push(
      `The machine was not idle: 1-minute load average median ${load.median.toFixed(2)}, max ${load.max.toFixed(2)} on ${machine.cpus} CPUs while samples were taken ` +
        '(per-sample values in latest.raw.json). Interleaving spreads that noise over all topologies, but min–max ranges are wide; compare ratios, not absolute figures.',
    );
  }
  const options = { quick: opts.quick, bpfDir: opts.bpfDir, sections: [...opts.sections], topologies: opts.topologies, reps: opts.reps, seconds: opts.seconds, secondary: opts.secondary, scaleNodes: opts.scaleNodes, scalePods: opts.scalePods };
  return {
    machine,
    startedAt,
    finishedAt: new Date().toISOString(),
    mode: opts.quick ? 'quick' : 'full',
    options,
    samples: col.samples,
    errors: col.errors,
    notes: col.notes,
    limits: Object.fromEntries(col.limits),
    metricInfo: Object.fromEntries(col.metricInfo),
  };
}

async function writeOutputs(raw: RawFile, outDir: string, writeRaw: boolean): Promise<{ rows: Row[] }> {
  const col = new Collector();
  col.samples.push(...raw.samples);
  for (const [k, v] of Object.entries(raw.limits)) col.limits.set(k, v);
  for (const [k, v] of Object.entries(raw.metricInfo)) col.metricInfo.set(k, v);
  const rows = col.rows();
  const { machine, startedAt, finishedAt, mode } = raw;
  await mkdir(outDir, { recursive: true });
  await writeAtomic(join(outDir, 'latest.json'), `${JSON.stringify({ machine, startedAt, finishedAt, mode, rows, errors: raw.errors, notes: raw.notes }, null, 2)}\n`);
  if (writeRaw) await writeAtomic(join(outDir, 'latest.raw.json'), `${JSON.stringify(raw, null, 2)}\n`);
  const findingsPath = join(packageRoot(), 'bench', 'report', 'findings.md');
  const findings = existsSync(findingsPath) ? readFileSync(findingsPath, 'utf8') : undefined;
  await writeAtomic(
    join(outDir, 'latest.md'),
    renderMarkdown({ machine, startedAt, finishedAt, mode, options: raw.options, rows, errors: raw.errors, notes: raw.notes, metricInfo: col.metricInfo, findings }),
  );
  await writeAtomic(join(outDir, 'latest.svg'), renderSvg(rows, `podwire vs kernel dataplanes — ${mode} run ${startedAt.slice(0, 16)}Z, ${machine.cpuModel}`));
  return { rows };
}

async function main(argv: string[]): Promise<number> {
  const opts = parseOptions(argv, join(packageRoot(), 'bench', 'results'));
  const raw = opts.render ? (JSON.parse(readFileSync(opts.render, 'utf8')) as RawFile) : await measure(opts);
  const { rows } = await writeOutputs(raw, opts.outDir, !opts.render);

  process.stdout.write(`\n${renderTable(rows)}\n\n`);
  for (const n of raw.notes) process.stdout.write(`note: ${n}\n`);
  process.stdout.write(`results: ${join(opts.outDir, 'latest.{json,raw.json,md,svg}')}\n`);
  if (raw.errors.length) {
    process.stderr.write(`\n${raw.errors.length} measurement(s) failed:\n`);
    for (const e of raw.errors) process.stderr.write(`  ${e.section}/${e.topology}/${e.stage}: ${e.message.split('\n')[0]}\n`);
    return 1;
  }
  return 0;
}

// `__scale-apiserver` is the scale simulation's own API server process (bench/scale), started
// by the bench itself inside a namespace; not a user-facing mode.
const argv = process.argv.slice(2);
const entry =
  argv[0] === '__scale-apiserver'
    ? import('./scale/apiserver.js').then((m) => m.scaleApiServer(argv.slice(1))).then(() => 0)
    : argv[0] === '__policy-scale'
      ? import('./policy-scale/worker.js').then((m) => m.policyScaleWorker(argv.slice(1))).then(() => 0)
      : main(argv);

entry.then(
  (code) => process.exit(code),
  (e: unknown) => {
    // commander's --help / --version / usage errors (exitOverride): it already printed them
    const c = e as { code?: string; exitCode?: number };
    if (typeof c.code === 'string' && c.code.startsWith('commander.')) process.exit(c.exitCode ?? 2);
    process.stderr.write(`bench: ${isPodwireError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(isPodwireError(e, 'USAGE') ? 2 : 1);
  },
);
