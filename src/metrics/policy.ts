// NetworkPolicy metrics: verdicts read from pol_stats at scrape time (like the datapath counters),
// and what the agent's policy loop pushes: compile/apply durations, revision, rulesets, sets,
// isolated endpoints, warnings, malformed API objects.
import { existsSync } from 'node:fs';
import { Counter, Gauge, Histogram } from 'prom-client';
import { pinPaths } from '../loader/pins.js';
import { structs } from '../maps/generated/layouts.js';
import { openRawPinned } from '../maps/pinned.js';
import { PREFIX, registry } from './registry.js';

/** pol_stats slot values that are not rule slots (bpf/lib/common.h PW_POL_SLOT_*). */
export const POL_SLOT_DENY = 0xfe;
export const POL_SLOT_HOST = 0xfd;

const SK = structs.pw_pol_stat_key;
const CNT = structs.pw_counter;

export interface PolicyVerdicts {
  direction: 'ingress' | 'egress';
  action: 'allowed' | 'denied';
  packets: bigint;
  bytes: bigint;
}

/** pol_stats summed over CPUs, endpoints, rulesets and slots: per direction and action. */
export function readPolicyVerdicts(pinDir: string): PolicyVerdicts[] {
  const sums = new Map<string, PolicyVerdicts>();
  for (const direction of ['ingress', 'egress'] as const) {
    for (const action of ['allowed', 'denied'] as const) sums.set(`${direction}/${action}`, { direction, action, packets: 0n, bytes: 0n });
  }
  if (!existsSync(`${pinPaths(pinDir).mapsDir}/pol_stats`)) return [...sums.values()];
  const m = openRawPinned(pinDir, 'pol_stats');
  try {
    const stride = Math.ceil(m.elemSize / 8) * 8;
    for (const [k, v] of m.map.entries()) {
      const direction = k.readUInt8(SK.fields.dir.offset) === 1 ? 'ingress' : 'egress'; // enum pw_direction
      const action = k.readUInt8(SK.fields.slot.offset) === POL_SLOT_DENY ? 'denied' : 'allowed';
      const s = sums.get(`${direction}/${action}`)!;
      for (let off = 0; off + CNT.size <= v.length; off += stride) {
        s.packets += v.readBigUInt64LE(off + CNT.fields.packets.offset);
        s.bytes += v.readBigUInt64LE(off + CNT.fields.bytes.offset);
      }
    }
  } finally {
    m.close();
  }
  return [...sums.values()];
}

let source: string | undefined;

/** Read pol_stats of this pin dir at scrape time. */
export function watchPolicyStats(pinDir: string): void {
  source = pinDir;
}

const scrapeErrors = new Counter({
  name: `${PREFIX}policy_stats_scrape_errors_total`,
  help: 'Scrapes in which pol_stats could not be read (podwire_policy_verdicts_total is absent from them)',
  registers: [registry],
});

new Counter({
  name: `${PREFIX}policy_verdicts_total`,
  help: 'Packets judged by NetworkPolicy (first packet of a flow and every re-judgement after a policy change), by direction seen from the local pod and action; summed over CPUs, endpoints and rules (pol_stats, an LRU map)',
  labelNames: ['direction', 'action'] as const,
  registers: [registry],
  collect() {
    this.reset();
    if (source === undefined) return;
    try {
      for (const v of readPolicyVerdicts(source)) this.inc({ direction: v.direction, action: v.action }, Number(v.packets));
    } catch {
      scrapeErrors.inc();
    }
  },
});

const duration = new Histogram({
  name: `${PREFIX}policy_duration_seconds`,
  help: 'NetworkPolicy recompute steps: compile (records -> map contents) and apply (map writes), by step',
  labelNames: ['step'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});
const revision = new Gauge({ name: `${PREFIX}policy_revision`, help: 'pol_state.revision: bumped by every policy apply that changed the maps', registers: [registry] });
const rulesets = new Gauge({ name: `${PREFIX}policy_rulesets`, help: 'Rulesets of this node (distinct effective policies of its isolated pods, per direction)', registers: [registry] });
const sets = new Gauge({ name: `${PREFIX}policy_sets`, help: 'Peer sets (pol_sets ids) this node holds', registers: [registry] });
const entries = new Gauge({
  name: `${PREFIX}policy_map_entries`,
  help: 'Entries the compiled policy puts in each policy map',
  labelNames: ['map'] as const,
  registers: [registry],
});
const isolated = new Gauge({
  name: `${PREFIX}policy_isolated_endpoints`,
  help: 'Local pods isolated by NetworkPolicy, by direction',
  labelNames: ['direction'] as const,
  registers: [registry],
});
const warnings = new Gauge({
  name: `${PREFIX}policy_warnings`,
  help: 'NetworkPolicy warnings now in force (policies the API accepts but podwire cannot enforce as written), by code',
  labelNames: ['code'] as const,
  registers: [registry],
});
const malformed = new Counter({
  name: `${PREFIX}policy_malformed_objects_total`,
  help: 'API objects the policy inputs could not use (ignored, logged), by kind',
  labelNames: ['kind'] as const,
  registers: [registry],
});
const runs = new Counter({ name: `${PREFIX}policy_runs_total`, help: 'Policy recomputes, by result', labelNames: ['result'] as const, registers: [registry] });
for (const r of ['ok', 'error']) runs.inc({ result: r }, 0);
for (const k of ['Pod', 'Namespace', 'NetworkPolicy', 'Service']) malformed.inc({ kind: k }, 0);
warnings.set({ code: 'INVALID_POLICY' }, 0);

export interface PolicyRunStats {
  ok: boolean;
  compileSeconds?: number;
  applySeconds?: number;
  revision?: number;
  rulesets?: number;
  sets?: number;
  mapEntries?: Record<string, number>;
  isolated?: { ingress: number; egress: number };
  warningsByCode?: Record<string, number>;
}

export function observePolicyRun(s: PolicyRunStats): void {
  runs.inc({ result: s.ok ? 'ok' : 'error' });
  if (s.compileSeconds !== undefined) duration.observe({ step: 'compile' }, s.compileSeconds);
  if (s.applySeconds !== undefined) duration.observe({ step: 'apply' }, s.applySeconds);
  if (s.revision !== undefined) revision.set(s.revision);
  if (s.rulesets !== undefined) rulesets.set(s.rulesets);
  if (s.sets !== undefined) sets.set(s.sets);
  if (s.mapEntries) for (const [map, n] of Object.entries(s.mapEntries)) entries.set({ map }, n);
  if (s.isolated) {
    isolated.set({ direction: 'ingress' }, s.isolated.ingress);
    isolated.set({ direction: 'egress' }, s.isolated.egress);
  }
  if (s.warningsByCode) {
    warnings.reset();
    warnings.set({ code: 'INVALID_POLICY' }, 0);
    for (const [code, n] of Object.entries(s.warningsByCode)) warnings.set({ code }, n);
  }
}

export function recordMalformedObject(kind: 'Pod' | 'Namespace' | 'NetworkPolicy' | 'Service'): void {
  malformed.inc({ kind });
}
