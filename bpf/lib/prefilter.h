/* prefilter.h — the XDP prefilter's parse and decision (xdp_prefilter.c): is the source address
 * listed in the prefilter map, and if so, is the packet failsafe traffic that must pass anyway?
 *
 * Contract: reads only the first bytes of the frame (Ethernet, IPv4, the L4 ports); writes
 * nothing. Returns the reason and sets *action: PW_REASON_UNSPEC + PASS for everything that is
 * not a listed IPv4 source (ARP, IPv6, truncated frames included: from_uplink and the stack judge
 * those), PASS_PREFILTER_FAILSAFE + PASS or DROP_PREFILTER + DROP for a listed one.
 * BPF only: needs <linux/bpf.h>, <bpf/bpf_helpers.h>, <bpf/bpf_endian.h> and lib/maps.h first.
 */
#ifndef PODWIRE_PREFILTER_H
#define PODWIRE_PREFILTER_H

#include "common.h"
#include "maps.h"

struct pw_pf_pkt {
	__be32 saddr;
	__be16 sport;    /* 0 when the packet has no ports (not TCP/UDP, a fragment, truncated) */
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* 1 when the frame is IPv4 with a whole base header (p filled), 0 otherwise. */
static __always_inline int pw_pf_parse(void *data, void *end, struct pw_pf_pkt *p)
{
	__u8 *eth = data;

	if ((void *)(eth + PW_ETH_HLEN + PW_IPV4_MIN_HLEN) > end)
		return 0;
	if (*(__be16 *)(eth + 12) != bpf_htons(PW_ETH_P_IP))
		return 0;
	__u8 *ip = eth + PW_ETH_HLEN;
	if ((ip[0] >> 4) != 4)
		return 0;
	__u32 ihl = (ip[0] & 0x0f) * 4;

	if (ihl < PW_IPV4_MIN_HLEN)
		return 0;
	p->saddr = *(__be32 *)(ip + 12);
	p->proto = ip[9];
	p->sport = 0;
	p->dport = 0;
	/* MF set or a non-zero offset: a fragment, no (complete) L4 header to read */
	if (*(__be16 *)(ip + 6) & bpf_htons(0x3fff))
		return 1;
	if (p->proto != PW_IPPROTO_TCP && p->proto != PW_IPPROTO_UDP)
		return 1;
	/* verifier: ihl is bounded (<= 60) by the mask above, so ip + ihl + 4 is a checkable range */
	__u8 *l4 = ip + ihl;

	if ((void *)(l4 + 4) > end)
		return 1;
	p->sport = *(__be16 *)l4;
	p->dport = *(__be16 *)(l4 + 2);
	return 1;
}

static __always_inline int pw_pf_safe(__be32 addr, __be16 port, __u8 proto, __u8 kind)
{
	struct pw_failsafe_key k = { .addr = addr, .port = port, .proto = proto, .kind = kind };

	return bpf_map_lookup_elem(&prefilter_safe, &k) != NULL;
}

static __always_inline __u32 pw_prefilter_decide(const struct pw_pf_pkt *p, __u32 *action)
{
	struct pw_prefilter_key k = { .prefixlen = 32, .addr = p->saddr };

	*action = PW_ACT_PASS;
	/* the common case: one LPM lookup and out, nothing counted (from_uplink counts it) */
	if (!bpf_map_lookup_elem(&prefilter, &k))
		return PW_REASON_UNSPEC;
	if (pw_pf_safe(p->saddr, 0, 0, PW_FAILSAFE_SRC_ADDR))
		return PW_REASON_PASS_PREFILTER_FAILSAFE;
	if (p->sport != 0 && pw_pf_safe(p->saddr, p->sport, p->proto, PW_FAILSAFE_SRC_PORT))
		return PW_REASON_PASS_PREFILTER_FAILSAFE;
	if (p->dport != 0 && pw_pf_safe(0, p->dport, p->proto, PW_FAILSAFE_DST_PORT))
		return PW_REASON_PASS_PREFILTER_FAILSAFE;
	*action = PW_ACT_DROP;
	return PW_REASON_DROP_PREFILTER;
}

#endif /* PODWIRE_PREFILTER_H */
