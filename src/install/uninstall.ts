// `podwire uninstall`: take podwire off a node — by hand, from a clean-up DaemonSet, or after
// `kubectl delete -f deploy/`. Removes, in this order so no step needs what an earlier one
// removed: the conflist (first, so the runtime stops choosing podwire for new pods), the node's
// host networking (uplink program, VXLAN device, podwire's kernel routes; needs node_cfg to find
// the uplink), the datapath (programs detached from pod veths, every pin), the agent's warm veth
// pool pairs, the plugin binary,
// the state directory. Idempotent: what is already gone is skipped, and the report says what
// this run removed. Pod veths of pods still running stay: they belong to the runtime.
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, unlink } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { CONFLIST_NAME } from '../agent/conflist.js';
import { PodwireError } from '../errors/index.js';
import { run, runJson } from '../exec/run.js';
import { isPoolHostName } from '../cni/pool.js';
import { listKernelRoutes, teardownNode, VXLAN_DEVICE } from '../hostnet/index.js';
import { attachedProgramId, linkNames } from '../loader/attach.js';
import { unloadDatapath } from '../loader/datapath.js';
import { pinPaths } from '../loader/pins.js';
import { openNodeConfig } from '../maps/node-config.js';
import { CNI_BIN_NAME, CNI_FULL_BIN_NAME } from './cni-bin.js';

export interface UninstallOptions {
  pinDir: string;
  cniConfDir: string;
  cniBinDir: string;
  stateDir: string;
  keepState?: boolean;
  /** Uplink to detach from; default: the one recorded in the pinned node_cfg map. */
  uplink?: string;
  /** Network namespace of the node (lab nodes); default: ours. */
  netns?: string;
}

export interface Removed {
  what: 'conflist' | 'vxlan-device' | 'kernel-routes' | 'uplink-program' | 'datapath' | 'veth-pool' | 'binary' | 'temp-file' | 'state';
  path: string;
}

export interface UninstallResult {
  removed: Removed[];
  /** Things found and deliberately left alone, with the reason. */
  kept: { path: string; why: string }[];
}

function checkDir(flag: string, v: string): void {
  if (!isAbsolute(v) || normalize(v) === '/') throw new PodwireError('USAGE', `${flag} ${JSON.stringify(v)} must be an absolute directory other than /`);
}

/** A network config is podwire's when its (first) plugin is of type podwire. */
async function isOurConflist(path: string): Promise<boolean> {
  try {
    const c = JSON.parse(await readFile(path, 'utf8')) as { type?: unknown; plugins?: { type?: unknown }[] };
    return c.type === CNI_BIN_NAME || (Array.isArray(c.plugins) && c.plugins[0]?.type === CNI_BIN_NAME);
  } catch {
    return false;
  }
}

/** Temp files our atomic writers leave if they die between write and rename. */
async function strayTemps(dir: string, prefix: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(prefix)).map((n) => join(dir, n));
}

async function linkExists(name: string, netns?: string): Promise<boolean> {
  const l = await runJson<unknown[]>('ip', ['-j', 'link', 'show', 'dev', name], { netns, reject: false });
  return Array.isArray(l) && l.length > 0;
}

/** The uplink the agent configured, from the pinned node_cfg map (undefined when not set up). */
async function recordedUplink(pinDir: string, netns?: string): Promise<string | undefined> {
  if (!existsSync(pinPaths(pinDir).maps.nodeCfg)) return undefined;
  let ifindex = 0;
  try {
    const cfg = openNodeConfig(pinDir);
    try {
      ifindex = cfg.get().uplinkIfindex;
    } finally {
      cfg.close();
    }
  } catch {
    return undefined; // unreadable (layout of another version): teardownNode handles it
  }
  return ifindex > 0 ? (await linkNames({ netns })).get(ifindex) : undefined;
}

export async function uninstall(o: UninstallOptions): Promise<UninstallResult> {
  for (const [flag, v] of [['--pin-dir', o.pinDir], ['--cni-conf-dir', o.cniConfDir], ['--cni-bin-dir', o.cniBinDir], ['--state-dir', o.stateDir]] as const) {
    checkDir(flag, v);
  }
  const removed: Removed[] = [];
  const kept: UninstallResult['kept'] = [];

  // 1. the conflist: only our file name, and only if it is ours
  const conflist = join(o.cniConfDir, CONFLIST_NAME);
  if (existsSync(conflist)) {
    if (await isOurConflist(conflist)) {
      await unlink(conflist);
      removed.push({ what: 'conflist', path: conflist });
    } else {
      kept.push({ path: conflist, why: 'its first plugin is not podwire' });
    }
  }
  for (const t of await strayTemps(o.cniConfDir, `.${CONFLIST_NAME}.tmp-`)) {
    await unlink(t).catch(() => undefined);
    removed.push({ what: 'temp-file', path: t });
  }

  // 2. host networking (teardownNode is idempotent; look first so the report is exact)
  const uplink = o.uplink ?? (await recordedUplink(o.pinDir, o.netns));
  const uplinkAttached = uplink !== undefined && (await attachedProgramId(uplink, { netns: o.netns }).catch(() => undefined)) !== undefined;
  const hadVxlan = await linkExists(VXLAN_DEVICE, o.netns);
  const routes = (await listKernelRoutes(o.netns)).length;
  await teardownNode({ pinDir: o.pinDir, ...(o.uplink ? { uplink: o.uplink } : {}), ...(o.netns ? { netns: o.netns } : {}) });
  if (uplinkAttached) removed.push({ what: 'uplink-program', path: uplink! });
  if (hadVxlan) removed.push({ what: 'vxlan-device', path: VXLAN_DEVICE });
  if (routes > 0) removed.push({ what: 'kernel-routes', path: `${routes} route(s) of protocol podwire` });

  // 3. the datapath: detach from pod veths, remove every pin
  if (existsSync(o.pinDir)) {
    await unloadDatapath({ pinDir: o.pinDir, ...(o.netns ? { netns: o.netns } : {}) });
    removed.push({ what: 'datapath', path: o.pinDir });
  }

  // 3b. the agent's warm veth pool (src/cni/pool.ts): podwire's own devices, no pod uses them
  const links = await runJson<Array<{ ifname: string }>>('ip', ['-j', 'link', 'show'], { netns: o.netns, reject: false });
  for (const l of Array.isArray(links) ? links : []) {
    if (!isPoolHostName(l.ifname)) continue;
    await run('ip', ['link', 'del', 'dev', l.ifname], { netns: o.netns, reject: false });
    removed.push({ what: 'veth-pool', path: l.ifname });
  }

  // 4. the plugin binary (and an install-cni temp file a crash left behind)
  for (const name of [CNI_BIN_NAME, CNI_FULL_BIN_NAME]) {
    const bin = join(o.cniBinDir, name);
    if (existsSync(bin)) {
      await rm(bin, { force: true });
      removed.push({ what: 'binary', path: bin });
    }
    for (const t of await strayTemps(o.cniBinDir, `.${name}.tmp-`)) {
      await rm(t, { force: true });
      removed.push({ what: 'temp-file', path: t });
    }
  }

  // 5. state: IPAM store and datapath.json
  if (existsSync(o.stateDir)) {
    if (o.keepState) kept.push({ path: o.stateDir, why: '--keep-state' });
    else {
      await rm(o.stateDir, { recursive: true, force: true });
      removed.push({ what: 'state', path: o.stateDir });
    }
  }
  return { removed, kept };
}
