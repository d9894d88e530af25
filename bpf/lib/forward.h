/* forward.h — applying a verdict to the packet (BPF only): the writes a forward needs, the FIB
 * lookup behind REDIRECT_NEIGH and the tunnel key behind REDIRECT_TUNNEL. Shared by every
 * program; the decision itself stays in lib/decide.h.
 *
 * Contract: pw_apply() runs after pw_decide_*() and before pw_finish(). It writes the packet
 * only for a forward, after every check that can still turn the forward into a drop has
 * passed; a failing helper turns the verdict into a drop with its reason. Needs
 * <linux/bpf.h>, <bpf/bpf_helpers.h>, <bpf/bpf_endian.h> and lib/decide.h first.
 */
#ifndef PODWIRE_FORWARD_H
#define PODWIRE_FORWARD_H

#include "common.h"
#include "decide.h"

_Static_assert(PW_FIB_SUCCESS == BPF_FIB_LKUP_RET_SUCCESS && PW_FIB_FWD_DISABLED == BPF_FIB_LKUP_RET_FWD_DISABLED &&
		       PW_FIB_NO_NEIGH == BPF_FIB_LKUP_RET_NO_NEIGH && PW_FIB_FRAG_NEEDED == BPF_FIB_LKUP_RET_FRAG_NEEDED,
	       "enum pw_fib_rc mirrors BPF_FIB_LKUP_RET_*");

/* verifier: writes go through bpf_skb_store_bytes rather than direct packet access: a direct
 * write makes the verifier add an unclone prologue that every packet (TCP skbs are clones) would
 * pay, while the helper unclones only the packets we actually forward (checked: the xlated
 * program starts without the skb->cloned test). */
static __always_inline int pw_store_macs(struct __sk_buff *skb, const struct pw_verdict *v)
{
	__u8 macs[12];
	int i;

	for (i = 0; i < 6; i++) {
		macs[i] = v->dmac[i];
		macs[6 + i] = v->smac[i];
	}
	return bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0);
}

static __always_inline int pw_store_ttl(struct __sk_buff *skb, const struct pw_verdict *v, __u8 protocol)
{
	__u8 l3[4];

	/* TTL, protocol and checksum are adjacent (IPv4 header bytes 8..11): one write */
	l3[0] = v->ttl;
	l3[1] = protocol;
	l3[2] = (__u8)(v->check >> 8);
	l3[3] = (__u8)(v->check & 0xff);
	return bpf_skb_store_bytes(skb, PW_ETH_HLEN + 8, l3, sizeof(l3), 0);
}

/* MACs, TTL and checksum in ONE bpf_skb_store_bytes (bytes 0..25; the EtherType and IPv4 bytes
 * 0..9 between them are written back unchanged): one helper call and one writability check per
 * forwarded packet instead of two. Falls back to two writes when those bytes are not linear (the
 * caller's pw_pull_headers made them linear for every parsed IPv4 packet, so only in theory). */
static __always_inline int pw_store_l2_ttl(struct __sk_buff *skb, const struct pw_verdict *v, __u8 protocol)
{
	const __u8 *data = (const __u8 *)(long)skb->data;
	const __u8 *data_end = (const __u8 *)(long)skb->data_end;
	__u8 hdr[PW_ETH_HLEN + 12];
	int i;

	/* verifier: the kept bytes are read from the packet after a bound check */
	if (data + sizeof(hdr) > data_end)
		return pw_store_macs(skb, v) || pw_store_ttl(skb, v, protocol);
	for (i = 0; i < 6; i++) {
		hdr[i] = v->dmac[i];
		hdr[6 + i] = v->smac[i];
	}
	for (i = 12; i < PW_ETH_HLEN + 8; i++)
		hdr[i] = data[i];
	hdr[PW_ETH_HLEN + 8] = v->ttl;
	hdr[PW_ETH_HLEN + 9] = protocol;
	hdr[PW_ETH_HLEN + 10] = (__u8)(v->check >> 8);
	hdr[PW_ETH_HLEN + 11] = (__u8)(v->check & 0xff);
	return bpf_skb_store_bytes(skb, 0, hdr, sizeof(hdr), 0);
}

/* How long a next hop the FIB gave for a remote node is used without asking again (lib/maps.h
 * nh_cache). Route and neighbour changes toward a node take effect within this time. */
#define PW_NH_FRESH_NS 1000000000ULL

/* A fresh cached next hop toward node: fills the verdict's egress device, next hop and MACs, which
 * makes pw_finish() redirect straight out of the device (lib/drop.h pw_l2_resolved). */
static __always_inline int pw_nh_lookup(__be32 node, __u64 now, struct pw_verdict *v)
{
	const struct pw_nh *nh = bpf_map_lookup_elem(&nh_cache, &node);

	if (!nh || now - nh->stamp_ns >= PW_NH_FRESH_NS || nh->ifindex == 0)
		return 0;
	v->ifindex = nh->ifindex;
	v->nh_addr = nh->nexthop;
	pw_mac_copy(v->dmac, nh->dmac);
	pw_mac_copy(v->smac, nh->smac);
	return 1;
}

/* Remember a FIB SUCCESS toward node. A whole-element update (not an in-place write), so a reader
 * on another CPU sees the old or the new entry, never a mix. */
static __always_inline void pw_nh_remember(__be32 node, __u64 now, const struct bpf_fib_lookup *fib)
{
	struct pw_nh nh = {};

	nh.stamp_ns = now;
	nh.ifindex = fib->ifindex;
	nh.nexthop = fib->ipv4_dst;
	pw_mac_copy(nh.dmac, fib->dmac);
	pw_mac_copy(nh.smac, fib->smac);
	bpf_map_update_elem(&nh_cache, &node, &nh, BPF_ANY);
}

