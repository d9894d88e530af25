/* from_vxlan.c — tc ingress on the collect-metadata VXLAN device (pwvxlan0) in vxlan mode
 * (attached by src/hostnet as PINDIR/progs/from_vxlan).
 *
 * Contract: sees the inner frames the device decapsulated. A packet for a local endpoint gets the
 * pod's MACs (the inner destination MAC is the sending pod's gateway, meaningless here), TTL-1
 * and a fixed checksum and is bpf_redirect_peer()ed into the pod (redirect_peer resets pkt_type,
 * so the foreign MAC does not make the pod drop it). A dead address in our podCIDR is dropped;
 * everything else goes to the stack untouched. Counted as INGRESS.
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
int from_vxlan(struct __sk_buff *skb)
{
	struct pw_pkt pkt;
	struct pw_verdict v;

	pw_pull_headers(skb);
	pw_parse_skb(skb, &pkt);
	pw_decide_to_local(&pkt, &v);
	if (v.reason == PW_REASON_FWD_LOCAL_PEER)
		pw_ct_record_from_node(&pkt);
	/* A packet for a local pod that the stack must handle (a NAT reply, an ICMP error, a fragment,
	 * options) came out of the tunnel with the SENDING node's device MAC as destination (the
	 * kernel's VXLAN device is NOARP), so eth_type_trans marked it PACKET_OTHERHOST and ip_rcv
	 * would drop it. It is for this host: say so. */
	if (v.action == PW_ACT_PASS &&
	    (v.reason == PW_REASON_PASS_STACK_NAT_REPLY || v.reason == PW_REASON_PASS_STACK_ICMP_ERROR ||
	     v.reason == PW_REASON_PASS_STACK_FRAGMENT || v.reason == PW_REASON_PASS_STACK_IP_OPTIONS))
		bpf_skb_change_type(skb, 0 /* PACKET_HOST */);
	pw_ct_policy(&pkt, &v, PW_CT_ORIGIN_FROM_NODE, skb->len);
	pw_apply(skb, &pkt, &v);
	/* after the rewrite: a CE mark fixes the checksum pw_apply wrote */
	pw_bw_apply(skb, &pkt, &v);
	return pw_finish(skb, &v, PW_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
