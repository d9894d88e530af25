// The kernel steps of ADD and DEL behind one interface, in two implementations:
// - exec (this file): iproute2, pw-tcx and bpftool, one process per step. The exec'd plugin
//   (bin/podwire, the single executable podwire-full the shim falls back to) uses it.
// - helper (wiring-helper.ts): the agent's one long-lived pw-wire process, no exec per step.
//   The agent's CNI server (src/agent/cni-server.ts) passes it to runCni.
// add.ts and del.ts hold the order, the fault points and the rollback; both implementations
// do the same kernel work, so both roll back the same way.
import type { Endpoint } from '../maps/codec.js';
import type { BandwidthLimits } from '../maps/bandwidth.js';
import { attachFromPod } from '../loader/attach.js';
import { removeBandwidth, removeEndpoint, writeBandwidth, writeEndpoint } from './endpoint.js';
import type { PoolPair, VethPool } from './pool.js';
import { configurePod, createVeth, deleteLinks, routeToPod, type VethFailure, type VethSpec } from './veth.js';

export type CreateVethResult = { ok: true; hostIfindex: number } | { ok: false; failure: VethFailure };

export interface Wiring {
  readonly kind: 'exec' | 'helper';
  /** Host side: the pair (peer inside the pod netns under its final name), host end up (s.podIp unused). */
  createVeth(s: VethSpec): Promise<CreateVethResult>;
  /** The pod's /32 route to its host veth (scope link). */
  routeToPod(host: string, ip: string): Promise<void>;
  /** Pod side: address, IPv6 off, up, gateway route, default route, permanent gateway neighbour. */
  configurePod(s: VethSpec): Promise<void>;
  /** from_pod on the host veth's tcx ingress, to_pod on its egress, both links pinned. */
  attachHost(host: string, pinDir: string): Promise<void>;
  writeEndpoint(pinDir: string, ep: Endpoint): Promise<void>;
  /** Absent entries and an absent map are success. */
  removeEndpoint(pinDir: string, ip: string): Promise<void>;
  writeBandwidth(pinDir: string, l: BandwidthLimits): Promise<void>;
  removeBandwidth(pinDir: string, ip: string): Promise<void>;
  /** Delete host veths by name (the peers go with them); missing links are fine. */
  deleteLinks(names: readonly string[]): Promise<void>;
  /** The agent's warm veth pool (pool.ts), with the two steps that use it; absent: no pool. */
  readonly pool?: VethPool;
  /** A pool pair becomes the attachment: peer into the pod netns as s.ifname, host end renamed to s.host and up. */
  takeFromPool?(p: PoolPair, s: VethSpec): Promise<CreateVethResult>;
  /** DEL: host end down, the pod end back from netns as p.peer, host end renamed to p.host. */
  putInPool?(p: PoolPair, netns: string, ifname: string, host: string): Promise<void>;
}

export const execWiring: Wiring = {
  kind: 'exec',
  createVeth,
  routeToPod,
  configurePod,
  attachHost: async (host, pinDir) => {
    await attachFromPod(host, pinDir);
  },
  writeEndpoint,
  removeEndpoint,
  writeBandwidth,
  removeBandwidth,
  deleteLinks,
};
