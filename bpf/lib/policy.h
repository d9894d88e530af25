/* policy.h — Kubernetes NetworkPolicy in the datapath: the judgement, shared verbatim by the BPF
 * programs and the WebAssembly twin (included by lib/decide.h; same rules: no system headers, map
 * access only through the lookup prototypes below, defined by the includer).
 *
 * Contract (the agent's compiler, src/policy/, fills the maps to match):
 *  - A local pod is isolated for a direction when pw_endpoint.flags says so; its rulesets are in
 *    pol_endpoints. Pods with no isolation bit pay one flag test; flows of isolated pods are
 *    tracked in the ct map as PW_CT_FLOW pairs (forward + REPLY), so replies are admitted and an
 *    admitted flow costs at most one hash lookup per packet (lib/lookups.h keeps per-CPU copies).
 *  - A ruleset is a list of up to PW_POL_SLOTS rule slots. pol_ports maps (ruleset, proto, port) to
 *    the slots whose ports admit it; each slot names one set of peers (pol_sets: pod /32s and
 *    ipBlock CIDRs with excepts as longer include = 0 prefixes) or any peer. A packet is admitted
 *    when some slot admits both its port and its peer: a union, as the API defines it.
 *  - Ingress is judged where a packet is delivered into a local pod (from_pod same node,
 *    from_uplink/from_vxlan, to_pod for what the stack delivers), on the post-DNAT addresses.
 *    Egress is judged where a local pod's packet is first seen (from_pod) — except to a Service
 *    address (svc_addrs), which is DEFERRED to where the stack sends the DNATed packet: to_pod for a
 *    local backend, to_uplink for a remote one.
 *  - Ingress from this node's own addresses (set PW_POL_SET_HOST: kubelet probes) is admitted.
 *  - Flow entries carry the pol_state revision that admitted them; after a policy change the
 *    next packet of every tracked flow is judged again (in its original direction), so a policy
 *    that now denies an established connection cuts it (what Cilium does; Calico keeps it).
 *  - Fragments and IP options carry no usable ports: they are judged with port 0 (only rules
 *    without ports admit them) and nothing is recorded. ICMP errors are the stack's (related).
 *  - A flow without an entry is judged the way its packet travels, except where that is unknown or
 *    wrong: a TCP segment that is not a bare SYN (its connection started before tracking) must be
 *    admitted both ways; an ICMP echo reply is judged as its request. A UDP flow already running
 *    when its pod became isolated is judged from the first packet seen (no handshake to tell).
 */
#ifndef PODWIRE_POLICY_H
#define PODWIRE_POLICY_H

#include "common.h"

/* lib/decide.h includes this file after pw_lookup_ct(), pw_ipv4_key() and pw_verdict_init(). */

static inline __attribute__((always_inline)) const struct pw_pol_state *pw_lookup_pol_state(void);
static inline __attribute__((always_inline)) const struct pw_pol_endpoint *
pw_lookup_pol_endpoint(const struct pw_endpoint_key *key);
static inline __attribute__((always_inline)) const struct pw_pol_ports *
pw_lookup_pol_ports(const struct pw_pol_port_key *key);
static inline __attribute__((always_inline)) const struct pw_pol_slot *
pw_lookup_pol_slot(const struct pw_pol_slot_key *key);
static inline __attribute__((always_inline)) const struct pw_pol_member *
pw_lookup_pol_set(const struct pw_pol_set_key *key);
/* Non-zero when addr is a Service address (ClusterIP, external/LB IP) kube-proxy DNATs. */
static inline __attribute__((always_inline)) const __u32 *pw_lookup_svc_addr(const __be32 *addr);

static inline __attribute__((always_inline)) void pw_pol_clear(struct pw_verdict *v)
{
	v->pol_ruleset_in = 0;
	v->pol_ruleset_eg = 0;
	v->pol_slot_in = PW_POL_SLOT_NONE;
	v->pol_slot_eg = PW_POL_SLOT_NONE;
	v->pol_step = PW_POL_NONE;
	v->pol_reply = 0;
	v->pol_ifindex_in = 0;
	v->pol_ifindex_eg = 0;
}

static inline __attribute__((always_inline)) int pw_pol_tracked(const struct pw_endpoint *ep)
{
	return ep && (ep->flags & (PW_EP_F_INGRESS_ISOLATED | PW_EP_F_EGRESS_ISOLATED));
}

/* The ct key of a FLOW entry for a packet travelling saddr:sport -> daddr:dport (every byte). */
static inline __attribute__((always_inline)) void
pw_ct_flow_key(struct pw_ct_key *k, __be32 saddr, __be32 daddr, __be16 sport, __be16 dport, __u8 proto)
{
	k->addr = saddr;
	k->peer = daddr;
	k->port = sport;
	k->peer_port = dport;
	k->proto = proto;
	k->kind = PW_CT_FLOW;
	k->pad[0] = 0;
	k->pad[1] = 0;
}

