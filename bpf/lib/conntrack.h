/* conntrack.h — recording the flows the node's stack owns (BPF only; the shared decision in
 * lib/decide.h only looks them up).
 *
 * Contract: pw_ct_record() runs for IPv4 packets that travel through the node's stack between a
 * pod and a peer — from_pod's passes (the pod sends to a Service IP, a node, the outside, or
 * answers such a flow) and to_pod (the stack delivers into the pod) — and for packets a non-pod
 * address sends straight into a pod from another node (from_uplink/from_vxlan), whose replies
 * pass through the stack. The first of a flow's packets
 * that podwire sees names its initiator: if the packet's destination addr:port is a recorded
 * initiator, the packet belongs to that flow (a reply) and refreshes the entry; otherwise its
 * source is the initiator and is recorded (or refreshed). Replies to a recorded initiator are then
 * kept off the fast path (PW_REASON_PASS_STACK_NAT_REPLY), so the conntrack that did the NAT undoes
 * it. The fast path itself records nothing: pod-to-pod flows cost one lookup and no write.
 * Needs <bpf/bpf_helpers.h>, lib/maps.h and lib/decide.h first.
 */
#ifndef PODWIRE_CONNTRACK_H
#define PODWIRE_CONNTRACK_H

#include "common.h"
#include "maps.h"
#include "decide.h"
#include "lookups.h"

/* One verdict into pol_stats (insert on first use; LRU, so the insert cannot fail for space). */
static __always_inline void pw_pol_count(__u32 ifindex, __u32 ruleset, __u32 dir, __u8 slot, __u32 len)
{
	struct pw_pol_stat_key k = {};
	struct pw_counter *c, zero = {};

	if (slot == PW_POL_SLOT_NONE)
		return;
	k.ifindex = ifindex;
	k.ruleset = ruleset;
	k.dir = (__u8)dir;
	k.slot = slot;
	c = bpf_map_lookup_elem(&pol_stats, &k);
	if (!c) {
		bpf_map_update_elem(&pol_stats, &k, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&pol_stats, &k);
		if (!c)
			return;
	}
	c->packets += 1;
	c->bytes += len;
}

/* A live entry's last_seen_ns is rewritten at most once a second: the timeouts the agent's GC
 * applies are minutes to days, and fewer writes keep the cache line shared between CPUs. */
#define PW_CT_REFRESH_NS 1000000000ULL

static __always_inline int pw_ct_touch(struct pw_ct_key *k, __u64 now)
{
	struct pw_ct_entry *e = bpf_map_lookup_elem(&ct, k);

	if (!e)
		return 0;
	/* a racy plain store is fine: concurrent writers store nearly the same time */
	if (now - e->last_seen_ns > PW_CT_REFRESH_NS)
		e->last_seen_ns = now;
	return 1;
}

static __always_inline void pw_ct_record(const struct pw_pkt *p, __u32 origin)
{
	struct pw_ct_key k;
	struct pw_ct_entry n = {};
	__u64 now;

	/* fragments, options and ICMP errors carry no usable flow key (the stack relates them) */
	if (p->l3 != PW_L3_IPV4 || p->l4 == PW_L4_FRAGMENT || p->l4 == PW_L4_OPTIONS || p->l4 == PW_L4_ICMP_ERROR)
		return;
	now = bpf_ktime_get_ns();
	pw_ct_stack_key(&k, p->daddr, p->dport, p->protocol);
	if (pw_ct_touch(&k, now))
		return;
	pw_ct_stack_key(&k, p->saddr, p->sport, p->protocol);
	if (pw_ct_touch(&k, now))
		return;
	n.last_seen_ns = now;
	n.created_ns = now;
	n.origin = origin;
	n.ifindex = p->ifindex;
	/* NOEXIST: another CPU may have recorded the same initiator a moment ago; keep its entry */
	bpf_map_update_elem(&ct, &k, &n, BPF_NOEXIST);
}

/* from_uplink / from_vxlan, after a delivery into a local pod: a source that is no pod (a node's
 * own address, a hostNetwork pod, a NodePort another node forwarded with SNAT) initiated this
 * flow, and the pod's replies go to the stack, which must not then mistake the pod for the
 * initiator. Pod-to-pod traffic (the source is in a pod CIDR) records nothing: the cost on the
 * cross-node fast path is this one LPM lookup. */
