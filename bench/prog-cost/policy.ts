// The NetworkPolicy state of the prog-cost rows, written raw from the generated layouts (the
// policy compiler is measured elsewhere: these rows measure what the programs pay per packet).
// Pod C (ingress-isolated, ruleset 5) admits UDP/5201 from pod A; a FLOW pair for A:40000 ->
// C:5201 makes the established path; UDP/5209 is admitted by nothing, so every packet of it is
// judged in full (ct miss, pol_state, pol_endpoints, pol_ports, the slot loop) and denied.
import { encodeEndpointKey } from '../../src/maps/index.js';
import { encodeCtKey } from '../../src/maps/conntrack.js';
import { structs } from '../../src/maps/generated/layouts.js';
import { openRawPinned } from '../../src/maps/pinned.js';

const u32s = (...v: number[]): Buffer => {
  const b = Buffer.alloc(v.length * 4);
  v.forEach((n, i) => b.writeUInt32LE(n >>> 0, i * 4));
  return b;
};

export const POLICY_RULESET = 5;
export const POLICY_ADMITTED_PORT = 5201;
export const POLICY_DENIED_PORT = 5209;

export function writeProgCostPolicy(pinDir: string, o: { client: string; server: string; clientPort: number }): void {
  const open = (n: string) => openRawPinned(pinDir, n);
  const m = { st: open('pol_state'), pe: open('pol_endpoints'), ports: open('pol_ports'), slots: open('pol_slots'), sets: open('pol_sets'), ct: open('ct') };
  try {
    m.st.map.set(u32s(0), u32s(1, 0, 0, 0));
    m.pe.map.set(encodeEndpointKey(o.server), u32s(POLICY_RULESET, 0));
    const pk = Buffer.alloc(structs.pw_pol_port_key.size);
    pk.writeUInt32LE(64, structs.pw_pol_port_key.fields.prefixlen.offset);
    pk.writeUInt32LE(POLICY_RULESET, structs.pw_pol_port_key.fields.ruleset.offset);
    pk.writeUInt8(17, structs.pw_pol_port_key.fields.proto.offset);
    pk.writeUInt16BE(POLICY_ADMITTED_PORT, structs.pw_pol_port_key.fields.port.offset);
    const bits = Buffer.alloc(8);
    bits.writeBigUInt64LE(1n);
    m.ports.map.set(pk, bits);
    // the denied port still reaches the slot loop: slot 1 is consulted and its set (51, empty) misses
    pk.writeUInt16BE(POLICY_DENIED_PORT, structs.pw_pol_port_key.fields.port.offset);
    const bits1 = Buffer.alloc(8);
    bits1.writeBigUInt64LE(2n);
    m.ports.map.set(pk, bits1);
    m.slots.map.set(u32s(POLICY_RULESET, 0), u32s(50, 0, 1, 0));
    m.slots.map.set(u32s(POLICY_RULESET, 1), u32s(51, 0, 1, 1));
    const sk = Buffer.alloc(structs.pw_pol_set_key.size);
    sk.writeUInt32LE(64, structs.pw_pol_set_key.fields.prefixlen.offset);
    sk.writeUInt32LE(50, structs.pw_pol_set_key.fields.set.offset);
    Buffer.from(o.client.split('.').map(Number)).copy(sk, structs.pw_pol_set_key.fields.addr.offset);
    m.sets.map.set(sk, u32s(1, 0));
    // the established flow, both directions, revision 1
    const entry = (flags: number) => {
      const v = Buffer.alloc(structs.pw_ct_entry.size);
      v.writeUInt32LE(flags, structs.pw_ct_entry.fields.flags.offset);
      v.writeUInt32LE(1, structs.pw_ct_entry.fields.revision.offset);
      return v;
    };
    m.ct.map.set(encodeCtKey({ kind: 'flow', addr: o.client, peer: o.server, port: o.clientPort, peerPort: POLICY_ADMITTED_PORT, proto: 17 }), entry(0));
    m.ct.map.set(encodeCtKey({ kind: 'flow', addr: o.server, peer: o.client, port: POLICY_ADMITTED_PORT, peerPort: o.clientPort, proto: 17 }), entry(1));
  } finally {
    for (const x of Object.values(m)) x.close();
  }
}
