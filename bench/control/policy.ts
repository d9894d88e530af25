// Row `policy-propagation`: NetworkPolicy change → enforced on every affected node, in a 2-node
// lab (native mode, real agents). Two server pods (one per node) are selected by the policy;
// from a client pod on the OTHER node of each, a prober opens a new TCP connection every 10 ms
// (150 ms timeout). A deny-all-ingress policy is POSTed to the lab API server: the time from just
// before the write until the last of the two probers settled into "refused" is one `enforce`
// sample; deleting the policy and timing until both answer again is one `release` sample.
import { randomBytes } from 'node:crypto';
import { api, apiRequest } from '../../src/lab/api-client.js';
import { flipTime, probeContinuously } from '../../src/lab/flip-probe.js';
import { benchLabUp } from '../lab-up.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';
import { percentile } from '../stats.js';

const NS = 'bench-policy';
const WINDOW_MS = 3000;
const LEAD_MS = 300;

export async function benchPolicyPropagation(o: { reps: number }, col: Collector, progress: Progress): Promise<void> {
  const id = randomBytes(3).toString('hex');
  progress.info('two-node lab for NetworkPolicy propagation …');
  const { lab, unregister } = await benchLabUp({ nodes: 2, podsPerNode: 0, proxyMode: 'none', name: `p${id.slice(0, 4)}`, statePath: `/run/podwire/bench-pol-${id}.json`, dir: `/run/podwire/bench-pol-${id}`, log: (l) => progress.info(`  ${l}`) });
  try {
    const socket = lab.state.apiServer.socket;
    await api(socket, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    const [n1, n2] = lab.state.nodes.map((n) => n.name) as [string, string];
    const ports = [{ containerPort: 80, protocol: 'TCP' as const, name: 'http' }];
    const [srv1, srv2, cli1, cli2] = await Promise.all([
      lab.addPod(n1, 'srv-1', { namespace: NS, labels: { role: 'srv' }, ports }),
      lab.addPod(n2, 'srv-2', { namespace: NS, labels: { role: 'srv' }, ports }),
      lab.addPod(n1, 'cli-1', { namespace: NS, labels: { role: 'cli' } }),
      lab.addPod(n2, 'cli-2', { namespace: NS, labels: { role: 'cli' } }),
    ]);
    // each server is probed from the other node: its own node's agent must enforce the policy
    const pairs = [[cli2!, srv1!], [cli1!, srv2!]] as const;
    const policy = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny', namespace: NS }, spec: { podSelector: { matchLabels: { role: 'srv' } }, policyTypes: ['Ingress'] } };
    const samples: Record<'enforce' | 'release', number[]> = { enforce: [], release: [] };
    progress.total += o.reps * 2;
    for (let rep = 0; rep < o.reps; rep++) {
      for (const kind of ['enforce', 'release'] as const) {
        const probes = pairs.map(([c, s]) => probeContinuously(c.netnsPath, s.ip, 80, { durationMs: WINDOW_MS }));
        await new Promise((r) => setTimeout(r, LEAD_MS));
        const t0 = performance.timeOrigin + performance.now();
        const r = kind === 'enforce'
          ? await apiRequest(socket, 'POST', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`, policy)
          : await apiRequest(socket, 'DELETE', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/deny`);
        if (r.status < 200 || r.status >= 300) throw new Error(`${kind}: API answered ${r.status}`);
        const flips = (await Promise.all(probes)).map((a, i) => {
          const t = flipTime(a, kind === 'release');
          if (t === undefined) throw new Error(`${kind} rep ${rep}: ${pairs[i]![1].name} on ${pairs[i]![1].node} not ${kind === 'enforce' ? 'refusing' : 'answering'} ${WINDOW_MS - LEAD_MS} ms after the API write`);
          return Math.max(0, t - t0);
        });
        const ms = Math.max(...flips);
        samples[kind].push(ms);
        col.add({ section: 'control-plane', topology: 'policy-propagation', metric: `${kind}_ms`, unit: 'ms', value: ms, rep, extra: { perNodeMs: flips.map((x) => Math.round(x * 10) / 10) } });
        progress.step(`policy ${kind === 'enforce' ? 'create → refused' : 'delete → answering'} on both nodes: ${ms.toFixed(0)} ms (${flips.map((x) => x.toFixed(0)).join(', ')})`);
      }
    }
    for (const kind of ['enforce', 'release'] as const) {
      const xs = samples[kind];
      col.add({ section: 'control-plane', topology: 'policy-propagation', metric: `${kind}_p50_ms`, unit: 'ms', value: percentile(xs, 50), rep: 0 });
      col.add({ section: 'control-plane', topology: 'policy-propagation', metric: `${kind}_p99_ms`, unit: 'ms', value: percentile(xs, 99), rep: 0 });
    }
    col.metricInfo.set('enforce_p99_ms', { unit: 'ms', better: 'lower', describe: 'NetworkPolicy created (API write) → new connections refused on every affected node, p99 over repetitions (probe every 10 ms)' });
    col.metricInfo.set('enforce_p50_ms', { unit: 'ms', better: 'lower', describe: 'NetworkPolicy created (API write) → new connections refused on every affected node, p50' });
    col.metricInfo.set('release_p99_ms', { unit: 'ms', better: 'lower', secondary: true, describe: 'NetworkPolicy deleted (API write) → connections answered again on every affected node, p99' });
    col.metricInfo.set('release_p50_ms', { unit: 'ms', better: 'lower', secondary: true, describe: 'NetworkPolicy deleted (API write) → connections answered again on every affected node, p50' });
  } finally {
    unregister();
    await lab.down();
  }
}
