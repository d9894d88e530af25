// The soak report as text (the JSON is the record; this is what a person reads).
import type { SoakReport } from './run.js';

export function renderSoak(r: SoakReport): string {
  const out: string[] = [];
  out.push(`podwire soak ${r.ok ? 'PASSED' : 'FAILED'}: ${r.minutesChurned} min of churn (${r.minutesRequested} requested), lab ${r.lab.name} (${r.lab.nodes} nodes, ${r.lab.mode})`);
  out.push(`started ${r.startedAt}, finished ${r.finishedAt}; load average start ${r.loadAverage.start.join(' ')}, end ${r.loadAverage.end.join(' ')}`);
  out.push('');
  out.push(`churn: ${r.churn.created} pods created through kubectl, ${r.churn.deleted} deleted, ${r.churn.reachable} reached by ping from a long-lived pod, ${r.churn.unreachable.length} unreachable, ${r.churn.errors.length} kubectl errors; median kubectl apply ${r.churn.medianMs.apply} ms, until Running ${r.churn.medianMs.ready} ms, delete --wait ${r.churn.medianMs.delete} ms (${r.lab.nodes} pods per step)`);
  for (const u of r.churn.unreachable.slice(0, 10)) out.push(`  unreachable: ${u}`);
  for (const e of r.churn.errors.slice(0, 10)) out.push(`  error: ${e}`);
  const back = r.restarts.map((x) => x.backAfterMs).filter((x): x is number => x !== undefined);
  out.push(`agent restarts (SIGKILL, the lab kubelet restarts it): ${r.restarts.length}, back after ${back.length ? `${Math.min(...back)}..${Math.max(...back)} ms` : '-'}${r.restarts.some((x) => !x.newPid) ? ', SOME NEVER CAME BACK' : ''}`);
  out.push('');
  out.push('PING (long-lived pods, 5/s)            SENT   RECEIVED  LOST  IN RESTART WINDOW');
  for (const p of r.ping) out.push(`${p.label.padEnd(38)} ${String(p.sent).padStart(6)} ${String(p.received).padStart(10)} ${String(p.lost.length).padStart(5)} ${String(p.lostDuringRestart).padStart(18)}`);
  for (const p of r.ping) if (p.error) out.push(`  ${p.label}: ping failed: ${p.error.trim()}`);
  out.push('');
  out.push('AGENT PROCESS     SAMPLED  RSS FIRST→LAST (MB)  RSS SLOPE (MB/h)  FDS FIRST→LAST (MAX)');
  for (const a of r.agents) {
    out.push(`${`${a.node} ${a.pid}`.padEnd(18)}${`${a.seconds} s`.padStart(7)}  ${`${(a.rssFirstKb / 1024).toFixed(1)}→${(a.rssLastKb / 1024).toFixed(1)}`.padStart(19)}  ${(a.rssSlopeKbPerHour / 1024).toFixed(1).padStart(16)}  ${`${a.fdsFirst}→${a.fdsLast} (${a.fdsMax})`.padStart(20)}`);
  }
  out.push('');
  out.push('COUNTS per node: baseline (before churn) → after (churn pods deleted, settled)');
  for (const b of r.counts.baseline) {
    const a = r.counts.after.find((x) => x.node === b.node);
    const maps = Object.keys(b.mapEntries).map((k) => `${k} ${b.mapEntries[k]}→${a?.mapEntries[k] ?? '?'}`).join(', ');
    const pins = Object.keys(b.pins).map((k) => `${k}/ ${b.pins[k]}→${a?.pins[k] ?? '?'}`).join(', ');
    out.push(`${b.node}: ipam ${b.ipamAllocations}→${a?.ipamAllocations}, veths ${b.veths}→${a?.veths}, agent fds ${b.agentFds}→${a?.agentFds}`);
    out.push(`  maps: ${maps}`);
    out.push(`  pins: ${pins}`);
  }
  out.push('');
  out.push(r.leaks.length ? `LEAKS: ${r.leaks.map((l) => `${l.node} ${l.what} ${l.baseline}→${l.after}`).join('; ')}` : 'leaks: none');
  out.push(`policy: ${r.policy}`);
  return `${out.join('\n')}\n`;
}
