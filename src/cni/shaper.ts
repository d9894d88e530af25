// The TCP-friendly half of a pod's bandwidth limit: shapers on the pod's own interface, inside
// the pod netns, where TCP Small Queues hold the pod's sockets back instead of dropping.
// Egress: a root HTB on the pod's interface. Ingress: the pod interface's ingress qdisc mirrors
// into an ifb in the pod netns whose root HTB delivers back into the pod's stack. Each HTB has a
// priority class for small packets, so pings and ACKs do not wait behind the bulk queue. Rates count
// L3 bytes (a size table removes the Ethernet header), like the datapath's policer behind them
// (bpf/lib/bandwidth.h), which drops only traffic that got past these (a pod that removed them).
// Nothing here touches the host veth, so a chained `bandwidth` plugin still installs its own.
import { PodwireError } from '../errors/index.js';
import { run } from '../exec/run.js';
import type { BandwidthPlan, ShapePlan } from '../maps/bandwidth.js';

/** The ifb that shapes what the pod receives on ifname (in the pod netns). */
export function ingressIfb(ifname: string): string {
  return `pwin-${ifname}`.slice(0, 15);
}

/** Packets below this IP length (ACKs, pings, DNS, handshakes) take the priority class. */
export const SMALL_PACKET = 128;

/** HTB at the limit with two classes sharing it: small packets first (so a ping or an ACK never
 * waits behind the bulk queue; the kernel has no fq_codel to separate flows), bulk after. Both
 * borrow up to the whole rate; together they never exceed it. */
function shaperCommands(dev: string, s: ShapePlan): string[][] {
  const r = s.rateBps;
  const prio = Math.max(Math.floor(r / 10), 8000);
  const burst = ['burst', String(s.shaperBurstBytes), 'cburst', String(s.shaperBurstBytes)];
  const q = ['quantum', '60000'];
  return [
    ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'stab', 'overhead', '-14', 'htb', 'default', '20'],
    ['tc', 'class', 'replace', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', `${r}bit`, 'ceil', `${r}bit`, ...burst, ...q],
    ['tc', 'class', 'replace', 'dev', dev, 'parent', '1:1', 'classid', '1:10', 'htb', 'rate', `${prio}bit`, 'ceil', `${r}bit`, ...burst, ...q, 'prio', '0'],
    ['tc', 'class', 'replace', 'dev', dev, 'parent', '1:1', 'classid', '1:20', 'htb', 'rate', `${r - prio}bit`, 'ceil', `${r}bit`, ...burst, ...q, 'prio', '1'],
    ['tc', 'qdisc', 'replace', 'dev', dev, 'parent', '1:10', 'handle', '10:', 'bfifo', 'limit', String(64 * 1024)],
    ['tc', 'qdisc', 'replace', 'dev', dev, 'parent', '1:20', 'handle', '20:', 'bfifo', 'limit', String(s.shaperQueueBytes)],
    // IPv4 total length < SMALL_PACKET
    ['tc', 'filter', 'replace', 'dev', dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'u16', '0', `0x${(0x10000 - SMALL_PACKET).toString(16)}`, 'at', '2', 'flowid', '1:10'],
  ];
}

async function tc(netns: string, args: string[], what: string): Promise<void> {
  const r = await run(args[0]!, args.slice(1), { netns, reject: false });
  if (r.exitCode !== 0) throw new PodwireError('IO_FAILED', `bandwidth: ${what} in ${netns} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
}

export async function installShapers(netns: string, ifname: string, plan: BandwidthPlan): Promise<void> {
  if (plan.egress) for (const c of shaperCommands(ifname, plan.egress)) await tc(netns, c, `egress shaper on ${ifname} (${c.slice(0, 3).join(' ')})`);
  if (plan.ingress) {
    const ifb = ingressIfb(ifname);
    await run('ip', ['link', 'del', ifb], { netns, reject: false }); // left by an earlier ADD of this pod
    await tc(netns, ['ip', 'link', 'add', ifb, 'type', 'ifb'], `creating ${ifb}`);
    await tc(netns, ['ip', 'link', 'set', ifb, 'up'], `bringing ${ifb} up`);
    for (const c of shaperCommands(ifb, plan.ingress)) await tc(netns, c, `ingress shaper on ${ifb} (${c.slice(0, 3).join(' ')})`);
    await tc(netns, ['tc', 'qdisc', 'replace', 'dev', ifname, 'handle', 'ffff:', 'ingress'], `ingress qdisc on ${ifname}`);
    await tc(
      netns,
      ['tc', 'filter', 'replace', 'dev', ifname, 'parent', 'ffff:', 'protocol', 'all', 'prio', '1', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', ifb],
      `mirroring ${ifname} into ${ifb}`,
    );
  }
}
