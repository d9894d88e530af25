// The soak: a lab whose pods churn (created and deleted through `podwire lab kubectl`) while
// long-lived pods ping each other on the same node and across nodes, and whose agents are
// SIGKILLed on a schedule (the node's lab kubelet restarts them). Before the churn and after it
// (churn pods deleted, the cluster settled) every node is counted (probe.ts); anything above its
// baseline is a leak. Agent RSS and fds are sampled throughout for a slope per agent process.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { podwireBin } from '../../src/assets/index.js';
import { Lab, alive } from '../../src/lab/cluster.js';
import { agentFds, agentRssKb, countNode, PER_REMOTE_NODE_MAPS, type NodeCounts } from './probe.js';
import { startPinger, type PingStats } from './pinger.js';

export interface SoakOptions {
  minutes: number;
  nodes?: number;
  /** Seconds between agent kills (round-robin over nodes); 0: never. Default: 60. */
  restartEveryS?: number;
  /** Churn pods alive at once per node. */
  churnPerNode?: number;
  log?: (line: string) => void;
}

export interface AgentSample {
  t: number;
  node: string;
  pid: number;
  rssKb: number;
  fds: number;
}

export interface RestartEvent {
  node: string;
  oldPid: number;
  newPid?: number;
  killedAt: number;
  /** When the kubelet had a new agent process running (ms after the kill). */
  backAfterMs?: number;
}

export interface Leak {
  node: string;
  what: string;
  baseline: number;
  after: number;
}

export interface SoakReport {
  startedAt: string;
  finishedAt: string;
  minutesRequested: number;
  minutesChurned: number;
  loadAverage: { start: number[]; end: number[] };
  lab: { name: string; nodes: number; mode: string };
  churn: { created: number; deleted: number; reachable: number; unreachable: string[]; errors: string[]; medianMs: { apply: number; ready: number; delete: number } };
  restarts: RestartEvent[];
  ping: Array<PingStats & { lostDuringRestart: number; lostOtherwise: number }>;
  /** per node: baseline (before churn) and after (churn pods gone, settled) */
  counts: { baseline: NodeCounts[]; after: NodeCounts[] };
  leaks: Leak[];
  agents: Array<{ node: string; pid: number; samples: number; seconds: number; rssFirstKb: number; rssLastKb: number; rssSlopeKbPerHour: number; fdsFirst: number; fdsLast: number; fdsMax: number }>;
  /** The loss policy this run was judged by (see README "Soak"). */
  policy: string;
  ok: boolean;
}

/** A lost ping counts against an agent restart when it fell inside [kill − 1 s, back + RESTART_GRACE_MS]. */
export const RESTART_GRACE_MS = 5000;
export const POLICY =
  'leak: any IPAM allocation, pinned-map entry count, pin file, veth count, or agent fd count above its baseline once the churn pods are deleted and the node settled (60 s at most); ' +
  'loss: 0 lost pings between long-lived pods, restarts included (an agent restart must not touch the pinned datapath); ' +
  `losses inside a restart window (kill − 1 s … agent back + ${RESTART_GRACE_MS / 1000} s) are reported separately but still fail the run.`;

function kubectl(statePath: string, args: string[], input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(podwireBin(), ['lab', 'kubectl', ...args], { env: { ...process.env, PODWIRE_LAB_STATE: statePath }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (c) => resolve({ code: c ?? 1, out }));
    child.stdin.end(input ?? '');
  });
}

function podYaml(name: string, node: string, lab: string): string {
  return `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, labels: {podwire.io/lab: ${lab}, soak: churn}}\nspec:\n  nodeName: ${node}\n  containers: [{name: main, image: podwire.io/lab-serve}]\n`;
}

function slopePerHour(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 3) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 3_600_000;
}

async function pingOnce(netns: string, ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('nsenter', [`--net=${netns}`, '--', 'ping', '-n', '-q', '-c', '3', '-i', '0.2', '-W', '1', '-w', '4', ip], { stdio: 'ignore' });
    child.on('exit', (c) => resolve(c === 0));
  });
}

