// Reading a scrape back for people: the demo and the lab print a few headline numbers from a
// node's real /metrics. Only the sample lines of the text format are read (names, labels,
// values); HELP/TYPE and comments are skipped. The exposition itself is always prom-client's.
import { run } from '../exec/run.js';
import { PodwireError } from '../errors/index.js';

export interface ScrapedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseSamples(text: string): ScrapedSample[] {
  const out: ScrapedSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(LABEL)) labels[k!] = v!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** GET a /metrics URL with curl, inside a network namespace when given (lab nodes). */
export async function fetchMetrics(url: string, netnsPath?: string): Promise<string> {
  const r = await run('curl', ['-sS', '--fail', '--max-time', '30', url], { reject: false, ...(netnsPath === undefined ? {} : { netns: netnsPath }) });
  if (r.exitCode !== 0) throw new PodwireError('IO_FAILED', `scraping ${url} failed: ${r.stderr.trim() || `curl exit ${r.exitCode}`}`);
  return r.stdout;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');

/** One line of headline numbers from a scrape. */
export function headline(samples: ScrapedSample[]): string {
  const sum = (name: string, pred: (l: Record<string, string>) => boolean = () => true) =>
    samples.filter((s) => s.name === name && pred(s.labels)).reduce((a, s) => a + s.value, 0);
  const byVerdict = (v: string) => sum('podwire_datapath_packets_total', (l) => l['verdict'] === v);
  const drops = samples.filter((s) => s.name === 'podwire_datapath_packets_total' && s.labels['verdict'] === 'drop' && s.value > 0).sort((a, b) => b.value - a.value);
  const fullest = samples.filter((s) => s.name === 'podwire_bpf_map_pressure').sort((a, b) => b.value - a.value)[0];
  const cniAdds = sum('podwire_cni_operation_duration_seconds_count', (l) => l['command'] === 'ADD');
  return [
    `${fmt(sum('podwire_endpoints'))} endpoints`,
    `forwarded ${fmt(byVerdict('forward'))} pkts`,
    `to the stack ${fmt(byVerdict('pass'))}`,
    `dropped ${fmt(byVerdict('drop'))}${drops[0] ? ` (top: ${drops[0].labels['reason']} ${fmt(drops[0].value)})` : ''}`,
    fullest ? `fullest map ${fullest.labels['map']} ${(fullest.value * 100).toFixed(3)}%` : 'no map pressure',
    `CNI ADDs on the socket ${fmt(cniAdds)}`,
    `reconciles ${fmt(sum('podwire_reconcile_duration_seconds_count'))}`,
  ].join(' · ');
}
