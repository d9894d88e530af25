// The agent's side effects on the node, behind one interface so the reconcile loop can be
// driven against fakes in unit tests and against the kernel everywhere else: the routes map,
// host routes for remote podCIDRs, the endpoints map, links, the IPAM store.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openBandwidth } from '../maps/bandwidth.js';
import { pinPaths } from '../loader/pins.js';
import { hostVethName } from '../cni/names.js';
import { removeHostLinkPins } from '../cni/pins.js';
import { deleteLinks } from '../cni/veth.js';
import { egressPolicyDevice, setupNode, syncEgressPolicy, syncKernelRoutes, type EgressPolicyChange } from '../hostnet/index.js';
import { IpamStore } from '../ipam/store.js';
import { linkNames } from '../loader/attach.js';
import { openEndpoints, type EndpointsMap } from '../maps/endpoints.js';
import { openRoutes, type RoutesMap } from '../maps/routes.js';
import type { Mode, VxlanDatapath } from './config.js';
import type { GcEndpoint, GcRecord } from './gc.js';
import { DEFAULT_CNI_CACHE_DIR, delChainFromCache, type ChainDelOutcome } from './gc-chain.js';
import type { Logger } from './log.js';
import type { Route } from './routes.js';

export interface NodeSetup {
  nodeIp: string;
  uplinkIfindex: number;
  vxlanIfindex?: number;
  podMtu: number;
}

export interface Dataplane {
  setupNode(): Promise<NodeSetup>;
  /** to_uplink attached (true) or not (false): src/hostnet/egress-policy.ts. */
  egressPolicy(want: boolean): Promise<{ change: EgressPolicyChange; device: string }>;
  listRoutes(): Route[];
  /** Adds and updates in one batch, then deletes in one batch. */
  applyRoutes(upserts: readonly Route[], removes: readonly string[]): void;
  syncKernelRoutes(remote: readonly { cidr: string; nodeIp: string }[]): Promise<unknown>;
  listEndpoints(): GcEndpoint[];
  /** Delete the entry only if it still points at ifindex; true when deleted. */
  deleteEndpointIf(ip: string, ifindex: number): boolean;
  links(): Promise<Map<number, string>>;
  ipamRecords(): Map<string, GcRecord>;
  deleteVeth(name: string): Promise<void>;
  release(ip: string, key?: { containerID: string; ifname: string }): void;
  /** DEL of the plugins chained after podwire for a collected attachment (gc-chain.ts). */
  chainDel?(key: { containerID: string; ifname: string }): Promise<ChainDelOutcome>;
  close(): void;
}

export interface KernelDataplaneOptions {
  pinDir: string;
  stateDir: string;
  /** Every deletion from the routes map is reported here ("routes removed"): a flush cannot go unseen. */
  log?: Logger;
  mode: Mode;
  uplink: string;
  vni?: number;
  /** vxlan mode: encapsulation in the programs or through the device (default: the device). */
  vxlanDatapath?: VxlanDatapath;
  /** CNI_PATH for the chained plugins' DEL on GC; without it GC runs no chained DEL. */
  cniBinDirs?: readonly string[];
  /** libcni's cache dir (default /var/lib/cni). */
  cniCacheDir?: string;
}

export function kernelDataplane(o: KernelDataplaneOptions): Dataplane {
  let routes: RoutesMap | undefined;
  let endpoints: EndpointsMap | undefined;
  // Opened lazily and kept: the maps are pinned, so one fd each for the agent's lifetime.
  const r = () => (routes ??= openRoutes(o.pinDir));
  const e = () => (endpoints ??= openEndpoints(o.pinDir));
  const store = new IpamStore(o.stateDir);
  const vni = o.vni === undefined ? {} : { vni: o.vni };
  let nodeIp: string | undefined;
  return {
    async setupNode() {
      const s = await setupNode({ pinDir: o.pinDir, mode: o.mode, uplink: o.uplink, ...vni, ...(o.vxlanDatapath === undefined ? {} : { vxlanDatapath: o.vxlanDatapath }) });
      nodeIp = s.nodeIp;
      return s;
    },
    async egressPolicy(want) {
      const device = egressPolicyDevice(o.mode, o.uplink);
      return { change: await syncEgressPolicy({ pinDir: o.pinDir, dev: device, want }), device };
    },
    listRoutes: () => r().list(),
    applyRoutes(upserts, removes) {
      if (upserts.length > 0) r().setBatch(upserts);
      if (removes.length > 0) {
        r().deleteBatch(removes);
        o.log?.info('routes removed', { cidrs: removes });
      }
    },
    // host-originated packets to remote pods leave with the node IP as source (vxlan)
    syncKernelRoutes: (remote) => syncKernelRoutes({ mode: o.mode, remote, uplink: o.uplink, ...vni, ...(nodeIp === undefined ? {} : { nodeIp }) }),
    listEndpoints: () => e().list().map((ep) => ({ ip: ep.ip, ifindex: ep.ifindex })),
    deleteEndpointIf(ip, ifindex) {
      const cur = e().get(ip);
      if (!cur || cur.ifindex !== ifindex) return false;
      const gone = e().delete(ip);
      if (gone && cur.flags !== 0) removeLimits(o.pinDir, ip); // its bandwidth limits go with it
      return gone;
    },
    links: () => linkNames(),
    ipamRecords() {
      const out = new Map<string, GcRecord>();
      for (const { ip, record } of store.list()) {
        if (!record) continue;
        const created = Date.parse(record.createdAt);
        out.set(ip, {
          ...(Number.isNaN(created) ? {} : { createdAtMs: created }),
          containerID: record.containerID,
          ifname: record.ifname,
          hostVeth: hostVethName(record.containerID, record.ifname),
          ...(record.podNamespace && record.podName ? { pod: `${record.podNamespace}/${record.podName}` } : {}),
        });
      }
      return out;
    },
    async deleteVeth(name) {
      await deleteLinks([name]);
      // the tcx link pins keep their links (and program references) alive after the device
      await removeHostLinkPins(name, o.pinDir);
    },
    release(ip, key) {
      // by address first (the record may be torn), then the attachment link
      store.releaseIp(ip);
      if (key) store.release(key);
    },
    ...(o.cniBinDirs
      ? {
          chainDel: (key: { containerID: string; ifname: string }) =>
            delChainFromCache({ cacheDir: o.cniCacheDir ?? DEFAULT_CNI_CACHE_DIR, pluginDirs: o.cniBinDirs!, ...key }),
        }
      : {}),
    close() {
      routes?.close();
      endpoints?.close();
      routes = undefined;
      endpoints = undefined;
    },
  };
}

/** Drop a stale endpoint's bw entry (absent map or entry: nothing to do). */
function removeLimits(pinDir: string, ip: string): void {
  if (!existsSync(join(pinPaths(pinDir).mapsDir, 'bw'))) return;
  const m = openBandwidth(pinDir);
  try {
    m.delete(ip);
  } finally {
    m.close();
  }
}
