/* from_uplink.c — tc ingress on the node's uplink in native-routing mode (attached by
 * src/hostnet as PINDIR/progs/from_uplink).
 *
 * Contract: sees everything the underlay delivers to this node. A packet for a local endpoint
 * (a pod on this node, routed here natively by another node's from_pod) gets the pod's MACs,
 * TTL-1 and a fixed checksum and is bpf_redirect_peer()ed into the pod, bypassing the host stack.
 * A packet for a dead address in our own podCIDR is dropped; everything else (the node's own
 * traffic, ARP, non-IPv4, malformed frames) goes to the stack untouched. Counted as INGRESS.
 * The decision is pw_decide_to_local() in lib/decide.h (shared with the wasm twin).
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
#include "lib/bandwidth.h"

SEC("tc")
int from_uplink(struct __sk_buff *skb)
{
	struct pw_pkt pkt;
	struct pw_verdict v;

	pw_pull_headers(skb);
	pw_parse_skb(skb, &pkt);
	pw_decide_to_local(&pkt, &v);
	if (v.reason == PW_REASON_FWD_LOCAL_PEER)
		pw_ct_record_from_node(&pkt);
	pw_ct_policy(&pkt, &v, PW_CT_ORIGIN_FROM_NODE, skb->len);
	pw_apply(skb, &pkt, &v);
	/* after the rewrite: a CE mark fixes the checksum pw_apply wrote */
	pw_bw_apply(skb, &pkt, &v);
	return pw_finish(skb, &v, PW_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