static __always_inline void pw_apply(struct __sk_buff *skb, const struct pw_pkt *p, struct pw_verdict *v)
{
	switch (v->action) {
	case PW_ACT_REDIRECT_PEER:
		if (pw_store_l2_ttl(skb, v, p->protocol))
			pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_REWRITE_FAILED);
		return;
	case PW_ACT_REDIRECT_NEIGH: {
		struct bpf_fib_lookup fib = {};
		__be32 node = v->nh_addr;
		__u64 now = 0;
		int rc;

		/* to another node's pod: its node's next hop from the cache while it is fresh */
		if (v->reason == PW_REASON_FWD_REMOTE_NATIVE) {
			now = bpf_ktime_get_coarse_ns();
			if (pw_nh_lookup(node, now, v)) {
				if (pw_store_l2_ttl(skb, v, p->protocol))
					pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_REWRITE_FAILED);
				return;
			}
		}
		fib.family = PW_AF_INET;
		fib.tos = p->tos;
		fib.l4_protocol = p->protocol;
		/* tot_len 0: a non-zero length makes GSO packets fail with FRAG_NEEDED (MTU check on
		 * the unsegmented size) and TCP collapses; the egress device segments anyway */
		fib.tot_len = 0;
		fib.ifindex = skb->ingress_ifindex;
		fib.ipv4_src = p->saddr;
		fib.ipv4_dst = node; /* route to the NODE, not the pod: the kernel has no pod routes */
		rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
		pw_verdict_after_fib(v, rc, fib.ifindex, fib.ipv4_dst);
		if (v->action != PW_ACT_REDIRECT_NEIGH)
			return;
		/* this packet still leaves through bpf_redirect_neigh(): once per node and second the
		 * neighbour layer sees traffic, so the kernel keeps that entry confirmed (or re-resolves
		 * it), and the next refresh reads its current MAC */
		if (rc == PW_FIB_SUCCESS && v->reason == PW_REASON_FWD_REMOTE_NATIVE)
			pw_nh_remember(node, now, &fib);
		if (pw_store_ttl(skb, v, p->protocol))
			pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_REWRITE_FAILED);
		return;
	}
	case PW_ACT_ENCAP_NEIGH: {
		/* BPF VXLAN: the FIB toward the remote node from our node IP (the outer header's
		 * addresses); the encapsulation itself waits for pw_vxlan_apply(), after the bandwidth
		 * step, so a limit drops before the 50 bytes are added and a CE mark lands on the inner
		 * header */
		const struct pw_node_cfg *cfg = pw_lookup_node_cfg();
		struct bpf_fib_lookup fib = {};
		__u32 mtu = 0;
		int rc;

		if (!cfg) {
			pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_NO_NODE_CFG);
			return;
		}
		fib.family = PW_AF_INET;
		fib.tos = p->tos;
		fib.l4_protocol = PW_IPPROTO_UDP;
		fib.tot_len = 0; /* as for REDIRECT_NEIGH: no MTU check on the GSO aggregate here */
		fib.ifindex = skb->ingress_ifindex;
		fib.ipv4_src = cfg->node_ip;
		fib.ipv4_dst = v->nh_addr;
		rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
		pw_verdict_after_fib(v, rc, fib.ifindex, fib.ipv4_dst);
		if (v->action != PW_ACT_ENCAP_NEIGH)
			return;
		/* the tunnel adds 50 bytes: a frame that no longer fits the egress MTU goes to the stack,
		 * whose route through the VXLAN device (MTU = pod MTU) answers a DF sender with ICMP
		 * frag-needed and fragments the rest. GSO aggregates pass here (the kernel checks only
		 * the whole length with flags 0): their segments are sized by the pod MTU. */
		if (bpf_check_mtu(skb, v->ifindex, &mtu, PW_VXLAN_OVERHEAD, 0) != BPF_MTU_CHK_RET_SUCCESS) {
			pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_FRAG_NEEDED);
			return;
		}
		if (pw_store_ttl(skb, v, p->protocol))
			pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_REWRITE_FAILED);
		return;
	}
	case PW_ACT_REDIRECT_TUNNEL: {
		struct bpf_tunnel_key key = {};

		key.tunnel_id = v->tunnel_id;
		key.remote_ipv4 = bpf_ntohl(v->nh_addr); /* the helper takes host order */
		key.tunnel_ttl = 64;
		if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 0)) {
			pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_TUNNEL_FAILED);
			return;
		}
		/* inner MACs stay as the pod sent them: the receiving node rewrites them for its pod */
		if (pw_store_ttl(skb, v, p->protocol))
			pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_REWRITE_FAILED);
		return;
	}
	default:
		return;
	}
}

/* Pull the Ethernet + IPv4 base header and the first 8 bytes of L4 (ports / ICMP echo id) into the
 * linear area when a non-linear skb has them outside [data, data_end) (rare; only then does this
 * unclone). */
static __always_inline void pw_pull_headers(struct __sk_buff *skb)
{
	__u32 want = skb->len < PW_L4_OFF + PW_TCP_FLAGS_END ? skb->len : PW_L4_OFF + PW_TCP_FLAGS_END;

	if ((long)skb->data + want > (long)skb->data_end)
		bpf_skb_pull_data(skb, want);
}

/* pw_parse() on the skb's linear area (after pw_pull_headers). */
static __always_inline void pw_parse_skb(struct __sk_buff *skb, struct pw_pkt *p)
{
	/* verifier: data/data_end are re-read after the pull, which invalidates packet pointers */
	pw_parse((const __u8 *)(long)skb->data, (const __u8 *)(long)skb->data_end, skb->len, skb->ifindex,
		 skb->gso_size != 0, p);
}

#endif /* PODWIRE_FORWARD_H */
