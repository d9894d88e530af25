// Shared by the real-runtime tests of the deployable binary: a 2-node lab whose agents, API
// server and CNI plugin are all dist/podwire (PODWIRE_BIN), the plugin installed with
// `podwire install-cni` into a per-test CNI bin directory (never the real /opt/cni/bin) behind a
// timing shim that records how long each CNI command took, and the conflist the agent wrote.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { podwireSeaBin } from '../../src/assets/index.js';
import { CONFLIST_NAME } from '../../src/agent/conflist.js';
import { run } from '../../src/exec/run.js';
import { Lab } from '../../src/lab/cluster.js';
import type { LabNodeState } from '../../src/lab/state.js';
import { uniqueName } from '../../src/netns/index.js';


export interface SeaLab {
  lab: Lab;
  /** CNI plugin directory: podwire (installed copy of dist/podwire via the timing shim). */
  binDir: string;
  /** Per-command durations the shim recorded: "ADD 12.3" lines. */
  timingLog: string;
}

export async function upSeaLab(dir: string, mode: 'native' | 'vxlan' = 'native'): Promise<SeaLab> {
  if (!existsSync(podwireSeaBin())) throw new Error(`${podwireSeaBin()} is missing: run \`npm run build:bin\``);
  for (const tool of ['/usr/lib/cni/portmap', '/usr/lib/cni/bandwidth', '/usr/lib/cni/loopback', '/bin/busybox', 'iperf3']) {
    if (tool.startsWith('/') && !existsSync(tool)) throw new Error(`${tool} is missing: run deploy/host-prereqs.sh`);
  }
  process.env['PODWIRE_BIN'] = podwireSeaBin();
  // every dist/podwire process (agents, plugin via the runtimes, which pass their environment on)
  // extracts its assets here instead of /run/podwire/assets, so the test leaves nothing behind
  process.env['PODWIRE_CACHE_DIR'] = join(dir, 'sea-cache');
  const name = uniqueName('rt').slice(-6);
  const lab = await Lab.up({ nodes: 2, mode, name, statePath: join(dir, 'lab.json'), dir: join(dir, 'lab'), readyTimeoutMs: 120_000 });

  const realDir = join(dir, 'cni-real');
  const binDir = join(dir, 'cni-bin');
  await mkdir(binDir, { recursive: true });
  await run(podwireSeaBin(), ['install-cni', '--dest', realDir]);
  const timingLog = join(dir, 'cni-timing.log');
  // the shim adds one sh + two date execs (measured separately, see shimOverheadMs)
  await writeFile(
    join(binDir, 'podwire'),
    `#!/bin/sh\ns=$(date +%s%N)\n${join(realDir, 'podwire')} "$@"\nrc=$?\ne=$(date +%s%N)\necho "$CNI_COMMAND $(( (e - s) / 1000 ))" >> ${timingLog}\nexit $rc\n`,
  );
  await chmod(join(binDir, 'podwire'), 0o755);
  // containerd's CRI path looks for plugins in one directory: the reference plugins join ours
  for (const p of ['portmap', 'bandwidth', 'loopback']) await symlink(join('/usr/lib/cni', p), join(binDir, p));
  return { lab, binDir, timingLog };
}

/** The conflist the node's agent wrote, optionally with more plugins appended to the chain. */
export async function agentConflist(node: LabNodeState, extra: Record<string, unknown>[] = []): Promise<{ name: string; text: string; plugins: { type: string }[] }> {
  const conf = JSON.parse(await readFile(join(node.cniConfDir, CONFLIST_NAME), 'utf8')) as { name: string; plugins: { type: string }[] };
  conf.plugins.push(...(extra as { type: string }[]));
  return { name: conf.name, text: `${JSON.stringify(conf, null, 2)}\n`, plugins: conf.plugins };
}

/** Microseconds per command from the shim's log, minus nothing (see shimOverheadMs). */
export async function timings(log: string): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  const text = existsSync(log) ? await readFile(log, 'utf8') : '';
  for (const line of text.split('\n')) {
    const [cmd, us] = line.split(' ');
    if (cmd && us) (out[cmd] ??= []).push(Number(us) / 1000);
  }
  return out;
}

/** What the shim itself costs: the same script around /bin/true. */
export async function shimOverheadMs(dir: string, n = 20): Promise<number> {
  const shim = join(dir, 'shim-true');
  const log = join(dir, 'shim-true.log');
  await writeFile(shim, `#!/bin/sh\ns=$(date +%s%N)\n/bin/true "$@"\nrc=$?\ne=$(date +%s%N)\necho "X $(( (e - s) / 1000 ))" >> ${log}\nexit $rc\n`);
  await chmod(shim, 0o755);
  for (let i = 0; i < n; i++) await run(shim, []);
  const t = (await timings(log))['X'] ?? [];
  return median(t);
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

