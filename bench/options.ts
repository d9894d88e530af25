// Command-line flags of `npm run bench` — the one place they are read and validated.
import { Command, InvalidArgumentError } from 'commander';
import { PodwireError } from '../src/errors/index.js';
import { ALL_TOPOLOGIES, CROSS_NODE, EXPERIMENTS, SAME_NODE, type TopologyName } from './forwarding/topology.js';

export type SectionName = 'forwarding' | 'prog-cost' | 'control-plane' | 'scale' | 'prefilter' | 'policy-scale' | 'bandwidth';

export interface BenchOptions {
  quick: boolean;
  sections: Set<SectionName>;
  topologies: TopologyName[];
  reps: number;
  seconds: number;
  secondary: boolean;
  outDir: string;
  scaleNodes: number;
  scalePods: number;
  quiet: boolean;
  /** prog-cost: measure the datapath built from this source tree instead of bpf/ (variant experiments). */
  bpfDir?: string;
  /** prog-cost: also load the datapath built from this copy of bpf/ and measure it in the same run. */
  baselineBpfDir?: string;
  /** Re-render the outputs from this latest.raw.json instead of measuring. */
  render?: string;
}

const GROUPS: Record<string, { sections: SectionName[]; topologies?: readonly TopologyName[] }> = {
  all: { sections: ['forwarding', 'prog-cost', 'control-plane', 'scale', 'prefilter', 'policy-scale', 'bandwidth'], topologies: ALL_TOPOLOGIES },
  forwarding: { sections: ['forwarding'], topologies: ALL_TOPOLOGIES },
  'same-node': { sections: ['forwarding'], topologies: SAME_NODE },
  'cross-node': { sections: ['forwarding'], topologies: CROSS_NODE },
  'prog-cost': { sections: ['prog-cost'] },
  'control-plane': { sections: ['control-plane'] },
  scale: { sections: ['scale'] },
  // the XDP / tc / iptables drop rows, and unlisted TCP with and without the prefilter attached
  prefilter: { sections: ['prefilter', 'forwarding'], topologies: ['podwire-native', 'podwire-native-prefilter'] },
  'policy-scale': { sections: ['policy-scale'] },
  bandwidth: { sections: ['bandwidth'] },
};

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer, got "${v}"`);
    return n;
  };
}

export function parseOptions(argv: string[], defaultOut: string): BenchOptions {
  const program = new Command('bench')
    .description('podwire benchmarks: forwarding vs kernel dataplanes, per-packet program cost, control plane, scale')
    .option('--quick', 'one repetition, 1-second runs, scaled-down simulation (what the test suite smoke-runs)')
    .option(
      '--only <list>',
      `comma-separated groups and/or topologies: ${Object.keys(GROUPS).join(', ')}, ${ALL_TOPOLOGIES.join(', ')} (limit rows are added automatically)`,
      'all',
    )
    .option('--reps <n>', 'interleaved repetitions of every forwarding measurement (default 5, --quick 1)', positiveInt('--reps'))
    .option('--seconds <n>', 'seconds per forwarding measurement (default 2, --quick 1)', positiveInt('--seconds'))
    .option('--no-secondary', 'skip cross-CPU latency and multi-stream TCP')
    .option('--out <dir>', 'where latest.{json,raw.json,md,svg} are written', defaultOut)
    .option('--scale-nodes <n>', 'simulated Nodes (default 65000, --quick 5000)', positiveInt('--scale-nodes'))
    .option('--scale-pods <n>', 'simulated Pods (default 1000000, --quick 50000)', positiveInt('--scale-pods'))
    .option('--quiet', 'no progress lines (errors are still printed)')
    .option('--render <raw.json>', 'measure nothing: rebuild latest.{json,md,svg} from a latest.raw.json (e.g. after editing bench/report/findings.md)')
    .option('--bpf-dir <dir>', 'prog-cost only: measure a datapath variant built from this copy of bpf/ (e.g. with a hot-path change) instead of bpf/')
    .option('--baseline-bpf-dir <dir>', 'prog-cost only: ALSO measure the datapath built from this copy of bpf/ (e.g. `git archive REF bpf | tar -x -C DIR`), rows baseline/<path>, in the same run')
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const o = program.opts<{ quick?: boolean; only: string; reps?: number; seconds?: number; secondary: boolean; out: string; scaleNodes?: number; scalePods?: number; quiet?: boolean; bpfDir?: string; baselineBpfDir?: string; render?: string }>();

  const sections = new Set<SectionName>();
  const topologies = new Set<TopologyName>();
  for (const item of o.only.split(',').map((s) => s.trim()).filter(Boolean)) {
    const g = GROUPS[item];
    if (g) {
      g.sections.forEach((s) => sections.add(s));
      g.topologies?.forEach((t) => topologies.add(t));
    } else if (([...ALL_TOPOLOGIES, ...EXPERIMENTS] as readonly string[]).includes(item)) {
      sections.add('forwarding');
      topologies.add(item as TopologyName);
    } else {
      throw new PodwireError('USAGE', `--only: unknown group or topology "${item}"; use ${[...Object.keys(GROUPS), ...ALL_TOPOLOGIES, ...EXPERIMENTS].join(', ')}`);
    }
  }
  // every row needs its limit row in the same run, or it has no ratio
  if ([...topologies].some((t) => SAME_NODE.includes(t))) topologies.add('direct');
  if ([...topologies].some((t) => CROSS_NODE.includes(t) || EXPERIMENTS.includes(t))) topologies.add('underlay');
  const quick = Boolean(o.quick);
  return {
    quick,
    sections,
    topologies: [...ALL_TOPOLOGIES, ...EXPERIMENTS].filter((t) => topologies.has(t)),
    reps: o.reps ?? (quick ? 1 : 5),
    seconds: o.seconds ?? (quick ? 1 : 2),
    secondary: o.secondary,
    outDir: o.out,
    scaleNodes: o.scaleNodes ?? (quick ? 5_000 : 65_000),
    scalePods: o.scalePods ?? (quick ? 50_000 : 1_000_000),
    quiet: Boolean(o.quiet),
    ...(o.bpfDir ? { bpfDir: o.bpfDir } : {}),
    ...(o.baselineBpfDir ? { baselineBpfDir: o.baselineBpfDir } : {}),
    ...(o.render ? { render: o.render } : {}),
  };
}
