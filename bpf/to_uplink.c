/* to_uplink.c — tc egress on the node's uplink (native mode) and on the VXLAN device (vxlan mode)
 * (attached by src/hostnet as PINDIR/progs/to_uplink).
 *
 * Contract: judges the egress NetworkPolicy of a local pod's packets that leave toward other nodes
 * after the node's stack routed them — above all a Service ClusterIP that kube-proxy DNATed to a
 * remote backend, which from_pod saw only as the Service address (lib/policy.h, DEFERRED). The fast
 * path's own packets pass on the flow entry from_pod recorded. Returns at once, before parsing,
 * while no local pod is isolated for egress (pol_state.egress_isolated == 0). A denial is dropped
 * and counted through pw_finish() (EGRESS); everything else is TC_ACT_UNSPEC, uncounted, untouched.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/drop.h"
#include "lib/decide.h"
#include "lib/lookups.h"
#include "lib/forward.h"
#include "lib/conntrack.h"

SEC("tc")
int to_uplink(struct __sk_buff *skb)
{
	struct pw_pkt pkt;
	struct pw_verdict v;

	if (pw_pol_egress_idle())
		return TC_ACT_UNSPEC;
	pw_pull_headers(skb);
	pw_parse_skb(skb, &pkt);
	pw_decide_to_uplink(&pkt, &v);
	pw_ct_policy(&pkt, &v, PW_CT_ORIGIN_FROM_POD, skb->len);
	if (v.action == PW_ACT_DROP)
		return pw_finish(skb, &v, PW_DIR_EGRESS);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
