// The result model. `Row` is the interface of bench/results/latest.json (issue 5): keep its
// field names. Raw samples are kept next to it so every median can be re-derived.
import { loadavg } from 'node:os';
import { median, summarise } from './stats.js';

export type Unit = 'Gbit/s' | 'pps' | 'us' | 'ns/pkt' | 'ms' | '%' | 'entries/s' | 'MB' | 's' | 'count';

/** Whether a larger value is better (throughput) or worse (latency, cost). */
export type Better = 'higher' | 'lower';

export interface Row {
  topology: string;
  metric: string;
  unit: Unit;
  median: number;
  min: number;
  max: number;
  samples: number;
  /** median / the limit row's median for the same metric (null when there is no limit row). */
  ratio: number | null;
  /** The topology this row is compared with (`direct`, `underlay`, `empty`, …), or null. */
  ratioTo: string | null;
}

export interface Sample {
  section: Section;
  topology: string;
  metric: string;
  unit: Unit;
  value: number;
  /** Repetition index (0-based) — interleaving is visible in the raw file. */
  rep: number;
  at: string;
  /** 1-minute load average when the sample was taken: other work on the machine skews samples. */
  load1: number;
  /** Tool-specific extras (loss, retransmits, sent packets, …). */
  extra?: Record<string, unknown>;
}

export type Section = 'forwarding' | 'prog-cost' | 'control-plane' | 'scale' | 'prefilter';

export interface BenchError {
  section: Section;
  topology: string;
  stage: string;
  message: string;
}

/** What each metric means and which way is better; also the limit row it is compared with. */
export interface MetricInfo {
  unit: Unit;
  better: Better;
  /** Secondary metrics are printed but the report does not judge targets on them. */
  secondary?: boolean;
  /** No ratio to the limit row (e.g. loss: a ratio of two near-zero shares means nothing). */
  noRatio?: boolean;
  describe: string;
}

export class Collector {
  readonly samples: Sample[] = [];
  readonly errors: BenchError[] = [];
  readonly notes: string[] = [];
  /** topology -> the limit topology it is compared with. */
  readonly limits = new Map<string, string>();
  readonly metricInfo = new Map<string, MetricInfo>();

  add(s: Omit<Sample, 'at' | 'load1'>): void {
    this.samples.push({ ...s, at: new Date().toISOString(), load1: Math.round(loadavg()[0]! * 100) / 100 });
  }

  /** Median and maximum 1-minute load average over the samples (for the report's caveat). */
  load(): { median: number; max: number } | undefined {
    const l = this.samples.map((s) => s.load1);
    return l.length ? { median: median(l), max: Math.max(...l) } : undefined;
  }

  error(e: BenchError): void {
    this.errors.push(e);
  }

  rows(): Row[] {
    const groups = new Map<string, Sample[]>();
    for (const s of this.samples) {
      const k = `${s.topology}\u0000${s.metric}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = []));
      g.push(s);
    }
    const medians = new Map<string, number>();
    const rows: Row[] = [];
    for (const [k, g] of groups) {
      const first = g[0]!;
      const sum = summarise(g.map((s) => s.value));
      medians.set(k, sum.median);
      rows.push({ topology: first.topology, metric: first.metric, unit: first.unit, ...sum, ratio: null, ratioTo: null });
    }
    for (const r of rows) {
      const limit = this.limits.get(r.topology);
      if (!limit || this.metricInfo.get(r.metric)?.noRatio) continue;
      const base = medians.get(`${limit}\u0000${r.metric}`);
      if (base === undefined || base === 0 || !Number.isFinite(base)) continue;
      r.ratioTo = limit;
      r.ratio = r.median / base;
    }
    return rows;
  }
}
