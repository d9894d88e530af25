// The policy-scale measurement itself, in its own process (`__policy-scale`), so its peak RSS is
// the compiler's and the writer's alone: generate + parse the cluster, compile for the measured
// node's pods, write into the maps of a datapath the parent loaded, then single changes and a
// restart. Prints one JSON line.
import { readFileSync } from 'node:fs';
import { RawMap } from 'bpf';
import { openEndpoints, openPinnedMap, type MapName } from '../../src/maps/index.js';
import { compilePolicy, namespaceRecord, parsePolicy, podRecord, PolicyWriter, type CompiledPolicy, type NamespaceRecord, type PodRecord, type PolicyInput, type PolicyRecord } from '../../src/policy/index.js';
import { podIp, simCluster } from './cluster.js';

export interface PolicyScaleResult {
  namespaces: number;
  pods: number;
  policies: number;
  localPods: number;
  parseS: number;
  compileS: number;
  applyS: number;
  convergeS: number;
  applyWrites: number;
  change: { what: string; compileS: number; applyS: number; writes: number; deletes: number }[];
  restart: { s: number; writes: number; deletes: number };
  entries: Record<string, { entries: number; max: number }>;
  rulesets: number;
  sets: number;
  maxSlots: number;
  maxSetEntries: number;
  slotsExceeded: number;
  warnings: number;
  isolated: number;
  peakRssMB: number;
  heapMB: number;
}

const vmHwmMB = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
const secs = (t0: number): number => (performance.now() - t0) / 1000;

function countEntries(pinDir: string, name: MapName): { entries: number; max: number } {
  const ref = openPinnedMap(pinDir, name);
  try {
    let n = 0;
    for (const _ of new RawMap(ref).keys()) n++;
    return { entries: n, max: ref.maxEntries };
  } finally {
    ref.close();
  }
}

export async function policyScaleWorker(argv: string[]): Promise<void> {
  const arg = (name: string): string => {
    const i = argv.indexOf(name);
    if (i < 0 || argv[i + 1] === undefined) throw new Error(`__policy-scale: missing ${name}`);
    return argv[i + 1]!;
  };
  const pinDir = arg('--pin-dir');
  const o = { namespaces: Number(arg('--namespaces')), pods: Number(arg('--pods')), policies: Number(arg('--policies')), localPods: Number(arg('--local-pods')) };
  const sim = simCluster(o);

  let t = performance.now();
  const pods = new Map<string, PodRecord>();
  for (const p of sim.pods) {
    const r = podRecord(p)!;
    pods.set(`${r.namespace}/${r.name}`, r);
  }
  const namespaces = new Map<string, NamespaceRecord>();
  for (const n of sim.namespaces) {
    const r = namespaceRecord(n)!;
    namespaces.set(r.name, r);
  }
  const policies = new Map<string, PolicyRecord>();
  for (const p of sim.policies) {
    const r = parsePolicy(p).policy!;
    policies.set(`${r.namespace}/${r.name}`, r);
  }
  const parseS = secs(t);
  sim.pods.length = 0; // the agent keeps records, not API objects
  const input: PolicyInput = { pods, namespaces, policies, localIps: new Set(sim.localIps), hostIps: ['100.64.0.1'] };

  const eps = openEndpoints(pinDir);
  eps.setBatch(sim.localIps.map((ip, i) => ({ ip, ifindex: 1000 + i, podMac: '02:00:00:00:00:01', hostMac: 'ee:ff:ff:ff:ff:ff', flags: 0, endpointId: i + 1 })));
  eps.close();

  t = performance.now();
  let c: CompiledPolicy = compilePolicy(input);
  const compileS = secs(t);
  const writer = new PolicyWriter(pinDir);
  t = performance.now();
  const s0 = writer.apply(c);
  const applyS = secs(t);

  const change: PolicyScaleResult['change'] = [];
  const step = (what: string, mutate: () => void): void => {
    mutate();
    let t1 = performance.now();
    c = compilePolicy(input);
    const cs = secs(t1);
    t1 = performance.now();
    const st = writer.apply(c);
    change.push({ what, compileS: cs, applyS: secs(t1), writes: st.writes, deletes: st.deletes });
  };
  // a web pod in a prod namespace: a member of the biggest cross-namespace set
  for (let r = 0; r < 3; r++) {
    step('pod added (member of the prod web set)', () => {
      const i = o.pods + r;
      const rec = podRecord({
        metadata: { namespace: 'ns-3', name: `extra-${r}`, labels: { tier: 'web', app: 'app-0' } },
        spec: { containers: [{ ports: [{ name: 'http', containerPort: 8080 }] }] },
        status: { phase: 'Running', podIP: podIp(i) },
      })!;
      pods.set(`ns-3/extra-${r}`, rec);
    });
  }
  const localPod = [...pods.values()].find((p) => p.ip === sim.localIps[0])!;
  step('policy added in a local pod namespace', () => {
    const p = parsePolicy({ metadata: { namespace: localPod.namespace, name: 'late' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '100.64.0.0/10' } }], ports: [{ port: 22 }] }] } }).policy!;
    policies.set(`${p.namespace}/${p.name}`, p);
  });
  step('pod deleted', () => void pods.delete('ns-3/extra-0'));
  writer.close();

  // a restarted agent: a fresh writer reads the maps and must find nothing to do
  const w2 = new PolicyWriter(pinDir);
  t = performance.now();
  const rs = w2.apply(compilePolicy(input));
  const restart = { s: secs(t), writes: rs.writes, deletes: rs.deletes };
  w2.close();

  const entries: PolicyScaleResult['entries'] = {};
  for (const m of ['pol_endpoints', 'pol_ports', 'pol_slots', 'pol_sets'] as const) entries[m] = countEntries(pinDir, m);
  const res: PolicyScaleResult = {
    ...o,
    parseS,
    compileS,
    applyS,
    convergeS: compileS + applyS,
    applyWrites: s0.writes,
    change,
    restart,
    entries,
    rulesets: c.rulesets.length,
    sets: c.sets.length,
    maxSlots: Math.max(0, ...c.rulesets.map((r) => r.slots.length)),
    maxSetEntries: Math.max(0, ...c.sets.map((s) => s.entries.length)),
    slotsExceeded: c.warnings.filter((w) => w.code === 'SLOTS_EXCEEDED').length,
    warnings: c.warnings.length,
    isolated: c.endpoints.length,
    peakRssMB: vmHwmMB(),
    heapMB: process.memoryUsage().heapUsed / 2 ** 20,
  };
  process.stdout.write(`${JSON.stringify(res)}\n`);
}
