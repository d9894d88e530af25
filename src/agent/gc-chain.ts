// The rest of a collected pod's CNI chain. When the agent collects a pod that vanished behind
// the runtime's back (no CNI DEL ever came), podwire's own state goes (endpoint, veth, address),
// but the plugins chained after podwire keep theirs: portmap's DNAT rules would point at the
// released address and hand the old pod's hostPort traffic to the next pod that gets it. So the
// agent runs the chain's DEL the way the runtime would have, from what the runtime cached at
// ADD: libcni (containerd, CRI-O, podman's CNI backend, and the lab runtime) writes
// <cacheDir>/results/<network>-<containerID>-<ifname> = {"kind":"cniCacheV1", "config": base64
// of the network list, "cniArgs", "capabilityArgs", "netns", "result"}. Every plugin but podwire
// gets DEL in reverse order with the cached config, runtimeConfig and prevResult; podwire's own
// part is the agent's (the caller). The cache file is removed afterwards, as libcni does on DEL.
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';

/** libcni's default (libcni.CacheDir); runtimes rarely change it. */
export const DEFAULT_CNI_CACHE_DIR = '/var/lib/cni';
export const PODWIRE_TYPE = 'podwire';

export interface ChainDelOptions {
  cacheDir: string;
  /** CNI_PATH: where the chained plugins' executables are. */
  pluginDirs: readonly string[];
  containerID: string;
  ifname: string;
}

export type ChainDelOutcome =
  /** The cache named the chain; every other plugin's DEL succeeded; the cache entry is gone. */
  | { kind: 'deleted'; plugins: string[] }
  /** No cache entry for this attachment with podwire in it: nothing known to delete. */
  | { kind: 'no-cache' };

interface CacheEntry {
  file: string;
  networkName: string;
  netns?: string;
  cniArgs: Array<[string, string]>;
  capabilityArgs: Record<string, unknown>;
  result?: unknown;
  list: { cniVersion: string; name: string; plugins: Array<Record<string, unknown> & { type: string }> };
}

function parseEntry(file: string, text: string, o: ChainDelOptions): CacheEntry | undefined {
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (c['kind'] !== 'cniCacheV1' || c['containerId'] !== o.containerID || c['ifName'] !== o.ifname || typeof c['config'] !== 'string') return undefined;
  let conf: Record<string, unknown>;
  try {
    conf = JSON.parse(Buffer.from(c['config'], 'base64').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  // a single-plugin .conf is a list of one
  const plugins = (Array.isArray(conf['plugins']) ? conf['plugins'] : [conf]) as Array<Record<string, unknown>>;
  if (!plugins.every((p) => p && typeof p['type'] === 'string') || !plugins.some((p) => p['type'] === PODWIRE_TYPE)) return undefined;
  const args = Array.isArray(c['cniArgs']) ? (c['cniArgs'] as unknown[]).filter((a): a is [string, string] => Array.isArray(a) && a.length === 2 && a.every((x) => typeof x === 'string')) : [];
  return {
    file,
    networkName: String(c['networkName'] ?? conf['name'] ?? ''),
    ...(typeof c['netns'] === 'string' && c['netns'] !== '' ? { netns: c['netns'] } : {}),
    cniArgs: args,
    capabilityArgs: (c['capabilityArgs'] && typeof c['capabilityArgs'] === 'object' ? c['capabilityArgs'] : {}) as Record<string, unknown>,
    ...(c['result'] === undefined ? {} : { result: c['result'] }),
    list: { cniVersion: String(conf['cniVersion'] ?? ''), name: String(conf['name'] ?? ''), plugins: plugins as CacheEntry['list']['plugins'] },
  };
}

async function findEntries(o: ChainDelOptions): Promise<CacheEntry[]> {
  const dir = join(o.cacheDir, 'results');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const suffix = `-${o.containerID}-${o.ifname}`;
  const out: CacheEntry[] = [];
  for (const n of names.filter((x) => x.endsWith(suffix))) {
    const file = join(dir, n);
    const e = parseEntry(file, await readFile(file, 'utf8').catch(() => ''), o);
    if (e) out.push(e);
  }
  return out;
}

function pluginPath(type: string, dirs: readonly string[]): string {
  // a type is a file name, never a path
  if (!/^[A-Za-z0-9._-]+$/.test(type)) throw new PodwireError('CONFIG_INVALID', `cached CNI plugin type ${JSON.stringify(type)} is not a plugin name`);
  for (const d of dirs) if (existsSync(join(d, type))) return join(d, type);
  throw new PodwireError('IO_FAILED', `CNI plugin "${type}" not found in ${dirs.join(':')}; its DEL cannot run`);
}

async function delPlugin(e: CacheEntry, plugin: CacheEntry['list']['plugins'][number], o: ChainDelOptions): Promise<void> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: e.list.cniVersion, name: e.list.name };
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries((plugin['capabilities'] ?? {}) as Record<string, unknown>)) {
    if (on === true && e.capabilityArgs[cap] !== undefined) runtimeConfig[cap] = e.capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) conf['runtimeConfig'] = runtimeConfig;
  if (e.result !== undefined) conf['prevResult'] = e.result;
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: 'DEL',
    CNI_CONTAINERID: o.containerID,
    CNI_IFNAME: o.ifname,
    CNI_PATH: o.pluginDirs.join(':'),
    CNI_ARGS: e.cniArgs.map(([k, v]) => `${k}=${v}`).join(';'),
  };
  // DEL works without the netns (the spec allows it to be gone); pass it only while it exists
  if (e.netns && existsSync(e.netns)) env['CNI_NETNS'] = e.netns;
  const r = await run(pluginPath(plugin.type, o.pluginDirs), [], { input: JSON.stringify(conf), env, reject: false, timeoutMs: 30_000 });
  if (r.exitCode !== 0) {
    let msg = (r.stdout || r.stderr).trim();
    try {
      msg = String((JSON.parse(r.stdout) as { msg?: unknown }).msg ?? msg);
    } catch {
      // not JSON: keep the raw output
    }
    throw new PodwireError('EXEC_FAILED', `CNI DEL of chained plugin "${plugin.type}" for ${o.containerID}/${o.ifname} failed: ${msg}`);
  }
}

/** Run DEL of every plugin chained with podwire for this attachment, from libcni's cache. */
export async function delChainFromCache(o: ChainDelOptions): Promise<ChainDelOutcome> {
  const entries = await findEntries(o);
  if (entries.length === 0) return { kind: 'no-cache' };
  const plugins: string[] = [];
  for (const e of entries) {
    for (const p of [...e.list.plugins].reverse()) {
      if (p.type === PODWIRE_TYPE) continue; // the agent's own part, done by the caller
      await delPlugin(e, p, o);
      plugins.push(p.type);
    }
    await rm(e.file, { force: true });
  }
  return { kind: 'deleted', plugins };
}