/* The slot of ruleset rs admitting peer on proto/port, PW_POL_SLOT_DENY when none does.
 * verifier: a GLOBAL function (weak: every program's object carries it and the linker keeps one)
 * is verified once, on its own, with scalar arguments; inlined into each call site of every path
 * the slot loop made from_pod exceed the verifier's 1M-instruction budget. Only reached on a
 * flow's first packet. */
__attribute__((weak, noinline)) __u32 pw_pol_match(__u32 rs, __be32 peer, __u32 proto, __u32 port)
{
	struct pw_pol_port_key pk;
	struct pw_pol_slot_key sk;
	struct pw_pol_set_key mk;
	const struct pw_pol_ports *pp;
	const struct pw_pol_slot *s;
	const struct pw_pol_member *m;
	__u64 bits;
	__u32 i;

	pk.prefixlen = 64;
	pk.ruleset = rs;
	pk.proto = (__u8)proto;
	pk.pad = 0;
	pk.port = (__be16)port;
	pp = pw_lookup_pol_ports(&pk);
	if (!pp)
		return PW_POL_SLOT_DENY;
	bits = pp->slots;
	/* verifier: a constant bound; the early exit keeps the usual one or two slots cheap */
	for (i = 0; i < PW_POL_SLOTS; i++) {
		if (!bits)
			break;
		if (!(bits & 1)) {
			bits >>= 1;
			continue;
		}
		bits >>= 1;
		sk.ruleset = rs;
		sk.slot = i;
		s = pw_lookup_pol_slot(&sk);
		if (!s)
			continue;
		if (s->flags & PW_POL_SLOT_F_ANY_PEER)
			return i;
		mk.prefixlen = 64;
		mk.set = s->set;
		mk.addr = peer;
		m = pw_lookup_pol_set(&mk);
		if (m && m->include)
			return i;
	}
	return PW_POL_SLOT_DENY;
}

/* Ingress into the isolated pod with ruleset rs from peer: this node's addresses always pass. */
static inline __attribute__((always_inline)) __u8
pw_pol_ingress(__u32 rs, __be32 peer, __u8 proto, __be16 port)
{
	struct pw_pol_set_key mk;
	const struct pw_pol_member *m;

	mk.prefixlen = 64;
	mk.set = PW_POL_SET_HOST;
	mk.addr = peer;
	m = pw_lookup_pol_set(&mk);
	if (m && m->include)
		return PW_POL_SLOT_HOST;
	return (__u8)pw_pol_match(rs, peer, proto, port);
}

/* Judge the flow saddr:sport -> daddr:dport (its ORIGINAL direction) for the local endpoints at its
 * ends (src_ep/dst_ep, 0 for remote or unknown): egress of the source unless deferred, ingress of
 * the destination. Fills v->pol_*; returns 0 when some isolated direction admits nothing. */
static inline __attribute__((always_inline)) int
pw_pol_judge(__be32 saddr, __be32 daddr, __be16 dport, __u8 proto, const struct pw_endpoint *src_ep,
	     const struct pw_endpoint *dst_ep, int defer_egress, struct pw_verdict *v)
{
	struct pw_endpoint_key key;
	const struct pw_pol_endpoint *pe;
	int ok = 1;

	if (src_ep && (src_ep->flags & PW_EP_F_EGRESS_ISOLATED) && !defer_egress) {
		pw_ipv4_key(&key, saddr);
		pe = pw_lookup_pol_endpoint(&key);
		v->pol_ifindex_eg = src_ep->ifindex;
		v->pol_ruleset_eg = pe ? pe->egress : 0;
		/* isolated without a ruleset (the agent is between writes): nothing admits */
		v->pol_slot_eg = v->pol_ruleset_eg ? (__u8)pw_pol_match(v->pol_ruleset_eg, daddr, proto, dport) : PW_POL_SLOT_DENY;
		if (v->pol_slot_eg == PW_POL_SLOT_DENY)
			ok = 0;
	}
	if (dst_ep && (dst_ep->flags & PW_EP_F_INGRESS_ISOLATED)) {
		pw_ipv4_key(&key, daddr);
		pe = pw_lookup_pol_endpoint(&key);
		v->pol_ifindex_in = dst_ep->ifindex;
		v->pol_ruleset_in = pe ? pe->ingress : 0;
		v->pol_slot_in = v->pol_ruleset_in ? pw_pol_ingress(v->pol_ruleset_in, saddr, proto, dport) : PW_POL_SLOT_DENY;
		if (v->pol_slot_in == PW_POL_SLOT_DENY)
			ok = 0;
	}
	return ok;
}

/* to_uplink has nothing to judge while no local pod is isolated for egress: it returns before
 * parsing (one array lookup on every packet leaving the node). */
static inline __attribute__((always_inline)) int pw_pol_egress_idle(void)
{
	const struct pw_pol_state *st = pw_lookup_pol_state();

	return !st || st->egress_isolated == 0;
}

/* Egress to a Service address is judged after DNAT (to_pod / to_uplink): only looked up for a
 * source isolated for egress whose packet goes to the stack. */
