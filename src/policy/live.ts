// The datapath's policy lookups (lib/policy.h pw_pol_match / pw_pol_ingress) done against the
// LIVE pinned maps: the kernel's own LPM longest-match answers, so what the writer put there is
// checked the way the programs read it (tests, `podwire policy --check`).
import { RawMap, type MapRef } from 'bpf';
import { encodeEndpointKey } from '../maps/codec.js';
import { openPinnedMap, type MapName } from '../maps/open.js';
import { parseIpv4 } from './cidr.js';
import { SET_HOST } from './compile.js';
import { SLOT_DENY, SLOT_HOST } from './evaluate.js';
import { decodeMember, decodePolEndpoint, decodePorts, decodeSlot, encodePortKey, encodeSetKey, encodeSlotKey } from './map-codec.js';
import { formatIpv4 } from './cidr.js';

const SLOT_F_ANY_PEER = 1;

export class LivePolicy {
  private readonly refs: MapRef[] = [];
  private readonly m: Partial<Record<MapName, RawMap>> = {};

  constructor(private readonly pinDir: string) {}

  private map(name: MapName): RawMap {
    let x = this.m[name];
    if (!x) {
      const ref = openPinnedMap(this.pinDir, name);
      this.refs.push(ref);
      x = this.m[name] = new RawMap(ref);
    }
    return x;
  }

  inSet(set: number, addr: number): boolean {
    const v = this.map('pol_sets').get(encodeSetKey(set, `${formatIpv4(addr)}/32`));
    return v !== undefined && decodeMember(v);
  }

  /** pw_pol_match on the live maps. */
  match(rs: number, peer: number, proto: number, port: number): number {
    const pp = this.map('pol_ports').get(encodePortKey(rs, 64, proto, port));
    if (!pp) return SLOT_DENY;
    const bits = decodePorts(pp);
    for (let i = 0; i < 64; i++) {
      if (!(bits & (1n << BigInt(i)))) continue;
      const sv = this.map('pol_slots').get(encodeSlotKey(rs, i));
      if (!sv) continue;
      const s = decodeSlot(sv);
      if (s.flags & SLOT_F_ANY_PEER) return i;
      if (this.inSet(s.set, peer)) return i;
    }
    return SLOT_DENY;
  }

  /** Like PolicyEvaluator.judge, from pol_endpoints and the endpoint's isolation flag. */
  judge(ip: string, dir: 'ingress' | 'egress', peer: string, proto: number, port: number, flags: number): number | undefined {
    if (!(flags & (dir === 'ingress' ? 1 : 2))) return undefined;
    const peerAddr = parseIpv4(peer)!;
    if (dir === 'ingress' && this.inSet(SET_HOST, peerAddr)) return SLOT_HOST;
    const v = this.map('pol_endpoints').get(encodeEndpointKey(ip));
    const rs = v ? decodePolEndpoint(v)[dir] : 0;
    return rs ? this.match(rs, peerAddr, proto, port) : SLOT_DENY;
  }

  close(): void {
    for (const r of this.refs) r.close();
  }
}
