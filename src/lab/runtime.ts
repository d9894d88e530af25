// A minimal container runtime's CNI side (what libcni does for podman, containerd and CRI):
// find the lexicographically first network config in a directory, run ADD through every
// plugin of the list in order passing each result on as prevResult, DEL in reverse order.
// The lab uses it so pods are wired exactly as on a real node.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PodwireError } from '../errors/index.js';
import { execCni, type CniCommand } from './cni-exec.js';

export interface NetworkList {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> }>;
}

export interface RuntimeConf {
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS as a runtime builds it (K8S_POD_NAMESPACE=…;K8S_POD_NAME=…). */
  args: string;
  /** Directories searched for plugin executables (CNI_PATH). */
  pluginDirs: string[];
  /** Run plugins inside this namespace (the node's host namespace). */
  nodeNetns?: string;
  /** Capability arguments, e.g. { portMappings: [...] }, passed as runtimeConfig when the plugin declares the capability. */
  capabilityArgs?: Record<string, unknown>;
  /** Write libcni's result cache here (<dir>/results/<network>-<containerID>-<ifname>) as
   * containerd and CRI-O do, so the agent's GC can run the chain's DEL (src/agent/gc-chain.ts). */
  cacheDir?: string;
}

function cachePath(list: NetworkList, rt: RuntimeConf & { cacheDir: string }): string {
  return join(rt.cacheDir, 'results', `${list.name}-${rt.containerId}-${rt.ifname}`);
}

/** libcni's cniCacheV1 entry: the network list's bytes (base64), args, capability args, result. */
async function writeCache(list: NetworkList, rt: RuntimeConf & { cacheDir: string }, result: unknown): Promise<void> {
  const args = rt.args.split(';').filter((p) => p.includes('=')).map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]);
  const entry = {
    kind: 'cniCacheV1',
    containerId: rt.containerId,
    config: Buffer.from(JSON.stringify(list)).toString('base64'),
    ifName: rt.ifname,
    networkName: list.name,
    netns: rt.netns,
    cniArgs: args,
    ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
    result,
  };
  await mkdir(join(rt.cacheDir, 'results'), { recursive: true, mode: 0o700 });
  await writeFile(cachePath(list, rt), JSON.stringify(entry), { mode: 0o600 });
}

export async function loadConflist(dir: string): Promise<{ file: string; list: NetworkList }> {
  const files = existsSync(dir) ? (await readdir(dir)).filter((f) => /\.(conflist|conf|json)$/.test(f)).sort() : [];
  const first = files[0];
  if (!first) throw new PodwireError('USAGE', `no CNI network config in ${dir} (the agent writes one when the node is ready)`);
  const file = join(dir, first);
  const raw = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  // A single-plugin .conf is a list of one.
  const list = (Array.isArray(raw['plugins']) ? raw : { cniVersion: raw['cniVersion'], name: raw['name'], plugins: [raw] }) as unknown as NetworkList;
  return { file, list };
}

function pluginPath(type: string, dirs: string[]): string {
  for (const d of dirs) {
    const p = join(d, type);
    if (existsSync(p)) return p;
  }
  throw new PodwireError('USAGE', `CNI plugin "${type}" not found in ${dirs.join(':')}`);
}

function pluginConfig(list: NetworkList, plugin: NetworkList['plugins'][number], rt: RuntimeConf, prevResult?: unknown): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on && rt.capabilityArgs?.[cap] !== undefined) runtimeConfig[cap] = rt.capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length) conf['runtimeConfig'] = runtimeConfig;
  if (prevResult !== undefined) conf['prevResult'] = prevResult;
  return conf;
}

async function invoke(command: CniCommand, list: NetworkList, plugin: NetworkList['plugins'][number], rt: RuntimeConf, prevResult?: unknown) {
  const out = await execCni({
    plugin: pluginPath(plugin.type, rt.pluginDirs),
    command,
    containerId: rt.containerId,
    netns: rt.netns,
    ifname: rt.ifname,
    args: rt.args,
    path: rt.pluginDirs,
    config: pluginConfig(list, plugin, rt, prevResult),
    nodeNetns: rt.nodeNetns,
  });
  if (out.exitCode !== 0) {
    const msg = (out.json?.['msg'] as string | undefined) ?? (out.stdout + out.stderr).trim();
    throw new PodwireError('EXEC_FAILED', `CNI ${command} of plugin "${plugin.type}" failed (code ${String(out.json?.['code'] ?? out.exitCode)}): ${msg}`);
  }
  return out;
}

/** ADD through the whole chain; on failure DEL what was added (as runtimes do) and rethrow. */
export async function addNetworkList(list: NetworkList, rt: RuntimeConf): Promise<Record<string, unknown>> {
  let prev: Record<string, unknown> | undefined;
  try {
    for (const plugin of list.plugins) {
      const out = await invoke('ADD', list, plugin, rt, prev);
      prev = out.json ?? prev;
    }
    if (!prev) throw new PodwireError('EXEC_FAILED', `network ${list.name} returned no result`);
    if (rt.cacheDir !== undefined) await writeCache(list, { ...rt, cacheDir: rt.cacheDir }, prev);
    return prev;
  } catch (e) {
    await delNetworkList(list, rt, prev).catch(() => {});
    throw e;
  }
}

/** DEL through the chain in reverse order; every plugin must tolerate missing state. */
export async function delNetworkList(list: NetworkList, rt: RuntimeConf, prevResult?: unknown): Promise<void> {
  const errors: unknown[] = [];
  for (const plugin of [...list.plugins].reverse()) {
    await invoke('DEL', list, plugin, rt, prevResult).catch((e: unknown) => errors.push(e));
  }
  if (errors.length) throw errors[0];
  if (rt.cacheDir !== undefined) await rm(cachePath(list, { ...rt, cacheDir: rt.cacheDir }), { force: true });
}
