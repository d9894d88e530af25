// Writes a random MapState into the pinned maps as raw bytes laid out by the generated layouts
// (raw because the typed codecs refuse the invalid route kinds and modes the test wants).
import { writeU32 } from '../../src/maps/codec.js';
import { encodeEndpoint, encodeEndpointKey } from '../../src/maps/index.js';
import { structs } from '../../src/maps/generated/layouts.js';
import { openRawPinned } from '../../src/maps/pinned.js';
import type { MapState } from './generate.js';

const ip = (s: string) => Buffer.from(s.split('.').map(Number));

export function writeMapState(pinDir: string, s: MapState): void {
  const eps = openRawPinned(pinDir, 'endpoints');
  const routes = openRawPinned(pinDir, 'routes');
  const cfg = openRawPinned(pinDir, 'node_cfg');
  try {
    eps.map.clear();
    if (s.endpoints.length) eps.map.setBatch(s.endpoints.map((e) => [encodeEndpointKey(e.ip), encodeEndpoint({ ...e, flags: 0 })]));

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
    cfg.map.set(Buffer.alloc(4), v);
  } finally {
    eps.close();
    routes.close();
    cfg.close();
  }
}
