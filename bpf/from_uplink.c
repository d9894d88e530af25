/* from_uplink.c — tc ingress on the node's uplink in native-routing mode, and in vxlan mode with
 * the BPF VXLAN datapath (attached by src/hostnet as PINDIR/progs/from_uplink).
 *
 * Contract: sees everything the underlay delivers to this node. A packet for a local endpoint
 * (a pod on this node, routed here natively by another node's from_pod) gets the pod's MACs,
 * TTL-1 and a fixed checksum and is bpf_redirect_peer()ed into the pod, bypassing the host stack.
 * A packet for a dead address in our own podCIDR is dropped; everything else (the node's own
 * traffic, ARP, non-IPv4, malformed frames) goes to the stack untouched. Counted as INGRESS.
 * BPF VXLAN datapath (node_cfg flag): a VXLAN packet to this node's IP, port 8472 and VNI is
 * judged by its inner frame; a delivery is decapsulated here (lib/vxlan.h) and redirect_peer()ed
 * like a native one, a drop dropped, anything else left encapsulated for the VXLAN device.
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
#include "lib/vxlan.h"

/* The BPF VXLAN datapath: a VXLAN packet of our tunnel (lib/decide.h pw_vxlan_ours) is judged by
 * its inner frame, parsed into p; returns 1 then. The outer headers must be linear first: pull
 * them (and the inner base headers) when a non-linear skb has them outside [data, data_end). */
static __always_inline int pw_vxlan_rx(struct __sk_buff *skb, struct pw_pkt *p)
{
	const struct pw_node_cfg *cfg = pw_lookup_node_cfg();
	__u32 want;

	if (!cfg || !(cfg->flags & PW_NODE_F_VXLAN_BPF) || p->dport != bpf_htons(PW_VXLAN_PORT))
		return 0;
	want = PW_VXLAN_INNER_OFF + PW_L4_OFF + PW_TCP_FLAGS_END;
	if (want > skb->len)
		want = skb->len;
	if ((long)skb->data + want > (long)skb->data_end)
		bpf_skb_pull_data(skb, want);
	/* verifier: data/data_end are re-read after the pull */
	if (!pw_vxlan_ours(p, (const __u8 *)(long)skb->data, (const __u8 *)(long)skb->data_end, cfg))
		return 0;
	pw_parse((const __u8 *)(long)skb->data + PW_VXLAN_INNER_OFF, (const __u8 *)(long)skb->data_end,
		 skb->len - PW_VXLAN_OVERHEAD, skb->ifindex, skb->gso_size != 0, p);
	return 1;
}

SEC("tc")
int from_uplink(struct __sk_buff *skb)
{
	struct pw_pkt pkt;
	struct pw_verdict v;
	int tunnel;

	pw_pull_headers(skb);
	pw_parse_skb(skb, &pkt);
	tunnel = pw_vxlan_rx(skb, &pkt);
	pw_decide_to_local(&pkt, &v);
	if (tunnel)
		pw_vxlan_decap_gate(&pkt, &v);
	/* a tunnelled packet the fast path does not deliver itself (a NAT reply, an ICMP error, a
	 * fragment, ...) stays encapsulated: the VXLAN device decapsulates it and from_vxlan hands it
	 * to the stack as in the device datapath. Only its reason is counted here. */
	if (tunnel && v.action == PW_ACT_PASS)
		return pw_finish(skb, &v, PW_DIR_INGRESS);
	if (v.reason == PW_REASON_FWD_LOCAL_PEER)
		pw_ct_record_from_node(&pkt);
	pw_ct_policy(&pkt, &v, PW_CT_ORIGIN_FROM_NODE, skb->len);
	/* a delivery: strip the outer headers, so the inner frame's IPv4 header sits where
	 * pw_apply() writes (FIXED_GSO in the flags argument, lib/vxlan.h) */
	if (tunnel && v.action == PW_ACT_REDIRECT_PEER && pw_vxlan_decap(skb)) {
		/* refused (a GSO type adjust_room cannot shrink): it fails before touching the packet,
		 * so the VXLAN device can still take it */
		pw_pol_clear(&v);
		pw_verdict_init(&v, PW_ACT_PASS, PW_REASON_PASS_STACK_TUNNEL_GSO);
	}
	pw_apply(skb, &pkt, &v);
	/* after the rewrite: a CE mark fixes the checksum pw_apply wrote */
	pw_bw_apply(skb, &pkt, &v);
	return pw_finish(skb, &v, PW_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
