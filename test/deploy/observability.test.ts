// deploy/'s monitoring surfaces agree with the agent: the DaemonSet's scrape annotations point at
// the port the agent serves /metrics on; the optional ServiceMonitor (not applied by
// `kubectl apply -f deploy/`) selects the agent pods through a Service on that port; and every
// PromQL expression of the Grafana dashboard names only metric families, and label names, that a
// real scrape of the agent's registry (datapath loaded on this kernel) contains.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentFlags } from '../../src/agent/config.js';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import * as metrics from '../../src/metrics/index.js';
import { parseExposition, type Family } from '../metrics/parse.js';
import { deployDir, loadManifests, validateObject, type K8sObject } from './manifests.js';

interface Port {
  name?: string;
  containerPort: number;
}
interface AgentContainer {
  name: string;
  ports?: Port[];
  env?: { name: string; value?: string }[];
}
type DaemonSet = K8sObject & {
  spec: { template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: AgentContainer[] } } };
};

const pinDir = `/sys/fs/bpf/pwobs-${randomBytes(4).toString('hex')}`;
let families: Family[];

/** Sample names a PromQL expression may use for each family, and the label names each carries. */
function exported(fams: Family[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const f of fams) {
    const labels = new Set(['instance', 'job']); // added by Prometheus to every scraped series
    for (const s of f.samples) for (const l of Object.keys(s.labels)) labels.add(l);
    const names = f.type === 'counter' ? [`${f.name}_total`] : f.type === 'histogram' ? ['_bucket', '_count', '_sum'].map((x) => f.name + x) : f.type === 'summary' ? [f.name, `${f.name}_count`, `${f.name}_sum`] : [f.name];
    for (const n of names) out.set(n, labels);
  }
  return out;
}

/** Problems of one PromQL expression against the exported names; [] when it is fine. */
function checkExpr(expr: string, names: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  const used = [...new Set(expr.match(/\bpodwire_[A-Za-z0-9_:]*/g) ?? [])];
  if (used.length === 0) problems.push(`names no podwire metric: ${expr}`);
  const labelsOfUsed = new Set<string>();
  for (const m of used) {
    const labels = names.get(m);
    if (!labels) problems.push(`${m} is not exported`);
    else labels.forEach((l) => labelsOfUsed.add(l));
  }
  // label matchers written on a metric: podwire_x{a="b", c=~"d"}
  for (const [, metric, body] of expr.matchAll(/\b(podwire_[A-Za-z0-9_:]*)\{([^}]*)\}/g)) {
    for (const [, label] of body!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      if (names.get(metric!) && !names.get(metric!)!.has(label!)) problems.push(`${metric} has no label ${label}`);
    }
  }
  // aggregation labels: by (a, b) / without (...)
  for (const [, list] of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const l of list!.split(',').map((x) => x.trim()).filter(Boolean)) if (!labelsOfUsed.has(l)) problems.push(`no metric of the expression has label ${l}`);
  }
  return problems;
}

