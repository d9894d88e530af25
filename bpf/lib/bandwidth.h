/* bandwidth.h — per-pod bandwidth limits (bw map), applied by the programs to verdicts whose
 * pw_verdict.limits names a limited endpoint (lib/decide.h pw_verdict_limits) and by to_pod to
 * everything the node's stack delivers into a limited pod.
 *
 * Mechanism: one token bucket per pod and direction, kept as GCRA's theoretical arrival time
 * (struct pw_bw_dir in common.h) and updated under the entry's bpf_spin_lock, so every CPU
 * charges the same bucket exactly. A packet is admitted while the backlog it would join is at
 * most burst_ns; above half the burst an ECN-capable packet is marked CE (bpf_skb_ecn_set_ce),
 * so ECN TCP backs off before any drop. Over the burst the packet is dropped with
 * PW_REASON_DROP_BW_EGRESS / _INGRESS. There is no queue: admitted packets go on at once, so a
 * limited pod's other flows (and pings) see no added latency.
 * Costs are the bytes the pod's HTB shapers (src/cni/shaper.ts) charge for the same packet: skb->len
 * without the Ethernet header. A TSO/GSO packet's headers count once, as the qdiscs here count
 * them. (Charging every segment's headers, the policer saw ~3 % more than the shaper let through
 * a 10M TCP flow, whose goodput was 99.4 % of the limit, and dropped ~0.5 % of its packets.)
 * The policer sits behind the shapers with a depth that covers their burst and queue, so it drops
 * only traffic that bypassed them; pw_bw_apply() runs it on the fast path's verdicts and to_pod on
 * what the stack delivers.
 * BPF only: needs <bpf/bpf_helpers.h>, lib/maps.h and lib/decide.h first.
 */
#ifndef PODWIRE_BANDWIDTH_H
#define PODWIRE_BANDWIDTH_H

#include "common.h"
#include "maps.h"
#include "decide.h"

/* What the packet costs: skb->len without the Ethernet header (see above). */
static __always_inline __u32 pw_bw_len(struct __sk_buff *skb)
{
	return skb->len > PW_ETH_HLEN ? skb->len - PW_ETH_HLEN : 0;
}

enum pw_bw_verdict {
	PW_BW_PASS = 0,
	PW_BW_DROP = 1,
};

/* Charge len bytes to addr's bucket for dir. An endpoint without an entry (or rate 0) passes. */
static __always_inline int pw_bw_admit(struct __sk_buff *skb, __be32 addr, __u32 dir, __u32 len)
{
	struct pw_endpoint_key key;
	struct pw_bw *b;
	struct pw_bw_dir *d;
	__u64 rate, burst, cost, now, tat, base, backlog;

	if (dir >= PW_DIR_MAX)
		return PW_BW_PASS;
	pw_ipv4_key(&key, addr);
	b = bpf_map_lookup_elem(&bw, &key);
	if (!b)
		return PW_BW_PASS;
	/* verifier: constant indexes only, a variable offset into a spin-locked value is refused */
	d = dir == PW_DIR_EGRESS ? &b->dir[PW_DIR_EGRESS] : &b->dir[PW_DIR_INGRESS];
	rate = d->rate_bps;
	burst = d->burst_ns;
	if (rate == 0)
		return PW_BW_PASS;
	cost = (__u64)len * 8ULL * 1000000000ULL / rate;
	now = bpf_ktime_get_ns();

	bpf_spin_lock(&b->lock);
	tat = d->tat_ns;
	base = tat > now ? tat : now;
	backlog = base - now;
	if (backlog > burst) {
		bpf_spin_unlock(&b->lock);
		return PW_BW_DROP;
	}
	d->tat_ns = base + cost;
	bpf_spin_unlock(&b->lock);

	/* past half the burst: tell an ECN-capable sender before we have to drop (a no-op for
	 * Not-ECT packets) */
	if (backlog > burst / 2)
		bpf_skb_ecn_set_ce(skb);
	return PW_BW_PASS;
}

/* Apply the verdict's limits (from_pod, from_uplink, from_vxlan): the sender's egress bucket,
 * then the receiver's ingress bucket. A drop replaces the verdict. */
static __always_inline void pw_bw_apply(struct __sk_buff *skb, const struct pw_pkt *p, struct pw_verdict *v)
{
	__u32 len;

	if (!v->limits)
		return;
	len = pw_bw_len(skb);
	if ((v->limits & PW_EP_F_BW_EGRESS) && pw_bw_admit(skb, p->saddr, PW_DIR_EGRESS, len) == PW_BW_DROP) {
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_BW_EGRESS);
		return;
	}
	if ((v->limits & PW_EP_F_BW_INGRESS) && pw_bw_admit(skb, p->daddr, PW_DIR_INGRESS, len) == PW_BW_DROP)
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_BW_INGRESS);
}

#endif /* PODWIRE_BANDWIDTH_H */
