// The TCP-friendly half of a pod's bandwidth limit: TBF shapers on the pod's own interface,
// inside the pod netns, where TCP Small Queues hold the pod's sockets back instead of dropping.
// Egress: a root TBF on the pod's interface. Ingress: the pod interface's ingress qdisc mirrors
// into an ifb in the pod netns whose root TBF delivers back into the pod's stack. Rates count
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

function tbf(s: ShapePlan): string[] {
  return ['stab', 'overhead', '-14', 'tbf', 'rate', `${s.rateBps}bit`, 'burst', String(s.tbfBurstBytes), 'limit', String(s.tbfLimitBytes)];
}

async function tc(netns: string, args: string[], what: string): Promise<void> {
  const r = await run(args[0]!, args.slice(1), { netns, reject: false });
  if (r.exitCode !== 0) throw new PodwireError('IO_FAILED', `bandwidth: ${what} in ${netns} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
}

export async function installShapers(netns: string, ifname: string, plan: BandwidthPlan): Promise<void> {
  if (plan.egress) await tc(netns, ['tc', 'qdisc', 'replace', 'dev', ifname, 'root', 'handle', '1:', ...tbf(plan.egress)], `egress TBF on ${ifname}`);
  if (plan.ingress) {
    const ifb = ingressIfb(ifname);
    await run('ip', ['link', 'del', ifb], { netns, reject: false }); // left by an earlier ADD of this pod
    await tc(netns, ['ip', 'link', 'add', ifb, 'type', 'ifb'], `creating ${ifb}`);
    await tc(netns, ['ip', 'link', 'set', ifb, 'up'], `bringing ${ifb} up`);
    await tc(netns, ['tc', 'qdisc', 'replace', 'dev', ifb, 'root', 'handle', '1:', ...tbf(plan.ingress)], `ingress TBF on ${ifb}`);
    await tc(netns, ['tc', 'qdisc', 'replace', 'dev', ifname, 'handle', 'ffff:', 'ingress'], `ingress qdisc on ${ifname}`);
    await tc(
      netns,
      ['tc', 'filter', 'replace', 'dev', ifname, 'parent', 'ffff:', 'protocol', 'all', 'prio', '1', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', ifb],
      `mirroring ${ifname} into ${ifb}`,
    );
  }
}
