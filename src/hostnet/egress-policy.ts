// to_uplink (egress NetworkPolicy of what the node's stack sends toward other nodes: a Service
// DNATed to a remote backend) is attached only while some local pod is isolated for egress. While
// none is, the program would return at once on every packet leaving the node and still cost the
// tcx egress hook and one map lookup (~40 ns/packet, bench/report/findings.md, issue 13).
// Order (src/agent/policy.ts): attach BEFORE the policy writer marks any endpoint isolated for
// egress (from_pod defers such a pod's Service packets to to_uplink from that moment), detach only
// AFTER the writer cleared the last one. At start and reload the pinned maps decide
// (egressIsolationPinned), and the policy controller's first run re-derives it from the API.
import { existsSync } from 'node:fs';
import { attachProgram } from '../loader/attach.js';
import { linkPin } from '../loader/pins.js';
import { tcxDetach } from '../loader/tcx.js';
import { VXLAN_DEVICE } from './constants.js';

export type EgressPolicyChange = 'attached' | 'detached' | 'unchanged';

/** The device to_uplink judges on: the uplink (native), the VXLAN device (vxlan: the stack routes
 * remote pods through it, in both VXLAN datapaths). */
export function egressPolicyDevice(mode: 'native' | 'vxlan', uplink: string): string {
  return mode === 'vxlan' ? VXLAN_DEVICE : uplink;
}

/** Attach (want) or detach (!want) to_uplink on dev's egress; idempotent. refresh: attach even
 * when the link is pinned (node setup: the device may have been re-created, the pin be stale). */
export async function syncEgressPolicy(o: { pinDir: string; dev: string; want: boolean; netns?: string | undefined; refresh?: boolean }): Promise<EgressPolicyChange> {
  const pin = linkPin(o.pinDir, o.dev, 'egress');
  if (o.want) {
    if (existsSync(pin) && !o.refresh) return 'unchanged';
    await attachProgram('to_uplink', o.dev, o.pinDir, o.netns === undefined ? {} : { netns: o.netns }, 'egress');
    return 'attached';
  }
  if (!existsSync(pin)) return 'unchanged';
  await tcxDetach(pin);
  return 'detached';
}
