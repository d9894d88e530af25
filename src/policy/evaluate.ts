// A TypeScript reference of the datapath's lookup (lib/policy.h pw_pol_match / pw_pol_ingress) over
// a CompiledPolicy: LPM longest match on ports, slot bits in order, LPM longest match on sets.
// Tests compare it with the NetworkPolicy spec; the CLI uses it to explain.
import { containsAddr, parseCidr, parseIpv4, type Prefix } from './cidr.js';
import { SET_HOST } from './compile.js';
import type { CompiledPolicy, CompiledRuleset } from './types.js';

export const SLOT_DENY = 0xfe;
export const SLOT_HOST = 0xfd;

export class PolicyEvaluator {
  private readonly rulesets = new Map<number, CompiledRuleset>();
  private readonly sets = new Map<number, { p: Prefix; include: boolean }[]>();
  private readonly endpoints = new Map<string, { ingress: number; egress: number; flags: number }>();

  constructor(c: CompiledPolicy) {
    for (const r of c.rulesets) this.rulesets.set(r.id, r);
    for (const s of c.sets) this.sets.set(s.id, s.entries.map((e) => ({ p: parseCidr(e.cidr)!, include: e.include })));
    for (const e of c.endpoints) this.endpoints.set(e.ip, e);
  }

  /** pol_sets longest match: include of the longest prefix containing addr, false without one. */
  inSet(set: number, addr: number): boolean {
    let best: { p: Prefix; include: boolean } | undefined;
    for (const e of this.sets.get(set) ?? []) if (containsAddr(e.p, addr) && (!best || e.p.len > best.p.len)) best = e;
    return best?.include ?? false;
  }

  /** pol_ports longest match for (ruleset, proto, port) -> slot bits. */
  portBits(rs: number, proto: number, port: number): bigint {
    let best: { len: number; slots: bigint } | undefined;
    for (const e of this.rulesets.get(rs)?.ports ?? []) {
      let ok: boolean;
      if (e.prefixlen === 32) ok = true;
      else if (e.proto !== proto) ok = false;
      else {
        const bits = e.prefixlen - 48;
        ok = bits === 0 || port >>> (16 - bits) === e.port >>> (16 - bits);
      }
      if (ok && (!best || e.prefixlen > best.len)) best = { len: e.prefixlen, slots: e.slots };
    }
    return best?.slots ?? 0n;
  }

  /** pw_pol_match: the admitting slot or SLOT_DENY. */
  match(rs: number, peer: number, proto: number, port: number): number {
    const bits = this.portBits(rs, proto, port);
    const r = this.rulesets.get(rs);
    for (let i = 0; i < 64; i++) {
      if (!(bits & (1n << BigInt(i)))) continue;
      const s = r?.slots.find((x) => x.slot === i);
      if (!s) continue;
      if (s.anyPeer || this.inSet(s.set, peer)) return i;
    }
    return SLOT_DENY;
  }

  /**
   * The verdict for a packet from src to dst (dotted quads) on proto/port for the local endpoint
   * `ip` in direction dir: undefined when that endpoint is not isolated in that direction.
   */
  judge(ip: string, dir: 'ingress' | 'egress', peer: string, proto: number, port: number): number | undefined {
    const ep = this.endpoints.get(ip);
    const flag = dir === 'ingress' ? 1 : 2;
    if (!ep || !(ep.flags & flag)) return undefined;
    const peerAddr = parseIpv4(peer)!;
    if (dir === 'ingress' && this.inSet(SET_HOST, peerAddr)) return SLOT_HOST;
    const rs = dir === 'ingress' ? ep.ingress : ep.egress;
    return rs ? this.match(rs, peerAddr, proto, port) : SLOT_DENY;
  }
}
