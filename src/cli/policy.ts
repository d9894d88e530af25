// `podwire policy [POD]`: how NetworkPolicy applies to this node's pods — per endpoint its
// isolated directions, every rule slot (policy and rule index, peers and ports after selectors and
// named ports are resolved) with its verdict counters from pol_stats, and the warnings. Reads the
// model the agent writes (${stateDir}/policy.json) and joins it with the live maps.
import { join } from 'node:path';
import type { Command } from 'commander';
import { PodwireError } from '../errors/index.js';
import { outputFormat, renderTable, toJson, type OutputFormat } from './table.js';
import { resolveTarget, targetOptions, type TargetFlags } from './target.js';

interface Flags extends TargetFlags {
  output?: string;
  members?: string;
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

async function policyCommand(podArg: string | undefined, f: Flags, fmt: OutputFormat): Promise<void> {
  const t = await resolveTarget(f);
  const { readPolicyModel, POLICY_MODEL_FILE } = await import('../policy/model.js');
  const { policyView } = await import('../policy/view.js');
  const model = readPolicyModel(join(t.stateDir, POLICY_MODEL_FILE));
  const notes: string[] = [];
  let stats;
  let mapRevision: number | undefined;
  const ifindexOf = new Map<string, number>();
  try {
    const { readPolicyStats } = await import('../policy/stats.js');
    const { openEndpoints, openPinnedMap } = await import('../maps/index.js');
    const { RawMap } = await import('bpf');
    const { decodeState } = await import('../policy/map-codec.js');
    stats = readPolicyStats(t.pinDir);
    const eps = openEndpoints(t.pinDir);
    try {
      for (const e of eps.list()) ifindexOf.set(e.ip, e.ifindex);
    } finally {
      eps.close();
    }
    const ref = openPinnedMap(t.pinDir, 'pol_state');
    try {
      const v = new RawMap(ref).get(Buffer.alloc(4));
      if (v) mapRevision = decodeState(v).revision;
    } finally {
      ref.close();
    }
  } catch (e) {
    if (!(e instanceof PodwireError)) throw e;
    notes.push(`no counters: ${e.message}`);
  }
  const maxMembers = f.members === undefined ? (fmt === 'json' ? Infinity : 8) : Number(f.members);
  if (!(Number.isInteger(maxMembers) || maxMembers === Infinity) || maxMembers < 0) throw new PodwireError('USAGE', `--members ${f.members}: want a count >= 0`);
  const view = policyView(model, { ...(stats ? { stats } : {}), ifindexOf, ...(podArg ? { pod: podArg } : {}), ...(mapRevision !== undefined ? { mapRevision } : {}), maxMembers });
  if (podArg && view.endpoints.length === 0) {
    throw new PodwireError('USAGE', `no pod ${JSON.stringify(podArg)} isolated by NetworkPolicy on ${t.node ? `node ${t.node}` : t.pinDir} (pods no policy selects are not isolated: everything is admitted)`);
  }
  if (fmt === 'json') return out(toJson({ ...(t.node ? { node: t.node } : {}), pinDir: t.pinDir, ...view, notes }));
  const lines: string[] = [];
  const rev = view.mapRevision !== undefined && view.mapRevision !== view.revision ? ` (maps at revision ${view.mapRevision}: the agent is applying a newer change)` : '';
  lines.push(`${t.node ? `node ${t.node}: ` : ''}policy revision ${view.revision}${rev}, compiled ${view.generatedAt}; ${view.endpoints.length} isolated pod(s) here (pods not listed admit everything)`);
  for (const e of view.endpoints) {
    lines.push('');
    const iso = (d: 'ingress' | 'egress') => (e[d].isolated ? `isolated by ${e[d].policies.join(', ')} (ruleset ${e[d].ruleset})` : 'not isolated');
    lines.push(`POD ${e.pod}  ${e.ip}${e.ifindex !== undefined ? `  (host veth ifindex ${e.ifindex})` : '  (no endpoint yet)'}`);
    lines.push(`  ingress: ${iso('ingress')}`);
    lines.push(`  egress:  ${iso('egress')}`);
    const rows = (['ingress', 'egress'] as const).flatMap((d) =>
      e[d].isolated
        ? e[d].slots.map((s) => [
            d,
            typeof s.slot === 'number' ? String(s.slot) : s.slot,
            s.rules.join(' ') || '-',
            s.peers + (s.memberCount ? ` [${s.members.map((m) => (m.include ? m.cidr : `!${m.cidr}`)).join(' ')}${s.memberCount > s.members.length ? ` +${s.memberCount - s.members.length}` : ''}]` : ''),
            s.ports,
            s.packets,
            s.bytes,
          ])
        : [],
    );
    if (rows.length) lines.push(renderTable(['DIR', 'SLOT', 'RULE', 'PEERS', 'PORTS', 'PACKETS', 'BYTES'], rows).replace(/^/gm, '  '));
    for (const w of e.warnings) lines.push(`  warning ${w.code}${w.policy ? ` (${w.policy})` : ''}: ${w.message}`);
  }
  if (view.warnings.length) {
    lines.push('', 'warnings:');
    for (const w of view.warnings) lines.push(`  ${w.code}${w.policy ? ` ${w.policy}` : ''}${w.pod ? ` pod ${w.pod}` : ''}: ${w.message}`);
  }
  for (const n of notes) lines.push(`note: ${n}`);
  out(lines.join('\n'));
}

export function registerPolicy(program: Command): void {
  targetOptions(program.command('policy').description("how NetworkPolicy applies to this node's pods: isolation, rule slots, resolved peers/ports, verdict counters, warnings"))
    .argument('[pod]', 'one pod: namespace/name, name or IP')
    .option('-o, --output <format>', 'text or json', 'text')
    .option('--members <n>', 'set members shown per slot (default 8 in the table, all in JSON)')
    .action((pod: string | undefined, f: Flags) => policyCommand(pod, f, outputFormat(f.output)));
}
