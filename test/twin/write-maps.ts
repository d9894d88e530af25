// Writes a random MapState into the pinned maps as raw bytes laid out by the generated layouts
// (raw because the typed codecs refuse the invalid route kinds and modes the test wants).
import { writeU32 } from '../../src/maps/codec.js';
import { encodeEndpoint, encodeEndpointKey } from '../../src/maps/index.js';
import { structs } from '../../src/maps/generated/layouts.js';
import { openRawPinned } from '../../src/maps/pinned.js';
import { encodeCtKey } from '../../src/maps/conntrack.js';
import type { MapState } from './generate.js';

const ip = (s: string) => Buffer.from(s.split('.').map(Number));

export function writeMapState(pinDir: string, s: MapState): void {
  const eps = openRawPinned(pinDir, 'endpoints');
  const routes = openRawPinned(pinDir, 'routes');
  const cfg = openRawPinned(pinDir, 'node_cfg');
  try {
    eps.map.clear();
    if (s.endpoints.length) eps.map.setBatch(s.endpoints.map((e) => [encodeEndpointKey(e.ip), encodeEndpoint(e)]));

    routes.map.clear();
    const K = structs.pw_route_key.fields;
    const V = structs.pw_route.fields;
    for (const r of s.routes) {
      const k = Buffer.alloc(structs.pw_route_key.size);
      writeU32(k, K.prefixlen.offset, r.prefixlen);
      ip(r.addr).copy(k, K.addr.offset);
      const v = Buffer.alloc(structs.pw_route.size);
      ip(r.nodeIp).copy(v, V.node_ip.offset);
      writeU32(v, V.kind.offset, r.kind);
      routes.map.set(k, v);
    }

    const C = structs.pw_node_cfg.fields;
    const v = Buffer.alloc(structs.pw_node_cfg.size);
    writeU32(v, C.mode.offset, s.nodeCfg.mode);
    ip(s.nodeCfg.nodeIp).copy(v, C.node_ip.offset);
    writeU32(v, C.uplink_ifindex.offset, s.nodeCfg.uplinkIfindex);
    writeU32(v, C.vxlan_ifindex.offset, s.nodeCfg.vxlanIfindex);
    writeU32(v, C.vni.offset, s.nodeCfg.vni);
    writeU32(v, C.flags.offset, s.nodeCfg.flags);
    cfg.map.set(Buffer.alloc(4), v);
  } finally {
    eps.close();
    routes.close();
    cfg.close();
  }
  writePolicyState(pinDir, s);
}

/**
 * The NetworkPolicy maps, replaced wholesale, and the FLOW entries added to ct. The CPUs' copies of
 * FLOW entries (ct_cache, bpf/lib/lookups.h) are emptied: a new map state may hold other FLOW entries
 * at the same revision, which the agent never writes (it bumps the revision on every change).
 */
function writePolicyState(pinDir: string, s: MapState): void {
  const p = s.policy;
  const open = (name: Parameters<typeof openRawPinned>[1]) => openRawPinned(pinDir, name);
  const maps = { pe: open('pol_endpoints'), ports: open('pol_ports'), slots: open('pol_slots'), sets: open('pol_sets'), st: open('pol_state'), svc: open('svc_addrs'), ct: open('ct'), cache: open('ct_cache') };
  try {
    for (let slot = 0; slot < maps.cache.ref.maxEntries; slot++) {
      const k = Buffer.alloc(4);
      k.writeUInt32LE(slot);
      maps.cache.map.set(k, Buffer.alloc(maps.cache.ref.valueSize));
    }
    for (const m of [maps.pe, maps.ports, maps.slots, maps.sets, maps.svc]) m.map.clear();
    const PE = structs.pw_pol_endpoint.fields;
    for (const e of p.endpoints) {
      const v = Buffer.alloc(structs.pw_pol_endpoint.size);
      writeU32(v, PE.ingress.offset, e.ingress);
      writeU32(v, PE.egress.offset, e.egress);
      maps.pe.map.set(encodeEndpointKey(e.ip), v);
    }
    const PK = structs.pw_pol_port_key.fields;
    for (const e of p.ports) {
      const k = Buffer.alloc(structs.pw_pol_port_key.size);
      writeU32(k, PK.prefixlen.offset, e.prefixlen);
      writeU32(k, PK.ruleset.offset, e.ruleset);
      k.writeUInt8(e.proto, PK.proto.offset);
      k.writeUInt16BE(e.port, PK.port.offset);
      const v = Buffer.alloc(structs.pw_pol_ports.size);
      v.writeBigUInt64LE(e.slots, structs.pw_pol_ports.fields.slots.offset);
      maps.ports.map.set(k, v);
    }
    const SK = structs.pw_pol_slot_key.fields;
    const SV = structs.pw_pol_slot.fields;
    for (const e of p.slots) {
      const k = Buffer.alloc(structs.pw_pol_slot_key.size);
      writeU32(k, SK.ruleset.offset, e.ruleset);
      writeU32(k, SK.slot.offset, e.slot);
      const v = Buffer.alloc(structs.pw_pol_slot.size);
      writeU32(v, SV.set.offset, e.set);
      writeU32(v, SV.flags.offset, e.flags);
      writeU32(v, SV.policy.offset, e.policy);
      writeU32(v, SV.rule.offset, e.rule);
      maps.slots.map.set(k, v);
    }
    const MK = structs.pw_pol_set_key.fields;
    for (const e of p.sets) {
      const k = Buffer.alloc(structs.pw_pol_set_key.size);
      writeU32(k, MK.prefixlen.offset, e.prefixlen);
      writeU32(k, MK.set.offset, e.set);
      ip(e.addr).copy(k, MK.addr.offset);
      const v = Buffer.alloc(structs.pw_pol_member.size);
      writeU32(v, structs.pw_pol_member.fields.include.offset, e.include);
      maps.sets.map.set(k, v);
    }
    const ST = structs.pw_pol_state.fields;
    const st = Buffer.alloc(structs.pw_pol_state.size);
    writeU32(st, ST.revision.offset, p.revision);
    writeU32(st, ST.egress_isolated.offset, p.egressIsolated);
    maps.st.map.set(Buffer.alloc(4), st);
    for (const a of p.svc) maps.svc.map.set(ip(a), Buffer.alloc(4));
    const CV = structs.pw_ct_entry.fields;
    for (const f of p.flows) {
      const v = Buffer.alloc(structs.pw_ct_entry.size);
      writeU32(v, CV.flags.offset, f.flags);
      writeU32(v, CV.revision.offset, f.revision);
      maps.ct.map.set(encodeCtKey({ kind: 'flow', addr: f.saddr, peer: f.daddr, port: f.sport, peerPort: f.dport, proto: f.proto }), v);
    }
  } finally {
    for (const m of Object.values(maps)) m.close();
  }
}
