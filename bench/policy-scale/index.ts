// The NetworkPolicy scale row (topology `policy-scale`): 10,000 NetworkPolicies, 100,000 Pods,
// 1,000 namespaces; one node with 110 local pods. A datapath is loaded into a unique pin dir and
// a separate process (`__policy-scale`, bench/policy-scale/worker.ts) parses the cluster,
// compiles the node's policy and writes it into those real maps, then applies single changes
// and a restart. Rows: converge_s (compile + apply), compile_s, apply_s, change_converge_s,
// compile_peak_rss_mb, map entries, slots/overflow checks.
import { spawn } from 'node:child_process';
import { loadDatapath, unloadDatapath } from '../../src/loader/index.js';
import { uniqueName } from '../../src/netns/index.js';
import { registerCleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';
import type { PolicyScaleResult } from './worker.js';

export const POLICY_SCALE = { namespaces: 1000, pods: 100_000, policies: 10_000, localPods: 110 };

export async function runPolicyScale(o: { quick: boolean }, col: Collector, progress: Progress): Promise<PolicyScaleResult> {
  const size = o.quick ? { namespaces: 100, pods: 10_000, policies: 1_000, localPods: 110 } : POLICY_SCALE;
  if (o.quick) col.notes.push('QUICK run: the policy scale row was scaled down to 1,000 policies / 10,000 pods / 100 namespaces (the target is 10,000 / 100,000 / 1,000).');
  const pinDir = `/sys/fs/bpf/${uniqueName('pwps-')}`;
  const cleanup = async () => {
    await unloadDatapath({ pinDir }).catch(() => {});
  };
  const unregister = registerCleanup(cleanup);
  try {
    progress.total += 1;
    progress.info(`policy-scale: ${size.policies.toLocaleString('en')} NetworkPolicies, ${size.pods.toLocaleString('en')} Pods, ${size.namespaces.toLocaleString('en')} namespaces, ${size.localPods} local pods …`);
    await loadDatapath({ pinDir });
    const args = [process.argv[1]!, '__policy-scale', '--pin-dir', pinDir, ...Object.entries(size).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}`, String(v)])];
    const r = await new Promise<PolicyScaleResult>((resolve, reject) => {
      const child = spawn(process.execPath, ['--max-old-space-size=8192', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
      child.once('exit', (code) => {
        if (code !== 0) return reject(new Error(`policy-scale worker exited ${code}: ${err}`));
        try {
          resolve(JSON.parse(out.trim().split('\n').pop()!) as PolicyScaleResult);
        } catch (e) {
          reject(e);
        }
      });
    });
    const add = (metric: string, unit: 's' | 'MB' | 'count', value: number, extra?: Record<string, unknown>) =>
      col.add({ section: 'scale', topology: 'policy-scale', metric, unit, value, rep: 0, ...(extra ? { extra } : {}) });
    add('converge_s', 's', r.convergeS, { compileS: r.compileS, applyS: r.applyS, writes: r.applyWrites, ...size });
    add('compile_s', 's', r.compileS);
    add('apply_s', 's', r.applyS);
    add('parse_s', 's', r.parseS);
    for (const [i, ch] of r.change.entries()) col.add({ section: 'scale', topology: 'policy-scale', metric: 'change_converge_s', unit: 's', value: ch.compileS + ch.applyS, rep: i, extra: ch });
    add('restart_writes', 'count', r.restart.writes + r.restart.deletes, r.restart);
    add('compile_peak_rss_mb', 'MB', r.peakRssMB, { heapMB: r.heapMB });
    for (const [m, e] of Object.entries(r.entries)) add(`${m}_entries`, 'count', e.entries, { max: e.max, fill: e.entries / e.max });
    add('max_slots_per_ruleset', 'count', r.maxSlots, { limit: 64, rulesets: r.rulesets });
    add('slots_exceeded', 'count', r.slotsExceeded);
    col.metricInfo.set('change_converge_s', { unit: 's', better: 'lower', describe: 'one change (a pod added to a big peer set, a policy added, a pod deleted): full recompile + diffing writer into the real maps' });
    col.metricInfo.set('compile_peak_rss_mb', { unit: 'MB', better: 'lower', describe: 'peak RSS (VmHWM) of the process holding the compact records, compiling and writing' });
    col.metricInfo.set('restart_writes', { unit: 'count', better: 'lower', describe: 'map writes + deletes of a restarted writer with unchanged input (must be 0)' });
    const over = Object.entries(r.entries).filter(([, e]) => e.entries >= e.max);
    if (over.length || r.slotsExceeded || r.restart.writes + r.restart.deletes) {
      col.error({ section: 'scale', topology: 'policy-scale', stage: 'check', message: `overflow or restart writes: maps full ${over.map(([m]) => m).join(',') || 'none'}, SLOTS_EXCEEDED ${r.slotsExceeded}, restart writes ${r.restart.writes + r.restart.deletes}` });
    }
    progress.step(
      `policy-scale: converge ${r.convergeS.toFixed(2)} s (compile ${r.compileS.toFixed(2)} s + apply ${r.applyS.toFixed(2)} s, ${r.applyWrites.toLocaleString('en')} writes), change ${r.change.map((c) => (c.compileS + c.applyS).toFixed(2)).join('/')} s, peak RSS ${r.peakRssMB.toFixed(0)} MB, pol_sets ${r.entries['pol_sets']!.entries.toLocaleString('en')} entries`,
    );
    return r;
  } finally {
    await cleanup();
    unregister();
  }
}
