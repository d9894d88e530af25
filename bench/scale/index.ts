// Scale simulation: one real agent (a node namespace on an underlay, `podwire agent` exactly as
// the lab runs it) against an API server preloaded with a simulated cluster of N Nodes and M
// Pods. Measured: time from the agent's start until its routes map holds every node's podCIDR
// (N remote + its own), time until it is ready (conflist written), its peak RSS (VmHWM) and
// the kernel memory of its maps (bpftool: bytes_memlock).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RawMap } from 'bpf';
import { podwireBin } from '../../src/assets/index.js';
import { runJson } from '../../src/exec/run.js';
import { attachToUnderlay, createUnderlay } from '../../src/lab/underlay.js';
import { pinPaths, unloadDatapath } from '../../src/loader/index.js';
import { openPinnedMap } from '../../src/maps/index.js';
import { createNetns, uniqueName } from '../../src/netns/index.js';
import { registerCleanup } from '../cleanup.js';
import type { Progress } from '../progress.js';
import type { Collector } from '../results.js';
import { MAX_NODES, nodeCidr } from './cluster.js';
import { openRoutes } from '../../src/maps/routes.js';

const SUBNET = '172.28.0.0/24';
const CONTROL = '172.28.0.1:6443';
const REAL_NODE = 'scale-real';

function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e['NODE_EXTRA_CA_CERTS'];
  return e;
}

function vmHwmMB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

async function stop(p: ChildProcess | undefined): Promise<void> {
  if (!p || !alive(p)) return;
  p.kill('SIGTERM');
  for (let i = 0; i < 100 && alive(p); i++) await sleep(50);
  if (alive(p)) p.kill('SIGKILL');
}

/** Whether the routes of the last simulated node and of the real node are in the map: the agent
 * writes every route in one batch, so this is a cheap sign of convergence (two lookups where a
 * full count walks 65k LPM keys, ~2 s per poll on a loaded machine); a full count confirms it. */
function lastRoutesPresent(pinDir: string, nodes: number): boolean {
  const m = openRoutes(pinDir);
  try {
    return m.get(nodeCidr(nodes - 1)) !== undefined && m.get(nodeCidr(nodes)) !== undefined;
  } finally {
    m.close();
  }
}

function countRoutes(pinDir: string): number {
  const ref = openPinnedMap(pinDir, 'routes');
  try {
    let n = 0;
    for (const _ of new RawMap(ref).keys()) n++;
    return n;
  } finally {
    ref.close();
  }
}