/** Every PromQL expression of a dashboard: panel targets (rows nest panels) and query variables. */
function expressions(dash: { panels?: unknown[]; templating?: { list?: { type: string; query?: unknown }[] } }): string[] {
  const out: string[] = [];
  const walk = (panels: unknown[] | undefined) => {
    for (const p of (panels ?? []) as { targets?: { expr?: string }[]; panels?: unknown[] }[]) {
      for (const t of p.targets ?? []) if (t.expr !== undefined) out.push(t.expr);
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
    out.push(q);
  }
  return out;
}

beforeAll(async () => {
  await loadDatapath({ pinDir });
  metrics.watchDatapath(pinDir);
  // one observation of every pushed family, so histograms and labelled counters have samples
  // (and so label names) in the scrape, as on a running node
  metrics.setBuildInfo({ version: '0.0.0-test', node: 'node-t' });
  const hooks = metrics.informerHooks('nodes');
  hooks.event('add');
  hooks.listed(true);
  metrics.observeReconcile(0.01, true);
  metrics.observeCniOperation('ADD', true, 0.02);
  metrics.observeDatapathLoad(1.5, false);
  metrics.observeDatapathAttach('node', 0.05);
  metrics.recordConntrackGc(0);
  families = parseExposition((await metrics.scrape()).body);
}, 120_000);

afterAll(async () => {
  await unloadDatapath({ pinDir });
});

const ds = (): DaemonSet => loadManifests().find((m) => m.object.kind === 'DaemonSet')!.object as DaemonSet;
const agent = (): AgentContainer => ds().spec.template.spec.containers.find((c) => c.name === 'agent')!;

describe('scrape surfaces in deploy/', () => {
  it('the DaemonSet\'s prometheus.io annotations name the port and path the agent serves /metrics on', () => {
    const a = ds().spec.template.metadata.annotations ?? {};
    expect(a['prometheus.io/scrape']).toBe('true');
    expect(a['prometheus.io/path']).toBe(metrics.METRICS_PATH);
    const env = Object.fromEntries((agent().env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    const parsed = parseAgentFlags({ nodeName: 'n', kubeconfig: join(deployDir(), '00-namespace.yaml') }, env);
    expect(parsed.metrics).toEqual({ host: '0.0.0.0', port: Number(a['prometheus.io/port']) });
    expect(agent().ports).toContainEqual({ name: 'metrics', containerPort: parsed.metrics!.port, protocol: 'TCP' });
  });

  it('the optional ServiceMonitor is not part of `kubectl apply -f deploy/` and selects the agents through a Service on the metrics port', async () => {
    expect(loadManifests().map((m) => m.object.kind)).not.toContain('ServiceMonitor');
    const docs = loadManifests(join(deployDir(), 'optional')).map((m) => m.object);
    const svc = docs.find((o) => o.kind === 'Service') as K8sObject & { spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] } };
    const sm = docs.find((o) => o.kind === 'ServiceMonitor') as K8sObject & {
      spec: { selector: { matchLabels: Record<string, string> }; namespaceSelector: { matchNames: string[] }; endpoints: { port: string; path: string }[] };
    };
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    await expect(validateObject(svc)).resolves.toBeUndefined();
    // Service → the DaemonSet's pods, on the container port named in targetPort
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(ds().spec.template.metadata.labels[k], k).toBe(v);
    const port = svc.spec.ports.find((p) => p.name === sm.spec.endpoints[0]!.port)!;
    expect(port).toBeDefined();
    expect(agent().ports!.find((p) => p.name === port.targetPort)?.containerPort).toBe(Number(ds().spec.template.metadata.annotations!['prometheus.io/port']));
    // ServiceMonitor → the Service
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels?.[k], k).toBe(v);
    expect(sm.spec.namespaceSelector.matchNames).toEqual([svc.metadata.namespace]);
    expect(sm.spec.endpoints[0]!.path).toBe(metrics.METRICS_PATH);
    expect(readFileSync(join(deployDir(), 'optional/servicemonitor.yaml'), 'utf8')).toMatch(/^# OPTIONAL/);
  });
});

describe('deploy/grafana/podwire-dashboard.json', () => {
  const text = readFileSync(join(deployDir(), 'grafana/podwire-dashboard.json'), 'utf8');

  it('is well-formed JSON with panels, a Prometheus datasource variable and unique panel ids', () => {
    const d = JSON.parse(text) as { title: string; uid: string; panels: { id: number; type: string; gridPos: object }[]; templating: { list: { name: string; type: string; query: unknown }[] } };
    expect(d.title).toBe('podwire');
    expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(d.panels.length).toBeGreaterThan(10);
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) expect(p.gridPos, String(p.id)).toBeDefined();
    expect(d.templating.list.find((v) => v.type === 'datasource')?.query).toBe('prometheus');
  });

  it('every PromQL expression names only metrics (and labels) a real scrape of the agent exports', () => {
    const names = exported(families);
    const exprs = expressions(JSON.parse(text) as Parameters<typeof expressions>[0]);
    expect(exprs.length).toBeGreaterThan(20);
    const problems = exprs.flatMap((e) => checkExpr(e, names).map((p) => `${p}  (in: ${e})`));
    expect(problems).toEqual([]);
    // the dashboard covers the headline families
    const all = exprs.join('\n');
    for (const m of ['podwire_datapath_packets_total', 'podwire_bpf_map_pressure', 'podwire_endpoints', 'podwire_cni_operation_duration_seconds_bucket', 'podwire_conntrack_entries', 'podwire_k8s_relists_total']) {
      expect(all, m).toContain(m);
    }
  });

  it('the check is live: an unknown metric, a missing label and a wrong aggregation label are caught', () => {
    const names = exported(families);
    expect(checkExpr('rate(podwire_nope_total[5m])', names)).toEqual(['podwire_nope_total is not exported']);
    expect(checkExpr('podwire_endpoints{reason="x"}', names)).toEqual(['podwire_endpoints has no label reason']);
    expect(checkExpr('sum by (pod) (podwire_bpf_map_pressure)', names)).toEqual(['no metric of the expression has label pod']);
    expect(checkExpr('up', names)).toEqual(['names no podwire metric: up']);
  });
});
