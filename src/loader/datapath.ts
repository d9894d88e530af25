// loadDatapath / unloadDatapath: the prebuilt object, or compile -> link; then load+pin (reusing pinned maps) -> point every
// pinned tcx link (host veths, uplink / VXLAN device) at the new programs, and the reverse.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINKED_OBJECT } from '../build/bpf.mjs';
import { isPodwireError } from '../errors/index.js';
import { openEndpoints } from '../maps/endpoints.js';
import { openNodeConfig } from '../maps/node-config.js';
import { egressIsolationPinned } from '../policy/egress-pinned.js';
import { attachFromPodMany, attachProgram, detachAllLinks, detachProgram, linkNames, updateLinks, type NetnsOption } from './attach.js';
import { compileSources, type Defines } from './compile.js';
import { linkObjects } from './link.js';
import { loadAndPin } from './load.js';
import { prebuiltObject } from './prebuilt.js';
import type { MigrationResult } from './migrate.js';
import { linkPin, pinPaths } from './pins.js';
import { datapathSourceDir } from './source.js';
import { PREFILTER_PROG, xdpAttach, xdpDetach, xdpStatus } from './xdp.js';

export interface LoadOptions extends NetnsOption {
  pinDir: string;
  /** Node-specific compile-time constants, passed to clang as -DNAME=VALUE. */
  defines?: Defines;
  /** Directory of BPF sources (default: the package's bpf/). Tests point it at broken programs. */
  bpfDir?: string;
  /** 'always': run clang even when the prebuilt object fits (tests of the compile path). */
  compile?: 'auto' | 'always';
}

export interface LoadResult {
  /** Names of the programs now pinned under PINDIR/progs. */
  programs: string[];
  /** Maps that were already pinned and kept (with their contents). */
  reusedMaps: string[];
  /** Devices whose tcx link now runs the new program (host veths, plus the uplink or VXLAN device of a set-up node). */
  reattached: number;
  /** Link pins dropped because their device is gone (a veth deleted without a CNI DEL). */
  staleLinks: string[];
  /** Maps whose layout changed since the pinning podwire: new maps, entries copied field by field. */
  migrated: MigrationResult[];
  /** A newer podwire (per the layout record) had pinned maps this build could still use. */
  overNewer?: { generation: number; writer: string };
  /** Where the loaded object came from: npm run build's prebuilt object, or clang just now (and why). */
  object: { source: 'prebuilt' } | { source: 'compiled'; reason: string };
}

/** Host veth names of the endpoints, resolved in the given namespace (missing ones skipped). */
async function endpointIfnames(pinDir: string, opts: NetnsOption): Promise<string[]> {
  if (!existsSync(pinPaths(pinDir).maps.endpoints)) return [];
  let eps;
  try {
    eps = openEndpoints(pinDir);
  } catch (e) {
    // sources other than this build's (LoadOptions.bpfDir: tests, an old release) have their own
    // endpoints layout; their veths are attached by whoever wrote those endpoints
    if (isPodwireError(e, 'MAP_LAYOUT_MISMATCH')) return [];
    throw e;
  }
  let ifindexes: number[];
  try {
    ifindexes = [...new Set(eps.list().map((e) => e.ifindex))];
  } finally {
    eps.close();
  }
  if (ifindexes.length === 0) return [];
  const names = await linkNames(opts);
  return ifindexes.map((i) => names.get(i)).filter((n): n is string => n !== undefined);
}

/** The node programs setupNode attached (from_uplink on the uplink, from_vxlan on the VXLAN device,
 * both with the BPF VXLAN datapath) per node_cfg, with their device names; empty when the node is
 * not set up. */
async function nodePrograms(pinDir: string, opts: NetnsOption): Promise<{ prog: 'from_uplink' | 'from_vxlan'; ifname: string }[]> {
  if (!existsSync(pinPaths(pinDir).maps.nodeCfg)) return [];
  const m = openNodeConfig(pinDir);
  let c;
  try {
    c = m.get();
  } finally {
    m.close();
  }
  if (c.mode === 'none') return [];
  const want: ['from_uplink' | 'from_vxlan', number][] = c.mode === 'native' ? [['from_uplink', c.uplinkIfindex]] : [['from_vxlan', c.vxlanIfindex]];
  if (c.mode === 'vxlan' && c.vxlanDatapath === 'bpf') want.push(['from_uplink', c.uplinkIfindex]);
  const names = await linkNames(opts);
  return want.flatMap(([prog, ifindex]) => {
    const ifname = names.get(ifindex);
    return ifname ? [{ prog, ifname }] : [];
  });
}

