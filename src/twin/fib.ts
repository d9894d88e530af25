// The kernel FIB behind a REDIRECT_NEIGH verdict. bpf_fib_lookup() is the kernel's, not shared
// C, so the twin asks the host: a fixed table (tests model their namespace's routes), `ip route
// get` in the node's namespace (trace on a live node), or nothing (an offline snapshot: the
// verdict stays "FIB lookup of the node IP decides").
import { run } from '../exec/run.js';
import { enums } from '../maps/generated/layouts.js';

/** What bpf_fib_lookup() returned: rc (enum pw_fib_rc, or a negative errno), egress ifindex, next hop. */
export interface FibAnswer {
  rc: number;
  ifindex: number;
  /** Next hop (the gateway, or the destination itself when on-link), dotted quad. */
  nexthop: string;
}

export interface FibQuery {
  /** skb->ingress_ifindex: the FIB runs as an input lookup on it and needs forwarding enabled there. */
  ingressIfindex: number;
  src: string;
  /** The remote node IP the route entry named. */
  dst: string;
  tos: number;
  protocol: number;
}

/** A FIB for the twin; undefined = unknown (no FIB available). */
export type Fib = (q: FibQuery) => FibAnswer | undefined;

export const FIB_RC = enums.pw_fib_rc.values;

export const noFib: Fib = () => undefined;

/** A FIB with precomputed answers per destination (the twin calls it synchronously). */
export function tableFib(answers: ReadonlyMap<string, FibAnswer>): Fib {
  return (q) => answers.get(q.dst);
}

const errnoRc: Array<[RegExp, number]> = [
  [/No route to host/i, FIB_RC.UNREACHABLE],
  [/Invalid argument/i, FIB_RC.BLACKHOLE],
  [/Permission denied/i, FIB_RC.PROHIBIT],
];

/**
 * The answer bpf_fib_lookup() would give for `dst`, asked of the kernel with `ip route get` in
 * the node's namespace (an output lookup: same table and next hop for podwire's routes, which
 * have no input-interface rules), plus the forwarding check on the ingress device.
 */
export async function routeGet(q: { dst: string; ingressIfname?: string; netnsPath?: string }): Promise<FibAnswer & { note: string }> {
  const opts = q.netnsPath === undefined ? {} : { netns: q.netnsPath };
  if (q.ingressIfname !== undefined) {
    const fw = await run('sysctl', ['-n', `net.ipv4.conf.${q.ingressIfname}.forwarding`], { ...opts, reject: false });
    if (fw.exitCode === 0 && fw.stdout.trim() === '0') {
      return { rc: FIB_RC.FWD_DISABLED, ifindex: 0, nexthop: '0.0.0.0', note: `net.ipv4.conf.${q.ingressIfname}.forwarding is 0` };
    }
  }
  const r = await run('ip', ['-j', 'route', 'get', q.dst], { ...opts, reject: false });
  if (r.exitCode !== 0) {
    const why = r.stderr.trim();
    const rc = errnoRc.find(([re]) => re.test(why))?.[1] ?? FIB_RC.NOT_FWDED;
    return { rc, ifindex: 0, nexthop: '0.0.0.0', note: `ip route get ${q.dst}: ${why}` };
  }
  const [route] = JSON.parse(r.stdout) as Array<{ type?: string; dst: string; gateway?: string; dev?: string }>;
  if (!route || (route.type !== undefined && route.type !== 'unicast')) {
    return { rc: FIB_RC.NOT_FWDED, ifindex: 0, nexthop: '0.0.0.0', note: `ip route get ${q.dst}: type ${route?.type ?? 'none'}` };
  }
  const link = await run('ip', ['-j', 'link', 'show', 'dev', route.dev ?? ''], opts);
  const ifindex = (JSON.parse(link.stdout) as Array<{ ifindex: number }>)[0]?.ifindex ?? 0;
  const nexthop = route.gateway ?? q.dst;
  // NO_NEIGH and SUCCESS give the same verdict; report SUCCESS
  return { rc: FIB_RC.SUCCESS, ifindex, nexthop, note: `ip route get ${q.dst}: dev ${route.dev}${route.gateway ? ` via ${route.gateway}` : ''}` };
}
