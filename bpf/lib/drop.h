/* drop.h — the ONE exit helper: every path of every program ends in pw_finish(), which
 * counts the verdict's reason, records the verdict in skb->cb for BPF_PROG_TEST_RUN, and
 * hands it to the event stream (lib/monitor.h: a gate check while no monitor listens), and
 * turns the verdict into a TC return code (calling bpf_redirect_peer for a forward).
 *
 * skb->cb after the program (ctx_out offset 48 in struct __sk_buff):
 *   cb[0] = enum pw_reason, cb[1] = enum pw_action, cb[2] = redirect ifindex (0 otherwise),
 *   cb[3] = next hop / tunnel endpoint (network order, 0 otherwise), cb[4] = tunnel id.
 * BPF only: needs <linux/bpf.h>, <linux/pkt_cls.h>, <bpf/bpf_helpers.h> and lib/maps.h first.
 */
#ifndef PODWIRE_DROP_H
#define PODWIRE_DROP_H

#include "common.h"
#include "maps.h"
#include "monitor.h"

static __always_inline void pw_count(__u32 reason, __u32 dir, __u32 bytes)
{
	__u32 idx = reason * PW_DIR_MAX + dir;
	struct pw_counter *c = bpf_map_lookup_elem(&counters, &idx);

	/* verifier: the lookup may fail (index out of range), so the NULL check is mandatory */
	if (c) {
		c->packets += 1;
		c->bytes += bytes;
	}
}

/* A REDIRECT_NEIGH verdict whose L2 header pw_apply() already wrote (a cached next hop): its
 * destination MAC is set (a next hop's MAC is never all zero; pw_verdict_init clears it). */
static __always_inline int pw_l2_resolved(const struct pw_verdict *v)
{
	return (v->dmac[0] | v->dmac[1] | v->dmac[2] | v->dmac[3] | v->dmac[4] | v->dmac[5]) != 0;
}

static __always_inline int pw_finish(struct __sk_buff *skb, const struct pw_verdict *v, __u32 dir)
{
	pw_count(v->reason, dir, skb->len);
	/* `podwire monitor`: nothing but a gate check unless a listener is attached (lib/monitor.h) */
	pw_monitor(skb, v, dir);
	skb->cb[0] = v->reason;
	skb->cb[1] = v->action;
	skb->cb[2] = v->ifindex;
	skb->cb[3] = v->nh_addr;
	skb->cb[4] = v->tunnel_id;

	switch (v->action) {
	case PW_ACT_REDIRECT_PEER:
		return bpf_redirect_peer(v->ifindex, 0);
	case PW_ACT_REDIRECT_NEIGH:
	case PW_ACT_ENCAP_NEIGH: {
		/* always with the next hop: with NULL the kernel routes on the inner (pod) address */
		struct bpf_redir_neigh nh = { .nh_family = PW_AF_INET, .ipv4_nh = v->nh_addr };

		/* the next hop's MACs came from the cache and are written (lib/forward.h): straight out
		 * of the device, past the neighbour layer */
		if (pw_l2_resolved(v))
			return bpf_redirect(v->ifindex, 0);
		return bpf_redirect_neigh(v->ifindex, &nh, sizeof(nh), 0);
	}
	case PW_ACT_REDIRECT_TUNNEL:
		/* the tunnel key was set by pw_apply(); the device's xmit encapsulates */
		return bpf_redirect(v->ifindex, 0);
	case PW_ACT_PASS:
		/* TC_ACT_UNSPEC (tcx "next"), not TC_ACT_OK: under tcx, OK ends tc processing, so the
		 * filters other tools hang on the ingress qdisc (e.g. the bandwidth plugin's mirror to
		 * its ifb) would never see packets we hand to the stack. UNSPEC lets them run, then the
		 * stack takes the packet as with OK. */
		return TC_ACT_UNSPEC;
	default:
		return TC_ACT_SHOT;
	}
}

/* The XDP exit (xdp_prefilter.c): there is no skb, so no cb to record into. A verdict with a
 * reason is counted in the same counters map as every tc program's (INGRESS: the uplink's receive
 * side), so `podwire counters` and the metrics show it; PW_REASON_UNSPEC (an unlisted source) is
 * passed uncounted: from_uplink counts it under its own reason once the skb exists. */
static __always_inline int pw_finish_xdp(struct xdp_md *ctx, __u32 reason, __u32 action)
{
	if (reason != PW_REASON_UNSPEC)
		pw_count(reason, PW_DIR_INGRESS, (__u32)(ctx->data_end - ctx->data));
	return action == PW_ACT_DROP ? XDP_DROP : XDP_PASS;
}

#endif /* PODWIRE_DROP_H */
