// Is any local pod isolated for egress, according to the PINNED maps (not the API)? The answer
// decides whether to_uplink must be attached (src/hostnet/egress-policy.ts) when the agent starts
// or the datapath is reloaded, before the policy controller has computed anything: the maps
// survive a restart, and from_pod defers an isolated pod's packets to a Service address on the
// endpoint's flag alone, so the flag (set before pol_state.egress_isolated, writer.ts) counts too.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RawMap } from 'bpf';
import { pinPaths } from '../loader/pins.js';
import { decodeEndpoint, decodeEndpointKey } from '../maps/codec.js';
import { openPinnedMap } from '../maps/open.js';
import { EP_F_EGRESS_ISOLATED } from './compile.js';
import { decodeState } from './map-codec.js';

export function egressIsolationPinned(pinDir: string): boolean {
  // a datapath from before NetworkPolicy has no pol_state: nothing can be isolated
  if (!existsSync(join(pinPaths(pinDir).mapsDir, 'pol_state'))) return false;
  const st = openPinnedMap(pinDir, 'pol_state');
  try {
    const v = new RawMap(st).get(Buffer.alloc(4));
    if (v && decodeState(v).egressIsolated > 0) return true;
  } finally {
    st.close();
  }
  const eps = openPinnedMap(pinDir, 'endpoints');
  try {
    for (const [k, v] of new RawMap(eps).entries()) {
      let ip: string;
      try {
        ip = decodeEndpointKey(k);
      } catch {
        continue;
      }
      if (decodeEndpoint(ip, v).flags & EP_F_EGRESS_ISOLATED) return true;
    }
  } finally {
    eps.close();
  }
  return false;
}
