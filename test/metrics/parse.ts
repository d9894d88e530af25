// /metrics text parsed by a real Prometheus text-format parser: Python's prometheus_client
// (Debian python3-prometheus-client, installed by deploy/host-prereqs.sh), not by our own code.
import { execFileSync } from 'node:child_process';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  /** As the parser names it: counters without their _total suffix. */
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/** Debian's interpreter: the package installs into its dist-packages (a pyenv python3 earlier on PATH would not see it). */
const PYTHON = '/usr/bin/python3';

const SCRIPT = `
import sys, json, math
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else repr(s.value)} for s in f.samples]})
print(json.dumps(out))
`;

export function parseExposition(text: string): Family[] {
  let out: string;
  try {
    out = execFileSync(PYTHON, ['-c', SCRIPT], { input: text, encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (e) {
    throw new Error(`prometheus_client could not parse the exposition (is python3-prometheus-client installed? deploy/host-prereqs.sh installs it): ${(e as Error).message}`);
  }
  const fams = JSON.parse(out) as Array<Omit<Family, 'samples'> & { samples: Array<Omit<Sample, 'value'> & { value: number | string }> }>;
  // non-finite values come as Python's repr: 'nan', 'inf', '-inf'
  const num = (v: number | string): number => (typeof v === 'number' ? v : v === 'nan' ? NaN : v.startsWith('-') ? -Infinity : Infinity);
  return fams.map((f) => ({ ...f, samples: f.samples.map((s) => ({ ...s, value: num(s.value) })) }));
}

/** The sample of `name` whose labels include `labels` (exactly one must match). */
export function sample(families: Family[], name: string, labels: Record<string, string> = {}): number {
  const hits = families.flatMap((f) => f.samples).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
  return hits[0]!.value;
}

/** Every sample name with its labels, for comparing two scrapes. */
export function seriesKey(s: Sample): string {
  return `${s.name}${JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => a.localeCompare(b)))}`;
}