export function compareCounts(baseline: NodeCounts[], after: NodeCounts[]): Leak[] {
  const leaks: Leak[] = [];
  for (const b of baseline) {
    const a = after.find((x) => x.node === b.node);
    if (!a) continue;
    const check = (what: string, x: number | undefined, y: number | undefined) => {
      if (x !== undefined && y !== undefined && y > x) leaks.push({ node: b.node, what, baseline: x, after: y });
    };
    check('ipam allocations', b.ipamAllocations, a.ipamAllocations);
    check('veths', b.veths, a.veths);
    check('agent fds', b.agentFds, a.agentFds);
    for (const k of new Set([...Object.keys(b.mapEntries), ...Object.keys(a.mapEntries)])) {
      const before = b.mapEntries[k] ?? 0;
      // a per-remote-node cache may hold one entry per other node; more than that is a leak
      check(`map ${k} entries`, PER_REMOTE_NODE_MAPS.has(k) ? Math.max(before, baseline.length - 1) : before, a.mapEntries[k] ?? 0);
    }
    for (const k of new Set([...Object.keys(b.pins), ...Object.keys(a.pins)])) check(`pins under ${k}/`, b.pins[k] ?? 0, a.pins[k] ?? 0);
  }
  return leaks;
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const nodesWanted = o.nodes ?? 2;
  const restartEveryMs = (o.restartEveryS ?? 60) * 1000;
  const churnPerNode = o.churnPerNode ?? 2;
  const loadStart = loadavg();
  const startedAt = new Date().toISOString();
  const tmp = await mkdtemp(join(tmpdir(), 'pwsoak-'));
  const statePath = join(tmp, 'lab.json');
  const name = `soak${randomBytes(2).toString('hex')}`;
  const lab = await Lab.up({ nodes: nodesWanted, podsPerNode: 0, proxyMode: 'none', statePath, dir: join(tmp, 'lab'), name });
  const report: Partial<SoakReport> = {};
  try {
    log(`lab ${name} up (${nodesWanted} nodes), state ${statePath}`);
    const nodes = lab.state.nodes.map((n) => n.name);
    // long-lived pods: two on the first node (same-node pair), one on every other node
    const ll = [await lab.addPod(nodes[0]!, 'long-a'), await lab.addPod(nodes[0]!, 'long-b')];
    for (const n of nodes.slice(1)) ll.push(await lab.addPod(n, `long-${n.replace(/^node-/, 'n')}`));
    const pairs: Array<[string, (typeof ll)[number], (typeof ll)[number]]> = [['same-node', ll[0]!, ll[1]!]];
    if (ll[2]) pairs.push(['cross-node', ll[0]!, ll[2]], ['cross-node-back', ll[2], ll[1]!]);
    await sleep(3000);
    const baseline: NodeCounts[] = [];
    for (const n of (await lab.refresh()).nodes) baseline.push(await countNode(n));
    log(`baseline: ${JSON.stringify(baseline.map((b) => ({ node: b.node, ipam: b.ipamAllocations, veths: b.veths, fds: b.agentFds })))}`);

    const pingers = pairs.map(([label, from, to]) => startPinger(`${label} ${from.name}→${to.name}`, from.netnsPath, to.ip));
    const samples: AgentSample[] = [];
    const restarts: RestartEvent[] = [];
    const churn: SoakReport['churn'] = { created: 0, deleted: 0, reachable: 0, unreachable: [], errors: [], medianMs: { apply: 0, ready: 0, delete: 0 } };
    const took = { apply: [] as number[], ready: [] as number[], delete: [] as number[] };
    const t0 = Date.now();
    const churnUntil = t0 + o.minutes * 60_000;
    // no kill in the last quarter: the agent counted at the end has lived through churn
    const lastKillAt = t0 + o.minutes * 60_000 * 0.75;
    let nextKill = restartEveryMs > 0 ? t0 + restartEveryMs : Infinity;
    let killIdx = 0;
    let nextSample = t0;
    let cycle = 0;
    const alivePods: Array<{ name: string; node: string }> = [];

    const sample = async () => {
      for (const n of (await lab.refresh()).nodes) {
        if (!n.agentPid || !alive(n.agentPid)) continue;
        const rss = agentRssKb(n.agentPid);
        const fds = agentFds(n.agentPid);
        if (rss !== undefined && fds !== undefined) samples.push({ t: Date.now(), node: n.name, pid: n.agentPid, rssKb: rss, fds });
      }
    };

    const killOne = async () => {
      const node = nodes[killIdx++ % nodes.length]!;
      const oldPid = (await lab.refresh()).nodes.find((n) => n.name === node)?.agentPid;
      if (!oldPid || !alive(oldPid)) return;
      const ev: RestartEvent = { node, oldPid, killedAt: Date.now() };
      process.kill(oldPid, 'SIGKILL');
      restarts.push(ev);
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const pid = (await lab.refresh()).nodes.find((n) => n.name === node)?.agentPid;
        if (pid && pid !== oldPid && alive(pid)) {
          ev.newPid = pid;
          ev.backAfterMs = Date.now() - ev.killedAt;
          break;
        }
        await sleep(100);
      }
      log(`agent of ${node} killed (pid ${oldPid}) → ${ev.newPid ? `pid ${ev.newPid} after ${ev.backAfterMs} ms` : 'NOT BACK after 60 s'}`);
    };

    while (Date.now() < churnUntil) {
      if (Date.now() >= nextSample) {
        await sample();
        nextSample = Date.now() + 5000;
      }
      if (Date.now() >= nextKill && Date.now() < lastKillAt) {
        await killOne();
        nextKill = Date.now() + restartEveryMs;
      }
      // one churn step: a new pod on every node, reach it, delete the oldest beyond churnPerNode
      cycle++;
      const fresh = nodes.map((n) => ({ name: `churn-${cycle}-${n.replace(/^node-/, 'n')}`, node: n }));
      const yaml = fresh.map((p) => podYaml(p.name, p.node, name)).join('---\n');
      let ts = Date.now();
      const ap = await kubectl(statePath, ['apply', '-f', '-'], yaml);
      took.apply.push(Date.now() - ts);
      if (ap.code !== 0) {
        churn.errors.push(`cycle ${cycle} apply: ${ap.out.trim().slice(0, 300)}`);
        await sleep(1000);
        continue;
      }
      churn.created += fresh.length;
      alivePods.push(...fresh);
      // Running: the node's kubelet recorded the pod as wired (state file), then the API agrees.
      // (`kubectl wait --for=condition=Ready` took 5-19 s per step until the lab forwarder flushed
      // watch headers; this wait does not depend on watches at all.)
      ts = Date.now();
      let st = await lab.refresh();
      const readyBy = Date.now() + 90_000;
      while (!fresh.every((p) => st.pods.some((x) => x.name === p.name && x.ip && x.result)) && Date.now() < readyBy) {
        await sleep(100);
        st = await lab.refresh();
      }
      const phases = await kubectl(statePath, ['get', 'pod', ...fresh.map((p) => p.name), '-o', 'jsonpath={range .items[*]}{.status.phase}{" "}{end}']);
      if (phases.code !== 0 || phases.out.trim().split(/\s+/).some((ph) => ph !== 'Running')) churn.errors.push(`cycle ${cycle} not Running after 90 s: ${phases.out.trim().slice(0, 300)}`);
      took.ready.push(Date.now() - ts);
      for (const p of fresh) {
        const rec = st.pods.find((x) => x.name === p.name);
        // reached from a long-lived pod on another node (or the same one on a 1-node lab)
        const from = ll.find((x) => x.node !== p.node) ?? ll[0]!;
        if (rec?.ip && (await pingOnce(from.netnsPath, rec.ip))) churn.reachable++;
        else churn.unreachable.push(`${p.name} (${rec?.ip ?? 'no IP'}) from ${from.name}`);
      }
      while (alivePods.length > churnPerNode * nodes.length) {
        const gone = alivePods.splice(0, nodes.length);
        ts = Date.now();
        const d = await kubectl(statePath, ['delete', 'pod', '--wait=true', '--timeout=90s', ...gone.map((p) => p.name)]);
        if (d.code !== 0) churn.errors.push(`cycle ${cycle} delete: ${d.out.trim().slice(0, 300)}`);
        else churn.deleted += gone.length;
        took.delete.push(Date.now() - ts);
      }
    }
    const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : 0);
    churn.medianMs = { apply: median(took.apply), ready: median(took.ready), delete: median(took.delete) };
    const minutesChurned = (Date.now() - t0) / 60_000;
    log(`churn done after ${minutesChurned.toFixed(1)} min: ${churn.created} pods created, ${restarts.length} agent restarts`);
    if (alivePods.length) {
      const d = await kubectl(statePath, ['delete', 'pod', '--wait=true', '--timeout=90s', ...alivePods.map((p) => p.name)]);
      if (d.code !== 0) churn.errors.push(`final delete: ${d.out.trim().slice(0, 300)}`);
      else churn.deleted += alivePods.length;
    }
    // settle: the kubelets tear the pods down; then give the agents' GC a chance, up to 60 s
    const settleUntil = Date.now() + 60_000;
    let after: NodeCounts[] = [];
    for (;;) {
      const st = await lab.refresh();
      after = [];
      for (const n of st.nodes) after.push(await countNode(n));
      const podsGone = !st.pods.some((p) => p.name.startsWith('churn-'));
      if ((podsGone && compareCounts(baseline, after).length === 0) || Date.now() > settleUntil) break;
      await sleep(2000);
    }
    await sample();
    const pings = await Promise.all(pingers.map((p) => p.stop()));
    const inRestart = (at: number) => restarts.some((r) => at >= r.killedAt - 1000 && at <= r.killedAt + (r.backAfterMs ?? 60_000) + RESTART_GRACE_MS);
    const ping = pings.map((p) => {
      const during = p.lost.filter((l) => inRestart(l.at)).length;
      return { ...p, lostDuringRestart: during, lostOtherwise: p.lost.length - during };
    });

    const agents: SoakReport['agents'] = [];
    for (const key of new Set(samples.map((s) => `${s.node} ${s.pid}`))) {
      const ss = samples.filter((s) => `${s.node} ${s.pid}` === key);
      if (!ss.length) continue;
      agents.push({
        node: ss[0]!.node,
        pid: ss[0]!.pid,
        samples: ss.length,
        seconds: Math.round((ss.at(-1)!.t - ss[0]!.t) / 1000),
        rssFirstKb: ss[0]!.rssKb,
        rssLastKb: ss.at(-1)!.rssKb,
        rssSlopeKbPerHour: Math.round(slopePerHour(ss.map((s) => s.t), ss.map((s) => s.rssKb))),
        fdsFirst: ss[0]!.fds,
        fdsLast: ss.at(-1)!.fds,
        fdsMax: Math.max(...ss.map((s) => s.fds)),
      });
    }
    const leaks = compareCounts(baseline, after);
    const lostAny = ping.some((p) => p.lost.length > 0 || p.sent === 0 || p.received < p.sent);
    Object.assign(report, {
      startedAt,
      finishedAt: new Date().toISOString(),
      minutesRequested: o.minutes,
      minutesChurned: Number(minutesChurned.toFixed(2)),
      loadAverage: { start: loadStart.map((x) => Number(x.toFixed(2))), end: loadavg().map((x) => Number(x.toFixed(2))) },
      lab: { name, nodes: nodes.length, mode: lab.state.mode },
      churn,
      restarts,
      ping,
      counts: { baseline, after },
      leaks,
      agents,
      policy: POLICY,
      ok: leaks.length === 0 && !lostAny && churn.unreachable.length === 0 && churn.errors.length === 0 && restarts.every((r) => r.newPid !== undefined),
    } satisfies SoakReport);
    return report as SoakReport;
  } finally {
    await lab.down().catch((e: unknown) => log(`lab down failed: ${(e as Error).message}`));
    await rm(tmp, { recursive: true, force: true });
  }
}
