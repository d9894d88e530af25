/* from_pod.c — tc ingress on the HOST side of every pod veth (attached as PINDIR/progs/from_pod).
 *
 * Contract: sees every packet a pod sends. ARP and non-IP go to the host stack, IPv6 is dropped (the
 * pod network is IPv4-only); IPv4 must come from the endpoint registered for this veth (IP, ifindex
 * and MAC) or is dropped. A forward is handed to the stack instead when the stack owns the packet:
 * fragments, IP options, ICMP errors, and replies to a flow the stack NATed (ct map; from_pod and
 * to_pod record such flows' initiators, lib/conntrack.h). Destination a
 * local endpoint: rewritten (MACs, TTL-1, checksum) and bpf_redirect_peer()ed into that pod.
 * Destination in another node's podCIDR (routes map): native mode — FIB lookup toward the node
 * IP and bpf_redirect_neigh() out of the uplink with that next hop; vxlan mode — tunnel key to
 * the node IP + bpf_redirect() to the collect-metadata VXLAN device, or with the BPF VXLAN
 * datapath (node_cfg flag) the program encapsulates itself (lib/vxlan.h) and redirect_neigh()s
 * the outer packet toward the node IP; a frame that would not fit the egress MTU with the 50
 * bytes goes to the stack (ICMP frag-needed for DF); TTL-1 on all. Anything
 * else (node IPs, the outside world) goes to the stack. The host stack never forwards pod-to-pod
 * traffic. Every path ends in pw_finish() (lib/drop.h), which counts the reason (EGRESS) and
 * records the verdict in skb->cb. The decision lives in lib/decide.h (shared with the wasm twin).
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

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	struct pw_pkt pkt;
	struct pw_verdict v;
	__be32 remote;

	pw_pull_headers(skb);
	pw_parse_skb(skb, &pkt);
	pw_decide_from_pod(&pkt, &v);
	/* to the stack (a Service IP, a node, the outside, or a NAT reply): its flow is the stack's,
	 * so the replies must come back through it (lib/conntrack.h) */
	if (v.reason == PW_REASON_PASS_STACK_MISS || v.reason == PW_REASON_PASS_STACK_NO_NODE_CFG ||
	    v.reason == PW_REASON_PASS_STACK_NAT_REPLY || v.reason == PW_REASON_FWD_REPLY_TO_NODE)
		pw_ct_record(&pkt, PW_CT_ORIGIN_FROM_POD);
	pw_ct_policy(&pkt, &v, PW_CT_ORIGIN_FROM_POD, skb->len);
	/* ENCAP_NEIGH: the remote node IP, before the FIB turns nh_addr into the next hop */
	remote = v.nh_addr;
	pw_apply(skb, &pkt, &v);
	/* after the rewrite: a CE mark fixes the checksum pw_apply wrote */
	pw_bw_apply(skb, &pkt, &v);
	/* last: the inner packet is final (TTL, CE) before it is encapsulated */
	pw_vxlan_apply(skb, &pkt, &v, remote);
	return pw_finish(skb, &v, PW_DIR_EGRESS);
}

/* GPL-compatible so every helper is available; the TypeScript side is Apache-2.0. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
