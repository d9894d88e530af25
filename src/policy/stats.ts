// pol_stats (LRU per-CPU hash): verdict counters per endpoint host veth, ruleset, direction and
// slot, summed over CPUs.
import { readU64 } from '../maps/codec.js';
import { structs } from '../maps/generated/layouts.js';
import { possibleCpus, roundup8 } from '../maps/open.js';
import { openRawPinned } from '../maps/pinned.js';
import { decodeStatKey } from './map-codec.js';

export interface PolicyStat {
  ifindex: number;
  ruleset: number;
  /** enum pw_direction seen from the endpoint: 0 egress, 1 ingress */
  dir: number;
  slot: number;
  packets: bigint;
  bytes: bigint;
}

export function readPolicyStats(pinDir: string): PolicyStat[] {
  // openRawPinned sizes per-CPU values for LRU_PERCPU_HASH too (open.ts's isPercpu only knows percpu_*)
  const m = openRawPinned(pinDir, 'pol_stats');
  const stride = roundup8(structs.pw_counter.size);
  const f = structs.pw_counter.fields;
  const ncpu = possibleCpus();
  const out: PolicyStat[] = [];
  try {
    for (const [k, v] of m.map.entries()) {
      let packets = 0n;
      let bytes = 0n;
      for (let c = 0; c < ncpu; c++) {
        packets += readU64(v, c * stride + f.packets.offset);
        bytes += readU64(v, c * stride + f.bytes.offset);
      }
      out.push({ ...decodeStatKey(k), packets, bytes });
    }
  } finally {
    m.close();
  }
  return out;
}