static __always_inline void pw_ct_record_from_node(const struct pw_pkt *p)
{
	struct pw_route_key rk;

	rk.prefixlen = 32;
	rk.addr = p->saddr;
	if (bpf_map_lookup_elem(&routes, &rk))
		return;
	pw_ct_record(p, PW_CT_ORIGIN_FROM_NODE);
}

/* ---- PW_CT_FLOW: flows NetworkPolicy admitted (lib/policy.h decides, this records) ---- */

/* After pw_policy(): record a newly admitted flow (both directions, the current revision), stamp
 * a re-admitted one, keep a denied one (re-judged per packet); count the verdict per
 * endpoint (its host veth) and slot in pol_stats. */
static __always_inline void pw_ct_policy(const struct pw_pkt *p, const struct pw_verdict *v, __u32 origin, __u32 len)
{
	struct pw_ct_key fwd, rev;
	struct pw_ct_entry n = {};
	const struct pw_pol_state *st;
	struct pw_ct_cache *c;
	__u32 zero = 0, slot;
	__be16 sport = 0, dport = 0;
	__u64 now;

	/* established flows were refreshed by the lookup that found them (lib/lookups.h) */
	if (v->pol_step == PW_POL_NONE || v->pol_step == PW_POL_ESTABLISHED || v->pol_step == PW_POL_REPLY)
		return;
	if (v->pol_ifindex_in)
		pw_pol_count(v->pol_ifindex_in, v->pol_ruleset_in, PW_DIR_INGRESS, v->pol_slot_in, len);
	if (v->pol_ifindex_eg)
		pw_pol_count(v->pol_ifindex_eg, v->pol_ruleset_eg, PW_DIR_EGRESS, v->pol_slot_eg, len);
	if (v->pol_step == PW_POL_UNTRACKED)
		return;
	if (p->l4 == PW_L4_PORTS || p->l4 == PW_L4_ICMP_ECHO) {
		sport = p->sport;
		dport = p->dport;
	}
	pw_ct_flow_key(&fwd, p->saddr, p->daddr, sport, dport, p->protocol);
	pw_ct_flow_key(&rev, p->daddr, p->saddr, dport, sport, p->protocol);
	if (v->pol_step == PW_POL_DENIED) {
		/* a flow a changed policy no longer admits: KEEP both entries (stale revision), so every
		 * later packet, either way, is judged again the way the flow started. Deleting them let the
		 * other side's next packet (a server's ACK or data) record the flow reversed, as a new flow
		 * of an unisolated egress, and the denied direction then passed as its REPLY (a TCP stream
		 * survived a denying policy: test/lab/netpol-traffic.test.ts). GC ages them out. */
		return;
	}
	/* this CPU's copies of the two entries (lib/lookups.h) do not outlive the rewrite; another CPU's
	 * copy can only differ in REPLY vs ESTABLISHED (both admit), for at most PW_CT_CACHE_NS */
	slot = pw_ct_cache_slot(&fwd);
	c = bpf_map_lookup_elem(&ct_cache, &slot);
	if (c)
		c->key.kind = PW_CT_NONE;
	slot = pw_ct_cache_slot(&rev);
	c = bpf_map_lookup_elem(&ct_cache, &slot);
	if (c)
		c->key.kind = PW_CT_NONE;
	now = bpf_ktime_get_coarse_ns();
	st = bpf_map_lookup_elem(&pol_state, &zero);
	n.last_seen_ns = now;
	n.created_ns = now;
	n.origin = origin;
	n.ifindex = p->ifindex;
	n.revision = st ? st->revision : 0;
	/* the flow's first direction has no REPLY flag; a re-judged reply keeps its reversed roles; a
	 * flow of unknown direction stays BOTHWAYS */
	n.flags = (v->pol_reply == 1 ? PW_CT_F_REPLY : 0) | (v->pol_reply == 2 ? PW_CT_F_BOTHWAYS : 0);
	bpf_map_update_elem(&ct, &fwd, &n, BPF_ANY);
	n.flags = (v->pol_reply == 1 ? 0 : PW_CT_F_REPLY) | (v->pol_reply == 2 ? PW_CT_F_BOTHWAYS : 0);
	bpf_map_update_elem(&ct, &rev, &n, BPF_ANY);
}

#endif /* PODWIRE_CONNTRACK_H */