export async function runScale(o: { nodes: number; pods: number; quick: boolean }, col: Collector, progress: Progress): Promise<void> {
  if (o.quick) col.notes.push(`QUICK run: the scale simulation was scaled down to ${o.nodes.toLocaleString('en')} Nodes / ${o.pods.toLocaleString('en')} Pods (the target is stated for 65,000 / 1,000,000).`);
  if (o.nodes + 1 > MAX_NODES) throw new Error(`--scale-nodes ${o.nodes}: at most ${MAX_NODES - 1} (one /24 each out of 10.0.0.0/8)`);
  const work = await mkdtemp(join(tmpdir(), 'pwbs-'));
  const pinDir = `/sys/fs/bpf/${uniqueName('pwbs-')}`;
  const underlay = await createUnderlay({ prefix: 'pwbs', subnet: SUBNET });
  const node = await createNetns('pwbsn');
  let server: ChildProcess | undefined;
  let agent: ChildProcess | undefined;
  const cleanup = async () => {
    await stop(agent);
    await stop(server);
    await unloadDatapath({ pinDir, netns: node.path }).catch(() => {});
    await node.remove();
    await underlay.remove();
    await rm(work, { recursive: true, force: true });
  };
  const unregister = registerCleanup(cleanup);
  try {
    progress.total += 1;
    const port = await attachToUnderlay({ netnsPath: underlay.netns.path, subnet: SUBNET }, node, 0, 'eth0');
    // The simulated nodes' IPs (100.64.0.0/10) must be on-link for the agent's kernel routes
    // (podCIDR via node IP needs an on-link gateway, as with flannel host-gw): one address in
    // that range on the uplink makes the whole /10 a connected network.
    await node.exec('ip', ['addr', 'add', '100.127.255.254/10', 'dev', 'eth0']);

    // 1) the preloaded API server, in the underlay namespace
    progress.info(`preloading ${o.nodes.toLocaleString('en')} Nodes and ${o.pods.toLocaleString('en')} Pods into the API server …`);
    const bundle = process.argv[1]!;
    server = spawn(
      'nsenter',
      [`--net=${underlay.netns.path}`, '--', process.execPath, '--max-old-space-size=16384', bundle, '__scale-apiserver', '--listen', CONTROL, '--socket', join(work, 'api.sock'), '--nodes', String(o.nodes), '--pods', String(o.pods), '--real-node', REAL_NODE, '--real-ip', port.ip],
      { stdio: ['ignore', 'pipe', 'pipe'], env: env() },
    );
    let serverErr = '';
    server.stderr!.on('data', (d: Buffer) => (serverErr += d.toString()).slice(-2000));
    const ready = await new Promise<{ nodes: number; pods: number; nodesMs: number; podsMs: number; rssMB: number }>((resolve, reject) => {
      let buf = '';
      server!.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const line = buf.split('\n')[0];
        if (buf.includes('\n') && line) {
          try {
            resolve(JSON.parse(line));
          } catch (e) {
            reject(e);
          }
        }
      });
      server!.once('exit', (code) => reject(new Error(`scale API server exited (${code}): ${serverErr.slice(-500)}`)));
    });
    progress.info(`API server holds ${ready.nodes.toLocaleString('en')} Nodes, ${ready.pods.toLocaleString('en')} Pods (preload ${((ready.nodesMs + ready.podsMs) / 1000).toFixed(1)} s, server RSS ${ready.rssMB.toFixed(0)} MB)`);
    col.add({ section: 'scale', topology: 'scale', metric: 'apiserver_preload_s', unit: 's', value: (ready.nodesMs + ready.podsMs) / 1000, rep: 0, extra: ready });

    // 2) the agent, exactly as the lab starts it
    const kubeconfig = join(work, 'kubeconfig');
    await writeFile(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: 'scale', cluster: { server: `http://${CONTROL}` } }],
      users: [{ name: 'scale', user: {} }],
      contexts: [{ name: 'scale', context: { cluster: 'scale', user: 'scale' } }],
      'current-context': 'scale',
    }));
    const confDir = join(work, 'net.d');
    const logFile = join(work, 'agent.log');
    const fd = openSync(logFile, 'a');
    const t0 = performance.now();
    try {
      agent = spawn('nsenter', [
        `--net=${node.path}`, '--', podwireBin(), 'agent', '--node-name', REAL_NODE, '--kubeconfig', kubeconfig, '--mode', 'native', '--uplink', 'eth0',
        '--pin-dir', pinDir, '--state-dir', join(work, 'state'), '--cni-conf-dir', confDir, '--health-listen', '127.0.0.1:9879',
        '--cni-socket', join(work, 'cni.sock'), // not the node-wide default socket
      ], { stdio: ['ignore', fd, fd], env: env() });
    } finally {
      closeSync(fd);
    }
    const pid = agent.pid!;
    const want = o.nodes + 1;
    const timeoutMs = o.quick ? 90_000 : 120_000;
    let seen = 0;
    let readyMs: number | undefined;
    let convergedMs: number | undefined;
    let lastLog = 0;
    while (performance.now() - t0 < timeoutMs) {
      if (!alive(agent)) throw new Error(`the agent exited (${agent.exitCode ?? agent.signalCode}); log ${logFile}:\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}`);
      if (readyMs === undefined && existsSync(confDir) && (await readdir(confDir)).some((f) => f.endsWith('.conflist'))) readyMs = performance.now() - t0;
      if (convergedMs === undefined && existsSync(pinPaths(pinDir).maps.routes) && lastRoutesPresent(pinDir, o.nodes)) {
        const at = performance.now() - t0;
        seen = countRoutes(pinDir);
        if (seen >= want) convergedMs = at;
      }
      if (convergedMs !== undefined && readyMs !== undefined) break;
      // readiness is secondary here: do not wait the whole timeout for it once routes converged
      if (convergedMs !== undefined && performance.now() - t0 > convergedMs + 30_000) break;
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now();
        progress.info(`agent: ${seen.toLocaleString('en')}/${want.toLocaleString('en')} routes, ${readyMs === undefined ? 'not ready' : 'ready'}, RSS peak ${vmHwmMB(pid).toFixed(0)} MB`);
      }
      await sleep(50);
    }
    // The policy controller caches every Pod of the cluster (1M here): the peak RSS only counts
    // once its caches have listed and it applied once. Wait for that (bounded), then read VmHWM.
    let policyMs: number | undefined;
    const policyDeadline = performance.now() + (o.quick ? 60_000 : 120_000);
    while (convergedMs !== undefined && alive(agent) && performance.now() < policyDeadline) {
      if (readFileSync(logFile, 'utf8').includes('policy caches synced; first apply')) {
        policyMs = performance.now() - t0;
        break;
      }
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now();
        progress.info(`agent: waiting for the NetworkPolicy caches (${o.pods.toLocaleString('en')} Pods), RSS peak ${vmHwmMB(pid).toFixed(0)} MB`);
      }
      await sleep(100);
    }
    // where the start-up went, from the agent's own log: the datapath (clang + load: no scale
    // dependence) and the rest (API lists, first reconcile)
    const stamps = new Map<string, number>();
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      const m = /^\{"ts":"([^"]+)","level":"\w+","msg":"(agent starting|datapath loaded|API server|first sync done)"/.exec(line);
      if (m && !stamps.has(m[2]!)) stamps.set(m[2]!, Date.parse(m[1]!));
    }
    const dpLoaded = stamps.get('datapath loaded');
    const firstSync = stamps.get('first sync done');
    if (dpLoaded !== undefined && stamps.has('agent starting')) col.add({ section: 'scale', topology: 'scale', metric: 'datapath_load_s', unit: 's', value: (dpLoaded - stamps.get('agent starting')!) / 1000, rep: 0 });
    if (dpLoaded !== undefined && firstSync !== undefined) col.add({ section: 'scale', topology: 'scale', metric: 'ready_after_datapath_s', unit: 's', value: (firstSync - dpLoaded) / 1000, rep: 0 });
    if (policyMs !== undefined) col.add({ section: 'scale', topology: 'scale', metric: 'policy_synced_s', unit: 's', value: policyMs / 1000, rep: 0 });
    else if (convergedMs !== undefined) col.notes.push(`scale: the agent's NetworkPolicy caches did not sync within ${((policyDeadline - t0) / 1000).toFixed(0)} s: agent_peak_rss_mb misses the cluster-wide Pod cache`);
    const rss = vmHwmMB(pid);
    const rssNow = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN) / 1024;
    let memlock = 0;
    const perMap: Record<string, number> = {};
    for (const name of await readdir(pinPaths(pinDir).mapsDir)) {
      const m = await runJson<{ bytes_memlock?: number; max_entries?: number }>('bpftool', ['-j', 'map', 'show', 'pinned', join(pinPaths(pinDir).mapsDir, name)]);
      perMap[name] = m.bytes_memlock ?? 0;
      memlock += m.bytes_memlock ?? 0;
    }
    col.add({ section: 'scale', topology: 'scale', metric: 'agent_peak_rss_mb', unit: 'MB', value: rss, rep: 0, extra: { policySynced: policyMs !== undefined } });
    col.add({ section: 'scale', topology: 'scale', metric: 'agent_rss_mb', unit: 'MB', value: rssNow, rep: 0 });
    col.add({ section: 'scale', topology: 'scale', metric: 'map_memlock_mb', unit: 'MB', value: memlock / 2 ** 20, rep: 0, extra: { bytesPerMap: perMap } });
    col.add({ section: 'scale', topology: 'scale', metric: 'routes_synced', unit: 'count', value: seen, rep: 0, extra: { want } });
    if (readyMs !== undefined) col.add({ section: 'scale', topology: 'scale', metric: 'start_to_ready_s', unit: 's', value: readyMs / 1000, rep: 0 });
    else {
      const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-4).map((l) => l.slice(0, 300)).join(' | ');
      col.notes.push(`scale: the agent wrote no conflist (not ready) within ${((performance.now() - t0) / 1000).toFixed(0)} s of its start; last log lines: ${tail}`);
    }
    if (convergedMs === undefined) {
      const tail = readFileSync(logFile, 'utf8').split('\n').filter((l) => /error|warn|fail/i.test(l)).slice(-3).join(' | ');
      throw new Error(`the agent did not converge within ${timeoutMs / 1000} s: ${seen.toLocaleString('en')} of ${want.toLocaleString('en')} routes in its map${tail ? `; agent log: ${tail.slice(0, 600)}` : ''}`);
    }
    col.add({ section: 'scale', topology: 'scale', metric: 'converge_s', unit: 's', value: convergedMs / 1000, rep: 0 });
    progress.step(`scale: converged in ${(convergedMs / 1000).toFixed(2)} s (${want.toLocaleString('en')} routes), ready after ${readyMs === undefined ? '—' : (readyMs / 1000).toFixed(2)} s, policy caches after ${policyMs === undefined ? '—' : (policyMs / 1000).toFixed(1)} s, agent peak RSS ${rss.toFixed(0)} MB, maps ${(memlock / 2 ** 20).toFixed(1)} MB memlock`);
  } catch (e) {
    progress.warn(`scale: ${(e as Error).message}`);
    col.error({ section: 'scale', topology: 'scale', stage: 'run', message: (e as Error).message });
  } finally {
    unregister();
    // PODWIRE_SCALE_LOG=FILE keeps the agent's log of the run (the work dir is removed)
    const keep = process.env['PODWIRE_SCALE_LOG'];
    if (keep) await copyFile(join(work, 'agent.log'), keep).catch(() => undefined);
    await cleanup();
  }
}
