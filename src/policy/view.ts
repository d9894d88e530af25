// What `podwire policy` shows: per local endpoint, its isolation, each rule slot with the policy
// and rule it came from, the peers and ports after selectors and named ports were resolved, and
// the slot's verdict counters. Pure: model + counters + the endpoints' host veths in, rows out.
import { SLOT_DENY, SLOT_HOST } from './evaluate.js';
import type { PolicyModel } from './model.js';
import type { PolicyStat } from './stats.js';
import type { PolicyWarning } from './types.js';

export interface SlotView {
  slot: number | 'deny' | 'host';
  rules: string[];
  peers: string;
  members: { cidr: string; include: boolean }[];
  memberCount: number;
  ports: string;
  packets: bigint;
  bytes: bigint;
}

export interface DirectionView {
  isolated: boolean;
  ruleset: number;
  policies: readonly string[];
  slots: SlotView[];
}

export interface EndpointView {
  pod: string;
  ip: string;
  ifindex?: number;
  ingress: DirectionView;
  egress: DirectionView;
  warnings: PolicyWarning[];
}

export interface PolicyView {
  revision: number;
  mapRevision?: number;
  generatedAt: string;
  endpoints: EndpointView[];
  /** Warnings not tied to a shown endpoint (whole-policy problems). */
  warnings: PolicyWarning[];
}

const DIR_CODE = { egress: 0, ingress: 1 } as const;

export function policyView(
  model: PolicyModel,
  opts: { stats?: readonly PolicyStat[]; ifindexOf?: ReadonlyMap<string, number>; pod?: string; mapRevision?: number; maxMembers?: number },
): PolicyView {
  const rulesets = new Map(model.rulesets.map((r) => [r.id, r]));
  const sets = new Map(model.sets.map((s) => [s.id, s]));
  const maxMembers = opts.maxMembers ?? 8;
  const wanted = (e: { pod: string; ip: string }): boolean => {
    if (!opts.pod) return true;
    return e.pod === opts.pod || e.ip === opts.pod || e.pod.endsWith(`/${opts.pod}`);
  };
  const endpoints: EndpointView[] = [];
  const shown = new Set<string>();
  for (const e of model.endpoints.filter(wanted)) {
    const ifindex = opts.ifindexOf?.get(e.ip);
    const dirView = (dir: 'ingress' | 'egress'): DirectionView => {
      const id = e[dir];
      const flag = dir === 'ingress' ? 1 : 2;
      const isolated = (e.flags & flag) !== 0;
      const rs = rulesets.get(id);
      const counter = (slot: number): { packets: bigint; bytes: bigint } => {
        let packets = 0n;
        let bytes = 0n;
        for (const s of opts.stats ?? []) {
          if (s.ifindex !== ifindex || s.ruleset !== id || s.dir !== DIR_CODE[dir] || s.slot !== slot) continue;
          packets += s.packets;
          bytes += s.bytes;
        }
        return { packets, bytes };
      };
      const slots: SlotView[] = (rs?.slots ?? []).map((s) => {
        const set = s.anyPeer ? undefined : sets.get(s.set);
        return {
          slot: s.slot,
          rules: s.rules.map((r) => `${r.policy}#${dir}[${r.rule}]`),
          peers: s.peers,
          members: set ? set.entries.slice(0, maxMembers) : [],
          memberCount: set ? set.entries.length : 0,
          ports: s.ports,
          ...counter(s.slot),
        };
      });
      if (isolated) {
        if (dir === 'ingress') slots.push({ slot: 'host', rules: [], peers: "this node's addresses", members: [], memberCount: 0, ports: 'any', ...counter(SLOT_HOST) });
        slots.push({ slot: 'deny', rules: [], peers: 'everything else', members: [], memberCount: 0, ports: '-', ...counter(SLOT_DENY) });
      }
      return { isolated, ruleset: id, policies: e.policies[dir], slots };
    };
    const policies = new Set([...e.policies.ingress, ...e.policies.egress]);
    const warnings = model.warnings.filter((w) => w.pod === e.pod || (!w.pod && w.policy !== undefined && policies.has(w.policy)));
    for (const w of warnings) shown.add(JSON.stringify(w));
    endpoints.push({ pod: e.pod, ip: e.ip, ...(ifindex !== undefined ? { ifindex } : {}), ingress: dirView('ingress'), egress: dirView('egress'), warnings });
  }
  const rest = opts.pod ? [] : model.warnings.filter((w) => !shown.has(JSON.stringify(w)));
  return {
    revision: model.revision,
    ...(opts.mapRevision !== undefined ? { mapRevision: opts.mapRevision } : {}),
    generatedAt: model.generatedAt,
    endpoints,
    warnings: rest,
  };
}
