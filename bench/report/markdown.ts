// The Markdown report: machine, targets next to the measured ratios (with absolute values),
// every row, errors, and the closing note on where podwire falls short and why. The "why" is
// bench/report/findings.md — written from investigation, not generated — included verbatim.
import type { Machine } from '../machine.js';
import type { BenchError, MetricInfo, Row } from '../results.js';
import { fmt, ISSUE_BASELINES, judge } from './targets.js';

export interface ReportInput {
  machine: Machine;
  startedAt: string;
  finishedAt: string;
  mode: 'full' | 'quick';
  options: Record<string, unknown>;
  rows: Row[];
  errors: BenchError[];
  notes: string[];
  metricInfo: Map<string, MetricInfo>;
  findings?: string;
}

function rowTable(rows: Row[]): string[] {
  const out = ['| topology | metric | median | min–max | n | ratio |', '| --- | --- | ---: | ---: | ---: | --- |'];
  for (const r of rows) {
    out.push(`| ${r.topology} | ${r.metric} | ${fmt(r.median)} ${r.unit} | ${fmt(r.min)}–${fmt(r.max)} | ${r.samples} | ${r.ratio === null ? '' : `${r.ratio.toFixed(3)}× ${r.ratioTo}`} |`);
  }
  return out;
}

export function renderMarkdown(i: ReportInput): string {
  const m = i.machine;
  const out: string[] = [];
  out.push(`# podwire benchmark — ${i.mode === 'quick' ? 'QUICK run (1 repetition, short runs, scaled-down simulation: indicative only)' : 'full run'}`);
  out.push('');
  out.push(`Started ${i.startedAt}, finished ${i.finishedAt}. Machine: ${m.cpuModel}, ${m.cpus} CPUs, ${m.memoryMB} MB, kernel ${m.kernel} (${m.os}), Node ${m.node}, ${m.iperf3}, sockperf ${m.sockperf.replace(/^sockperf, version /, '')}, BPF JIT ${m.bpfJit}.`);
  out.push(`Mitigations: ${m.mitigations}.`);
  out.push('');
  out.push(`Options: \`${JSON.stringify(i.options)}\`. Every forwarding figure is the median of interleaved repetitions (round-robin over the topologies, rotating the start each repetition); ratios are to the limit row measured in the same run (\`direct\` veth pair for same-node rows, \`underlay\` node-to-node for cross-node rows). Raw samples and machine facts: \`latest.raw.json\`.`);
  for (const n of i.notes) out.push('', `> ${n}`);

  out.push('', '## Targets (issue 5)', '', '| target | measured | status | absolute |', '| --- | ---: | --- | --- |');
  for (const v of judge(i.rows)) {
    const meas = v.measured === null ? '—' : v.target.kind === 'value' ? `${fmt(v.measured)} ${v.target.unit ?? ''}` : `${v.measured.toFixed(3)}×`;
    out.push(`| ${v.target.what} | ${meas} | ${v.status === 'met' ? 'met' : v.status === 'missed' ? '**missed**' : 'not measured'} | ${v.detail} |`);
  }

  const fwd = i.rows.filter((r) => i.metricInfo.get(r.metric) && !['prog-cost'].includes(r.topology) && r.metric !== 'drop_pps' && r.unit !== 'ns/pkt' && ['Gbit/s', 'pps', 'us', '%'].includes(r.unit));
  if (fwd.length) {
    out.push('', '## Forwarding', '');
    out.push('| topology | tcp1c Gbit/s | udp64 pps | udp64 loss | rr p50 µs | rr p99 µs | issue baseline |', '| --- | ---: | ---: | ---: | ---: | ---: | --- |');
    const tops = [...new Set(fwd.map((r) => r.topology))];
    const cell = (t: string, metric: string) => {
      const r = fwd.find((x) => x.topology === t && x.metric === metric);
      if (!r) return '—';
      return r.ratio === null || metric === 'udp64_loss_pct' ? fmt(r.median) : `${fmt(r.median)} (${r.ratio.toFixed(2)}×)`;
    };
    for (const t of tops) {
      const base = ISSUE_BASELINES.filter((b) => b.topology === t).map((b) => `${b.metric} ${b.ratio}×`).join(', ');
      out.push(`| ${t} | ${cell(t, 'tcp1c_gbps')} | ${cell(t, 'udp64_pps')} | ${cell(t, 'udp64_loss_pct')}% | ${cell(t, 'rr_p50_us')} | ${cell(t, 'rr_p99_us')} | ${base} |`);
    }
    out.push('', 'Metric definitions:', '');
    for (const [k, v] of i.metricInfo) if (fwd.some((r) => r.metric === k)) out.push(`- \`${k}\`${v.secondary ? ' (secondary)' : ''}: ${v.describe}`);
  }

  const drops = i.rows.filter((r) => r.metric === 'drop_pps');
  if (drops.length) {
    out.push('', '## Prefilter: a 64 B flood from a listed source, dropped on the same veth uplink', '');
    out.push('| topology | drop pps | min–max | ratio |', '| --- | ---: | ---: | --- |');
    for (const r of drops) out.push(`| ${r.topology} | ${fmt(r.median)} | ${fmt(r.min)}–${fmt(r.max)} | ${r.ratio === null ? '' : `${r.ratio.toFixed(2)}× ${r.ratioTo}`} |`);
    const info = i.metricInfo.get('drop_pps');
    if (info) out.push('', `\`drop_pps\`: ${info.describe}`);
  }

  out.push('', '## Every row', '', ...rowTable(i.rows));

  if (i.errors.length) {
    out.push('', '## Errors (these rows are missing or incomplete)', '');
    for (const e of i.errors) out.push(`- ${e.section} / ${e.topology} / ${e.stage}: ${e.message.split('\n')[0]}`);
  }

  const missed = judge(i.rows).filter((v) => v.status !== 'met');
  out.push('', '## Where podwire falls short', '');
  if (missed.length === 0) out.push('Every target was met in this run.');
  for (const v of missed) out.push(`- ${v.target.what}: ${v.status === 'missed' ? `measured ${v.measured === null ? '—' : v.target.kind === 'value' ? `${fmt(v.measured)} ${v.target.unit ?? ''}` : `${v.measured.toFixed(3)}×`} (${v.detail})` : 'not measured in this run (see Errors)'}.`);
  if (i.findings) out.push('', '## Why, and what would close it', '', i.findings.trim());
  return `${out.join('\n')}\n`;
}
