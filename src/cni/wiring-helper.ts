// ADD/DEL's kernel steps through the agent's pw-wire helper (src/wire/client.ts): rtnetlink for
// the veth, the pod side in the pod's netns (setns in the helper), BPF_LINK_CREATE for tcx and
// BPF_MAP_UPDATE_ELEM for the maps — one round trip over a pipe per step instead of an exec.
// Map entries are the bytes of src/maps (layouts generated from the datapath's BTF); the helper
// checks the pinned map's key/value sizes against them.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PodwireError } from '../errors/index.js';
import { encodeBandwidth, type BandwidthLimits } from '../maps/bandwidth.js';
import { encodeEndpoint, encodeEndpointKey, type Endpoint } from '../maps/codec.js';
import { linkPin, pinPaths, type LinkDir } from '../loader/pins.js';
import type { WireHelper } from '../wire/client.js';
import { ipv4Bytes, macBytes, WireOp, type WireReply } from '../wire/protocol.js';
import { POD_GATEWAY, type VethSpec } from './veth.js';
import type { PoolPair, VethPool } from './pool.js';
import type { CreateVethResult, Wiring } from './wiring.js';

const ENOENT = 2;
const EEXIST = 17;
const ENODEV = 19;

function fail(what: string, r: WireReply): PodwireError {
  return new PodwireError('IO_FAILED', `${what} failed at step ${r.step}: ${r.message}`);
}

export function helperWiring(h: WireHelper, pool?: VethPool): Wiring {
  const madeDirs = new Set<string>();
  const ensureDir = (d: string) => {
    if (madeDirs.has(d)) return;
    mkdirSync(d, { recursive: true });
    madeDirs.add(d);
  };

  const attach = async (host: string, pinDir: string, prog: 'from_pod' | 'to_pod', dir: LinkDir): Promise<void> => {
    const pin = linkPin(pinDir, host, dir);
    ensureDir(dirname(pin));
    const progPin = join(pinPaths(pinDir).progsDir, prog);
    const r = await h.request(WireOp.tcxAttach, [progPin, host, dir === 'ingress' ? 0 : 1, pin], `attaching ${prog} to ${host}`);
    if (r.err) throw fail(`attaching ${progPin} to ${host}${dir === 'egress' ? ' (egress)' : ''}`, r);
  };

  const mapDelete = async (map: string, key: Buffer, what: string): Promise<void> => {
    const r = await h.request(WireOp.mapDelete, [map, key], what);
    if (r.err && r.err !== ENOENT) throw fail(what, r);
  };

  return {
    kind: 'helper',
    ...(pool ? { pool } : {}),
    async takeFromPool(p: PoolPair, s: VethSpec): Promise<CreateVethResult> {
      const r = await h.request(
        WireOp.poolTake,
        [p.host, s.host, macBytes(s.hostMac), s.mtu, p.peer, s.ifname, macBytes(s.podMac), s.netns],
        `taking pool veth ${p.host} for ${s.host}`,
      );
      if (r.err === 0) return { ok: true, hostIfindex: r.value };
      // step 1 (the move) failed: the pair is untouched in the host netns; the caller deletes it either way
      return { ok: false, failure: { podNameTaken: r.step === 1 && r.err === EEXIST, pairExists: true, message: r.message } };
    },
    async putInPool(p: PoolPair, netns: string, ifname: string, host: string): Promise<void> {
      const r = await h.request(WireOp.poolPut, [netns, ifname, p.peer, host, p.host], `putting ${host} back into the pool as ${p.host}`);
      if (r.err) throw fail(`putting ${host} back into the veth pool`, r);
    },
    async createVeth(s: VethSpec): Promise<CreateVethResult> {
      const r = await h.request(
        WireOp.vethAdd,
        [s.host, macBytes(s.hostMac), s.mtu, s.ifname, macBytes(s.podMac), s.netns],
        `creating veth ${s.host}`,
      );
      if (r.err === 0) return { ok: true, hostIfindex: r.value };
      // RTM_NEWLINK is all or nothing: when step 1 failed, no pair exists.
      if (r.step === 1) return { ok: false, failure: { podNameTaken: r.err === EEXIST, pairExists: false, message: r.message } };
      return { ok: false, failure: { podNameTaken: false, pairExists: true, message: r.message } };
    },
    async routeToPod(host: string, ip: string): Promise<void> {
      const r = await h.request(WireOp.route, [host, ipv4Bytes(ip)], `routing ${ip} to ${host}`);
      if (r.err) throw fail(`routing ${ip} to ${host}`, r);
    },
    async configurePod(s: VethSpec): Promise<void> {
      const r = await h.request(WireOp.podConfig, [s.netns, s.ifname, ipv4Bytes(s.podIp), ipv4Bytes(POD_GATEWAY), macBytes(s.hostMac)], `configuring ${s.ifname}`);
      if (r.err) throw fail(`configuring ${JSON.stringify(s.ifname)} in ${s.netns}`, r);
    },
    async attachHost(host: string, pinDir: string): Promise<void> {
      const [i, e] = await Promise.allSettled([attach(host, pinDir, 'from_pod', 'ingress'), attach(host, pinDir, 'to_pod', 'egress')]);
      if (i.status === 'rejected') throw i.reason;
      if (e.status === 'rejected') throw e.reason;
    },
    async writeEndpoint(pinDir: string, ep: Endpoint): Promise<void> {
      const map = pinPaths(pinDir).maps.endpoints;
      const r = await h.request(WireOp.mapUpdate, [map, encodeEndpointKey(ep.ip), encodeEndpoint(ep)], `writing endpoint ${ep.ip}`);
      if (r.err) throw fail(`writing endpoint ${ep.ip} to ${map}`, r);
    },
    removeEndpoint: (pinDir: string, ip: string) => mapDelete(pinPaths(pinDir).maps.endpoints, encodeEndpointKey(ip), `removing endpoint ${ip}`),
    async writeBandwidth(pinDir: string, l: BandwidthLimits): Promise<void> {
      const map = join(pinPaths(pinDir).mapsDir, 'bw');
      const r = await h.request(WireOp.mapUpdate, [map, encodeEndpointKey(l.ip), encodeBandwidth(l)], `writing bandwidth limits of ${l.ip}`);
      if (r.err) throw fail(`writing bandwidth limits of ${l.ip} to ${map}`, r);
    },
    removeBandwidth: (pinDir: string, ip: string) => mapDelete(join(pinPaths(pinDir).mapsDir, 'bw'), encodeEndpointKey(ip), `removing bandwidth limits of ${ip}`),
    async deleteLinks(names: readonly string[]): Promise<void> {
      const rs = await Promise.all(names.map((n) => h.request(WireOp.linkDel, [n], `deleting ${n}`)));
      const bad = rs.filter((r) => r.err && r.err !== ENODEV);
      if (bad.length > 0) throw new PodwireError('IO_FAILED', `deleting ${names.join(', ')} failed: ${bad.map((r) => r.message).join('; ')}`);
    },
  };
}