/** The uplink's name per node_cfg (native and vxlan alike), when the node is set up. */
export async function uplinkName(pinDir: string, opts: NetnsOption): Promise<string | undefined> {
  if (!existsSync(pinPaths(pinDir).maps.nodeCfg)) return undefined;
  const m = openNodeConfig(pinDir);
  let c;
  try {
    c = m.get();
  } finally {
    m.close();
  }
  if (c.uplinkIfindex === 0) return undefined;
  return (await linkNames(opts)).get(c.uplinkIfindex);
}

export async function loadDatapath(opts: LoadOptions): Promise<LoadResult> {
  const work = await mkdtemp(join(tmpdir(), 'podwire-bpf-'));
  try {
    const srcDir = opts.bpfDir ?? datapathSourceDir();
    const prebuilt = opts.compile === 'always' ? { reason: 'compile requested' } : prebuiltObject(srcDir, opts.defines ?? {});
    const linked = prebuilt.object ?? (await linkObjects(join(work, LINKED_OBJECT), await compileSources(srcDir, work, opts.defines ?? {})));
    const object: LoadResult['object'] = prebuilt.object ? { source: 'prebuilt' } : { source: 'compiled', reason: prebuilt.reason ?? 'no prebuilt object' };
    const pinned = await loadAndPin(linked, pinPaths(opts.pinDir));
    // A link holds the program it was given, not the pin: re-point every pinned link at the new
    // program (BPF_LINK_UPDATE, atomic per device) and drop pins whose device is gone.
    const links = await updateLinks(opts.pinDir);
    let reattached = links.updated.length;
    // Devices without a link pin yet: host veths attached by a pre-tcx podwire (their clsact
    // filter is removed by the attach), and likewise the uplink/VXLAN device of a set-up node.
    // Host veths of a podwire before to_pod have no egress link yet: attach both (idempotent).
    const unlinked = (ifname: string): boolean => !existsSync(linkPin(opts.pinDir, ifname));
    const podUnlinked = (ifname: string): boolean => unlinked(ifname) || !existsSync(linkPin(opts.pinDir, ifname, 'egress'));
    if (pinned.programs.includes('from_pod') && pinned.programs.includes('to_pod')) {
      reattached += await attachFromPodMany((await endpointIfnames(opts.pinDir, opts)).filter(podUnlinked), opts.pinDir, opts);
    }
    const nodeProgs = await nodePrograms(opts.pinDir, opts);
    for (const node of nodeProgs) {
      if (pinned.programs.includes(node.prog) && unlinked(node.ifname)) {
        await attachProgram(node.prog, node.ifname, opts.pinDir, opts);
        reattached++;
      }
    }
    // a node set up by a podwire before to_uplink (egress NetworkPolicy after a remote DNAT), or
    // one whose to_uplink was not attached while no pod was isolated for egress: on the device the
    // stack's remote traffic leaves by (the first node program's), only while a local pod is
    // isolated for egress (src/hostnet/egress-policy.ts; a linked one was re-pointed above)
    const node = nodeProgs[0];
    if (node && pinned.programs.includes('to_uplink') && !existsSync(linkPin(opts.pinDir, node.ifname, 'egress')) && egressIsolationPinned(opts.pinDir)) {
      await attachProgram('to_uplink', node.ifname, opts.pinDir, opts, 'egress');
    }
    // The XDP prefilter is a netlink attachment, not a pinned link: re-point it by hand, same mode.
    const uplink = await uplinkName(opts.pinDir, opts);
    if (uplink && pinned.programs.includes(PREFILTER_PROG)) {
      const x = await xdpStatus(uplink, opts);
      if (x.ours && (x.mode === 'native' || x.mode === 'generic')) {
        await xdpAttach(uplink, opts.pinDir, x.mode, opts);
        reattached++;
      }
    }
    return { programs: pinned.programs, reusedMaps: pinned.reusedMaps, reattached, staleLinks: links.removed, migrated: pinned.migrated, object, ...(pinned.overNewer ? { overNewer: pinned.overNewer } : {}) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Detach every pinned link (host veths, the node's uplink/VXLAN device), and any pre-tcx filter
 * on the endpoints' veths and the node device, then remove every pin and the pin dir. Idempotent. */
export async function unloadDatapath(opts: { pinDir: string } & NetnsOption): Promise<void> {
  if (!existsSync(opts.pinDir)) return;
  const detached = await detachAllLinks(opts.pinDir);
  // an unreadable/mismatched endpoints map must not block the cleanup
  const ifnames = await endpointIfnames(opts.pinDir, opts).catch(() => []);
  const nodes = await nodePrograms(opts.pinDir, opts).catch(() => []);
  const legacy = [...ifnames, ...nodes.map((n) => n.ifname)].filter((i) => !detached.includes(i));
  await detachProgram(legacy, opts.pinDir, opts);
  const uplink = await uplinkName(opts.pinDir, opts).catch(() => undefined);
  if (uplink) await xdpDetach(uplink, opts);
  await rm(opts.pinDir, { recursive: true, force: true });
}