static inline __attribute__((always_inline)) int pw_pol_defer(const struct pw_endpoint *src_ep, __be32 daddr)
{
	return src_ep && (src_ep->flags & PW_EP_F_EGRESS_ISOLATED) && pw_lookup_svc_addr(&daddr) != 0;
}

/* The policy step for a packet that is about to be delivered or sent (v holds a forward or pass
 * verdict): src_ep/dst_ep are the LOCAL endpoints of its source/destination (0 otherwise),
 * defer_egress says the destination is a Service address. Leaves v as it was when admitted (and
 * sets pol_step for the includer to record or refresh the flow), or turns it into a drop. */
static inline __attribute__((always_inline)) void
pw_policy(const struct pw_pkt *p, const struct pw_endpoint *src_ep, const struct pw_endpoint *dst_ep,
	  int defer_egress, struct pw_verdict *v)
{
	struct pw_ct_key k;
	const struct pw_ct_entry *e;
	const struct pw_pol_state *st;
	__u32 rev;
	__be16 sport = 0, dport = 0;
	int ok;

	if (!pw_pol_tracked(src_ep) && !pw_pol_tracked(dst_ep))
		return;
	if (p->l3 != PW_L3_IPV4 || p->l4 == PW_L4_ICMP_ERROR)
		return; /* related to a flow the stack tracks; it relates or drops it */
	if (p->l4 == PW_L4_PORTS || p->l4 == PW_L4_ICMP_ECHO) {
		sport = p->sport;
		dport = p->dport;
	}
	if (p->l4 == PW_L4_FRAGMENT || p->l4 == PW_L4_OPTIONS) {
		ok = pw_pol_judge(p->saddr, p->daddr, 0, p->protocol, src_ep, dst_ep, defer_egress, v);
		v->pol_step = ok ? PW_POL_UNTRACKED : PW_POL_DENIED;
	} else {
		st = pw_lookup_pol_state();
		rev = st ? st->revision : 0;
		pw_ct_flow_key(&k, p->saddr, p->daddr, sport, dport, p->protocol);
		e = pw_lookup_ct(&k);
		if (e && e->revision == rev) {
			v->pol_step = (e->flags & PW_CT_F_REPLY) ? PW_POL_REPLY : PW_POL_ESTABLISHED;
			return;
		}
		/* ICMP echo: the id is both "ports"; a rule's port never matches ICMP (port 0 below) */
		if (p->l4 == PW_L4_ICMP_ECHO || p->l4 == PW_L4_OTHER)
			dport = 0;
		v->pol_reply = (e && (e->flags & PW_CT_F_REPLY)) ? 1 : 0;
		if (!e && p->protocol == PW_IPPROTO_ICMP && p->l4 == PW_L4_ICMP_ECHO && p->l4_flags == 0)
			/* an echo reply whose request podwire never saw (the pod became isolated meanwhile, or
			 * the entry was lost): the flow started the other way */
			v->pol_reply = 1;
		if ((e && (e->flags & PW_CT_F_BOTHWAYS)) ||
		    (!e && p->protocol == PW_IPPROTO_TCP && p->l4 == PW_L4_PORTS &&
		     (p->l4_flags & (PW_TCP_SYN | PW_TCP_ACK)) != PW_TCP_SYN)) {
			/* a TCP segment of a connection whose SYN podwire never saw (it was open before the pod
			 * became isolated, or its entry was lost), or such a flow judged again: which side
			 * started it is unknown, so it must be admitted both ways, now and at every re-judgement
			 * (the entries keep PW_CT_F_BOTHWAYS) — else a server's first packet would record a
			 * denied client's flow as the server's own, and the client's data would pass as its reply */
			v->pol_reply = 2;
			ok = pw_pol_judge(p->saddr, p->daddr, dport, p->protocol, src_ep, dst_ep, defer_egress, v) &&
			     pw_pol_judge(p->daddr, p->saddr, sport, p->protocol, dst_ep, src_ep, 0, v);
		} else if (v->pol_reply) {
			/* a reply: the flow is judged the way it started */
			ok = pw_pol_judge(p->daddr, p->saddr, p->l4 == PW_L4_PORTS ? sport : 0, p->protocol, dst_ep,
					  src_ep, 0, v);
		} else
			ok = pw_pol_judge(p->saddr, p->daddr, dport, p->protocol, src_ep, dst_ep, defer_egress, v);
		if (!ok)
			v->pol_step = PW_POL_DENIED;
		else if (defer_egress && !(e && (e->flags & PW_CT_F_REPLY)) && src_ep &&
			 (src_ep->flags & PW_EP_F_EGRESS_ISOLATED))
			v->pol_step = PW_POL_DEFERRED;
		else
			v->pol_step = e ? PW_POL_RECHECK : PW_POL_NEW;
	}
	if (v->pol_step == PW_POL_DENIED)
		pw_verdict_init(v, PW_ACT_DROP,
				v->pol_slot_eg == PW_POL_SLOT_DENY ? PW_REASON_POLICY_DENIED_EGRESS
								   : PW_REASON_POLICY_DENIED_INGRESS);
}

#endif /* PODWIRE_POLICY_H */
