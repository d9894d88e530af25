/* decide.h — the same-node forwarding decision, shared verbatim by the BPF programs and the
 * WebAssembly twin (podwire trace, differential tests).
 *
 * Contract:
 *  - No system headers, no #ifdef, no memcpy/memset, no kernel helpers: only lib/common.h.
 *  - Map access goes through lookup prototypes declared here and DEFINED BY THE INCLUDER after
 *    the #include (bpf_map_lookup_elem in BPF; an imported host function in wasm). They are
 *    static + always_inline because the verifier rejects global lookup functions.
 *  - pw_parse() reads a linear buffer [data, data_end) whose full packet length is len; the
 *    caller guarantees the Ethernet + IPv4 base header is linear when the packet has one.
 *  - pw_decide() fills every field of the verdict; it never writes the packet. Applying the
 *    verdict (MAC/TTL/checksum writes, redirect, counting) is the includer's job.
 */
#ifndef PODWIRE_DECIDE_H
#define PODWIRE_DECIDE_H

#include "common.h"

/* Endpoint on this node for an address, or 0. Defined by the includer. */
static inline __attribute__((always_inline)) const struct pw_endpoint *
pw_lookup_endpoint(const struct pw_endpoint_key *key);

static inline __attribute__((always_inline)) void pw_ipv4_key(struct pw_endpoint_key *k, __be32 addr)
{
	/* every byte is set: the hash compares padding too */
	k->addr[0] = addr;
	k->addr[1] = 0;
	k->addr[2] = 0;
	k->addr[3] = 0;
	k->family = PW_AF_INET;
	k->pad[0] = 0;
	k->pad[1] = 0;
	k->pad[2] = 0;
}

static inline __attribute__((always_inline)) int pw_mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] &&
	       a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}

static inline __attribute__((always_inline)) void pw_mac_copy(__u8 *dst, const __u8 *src)
{
	/* byte copies instead of memcpy: wasm32 -nostdlib has no memcpy */
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
	dst[4] = src[4];
	dst[5] = src[5];
}

/* Addresses are assembled so that their in-memory bytes equal the packet bytes (network
 * order); correct because both targets (bpfel, wasm32) are little-endian. */
static inline __attribute__((always_inline)) __be32 pw_load_be32(const __u8 *p)
{
	return (__be32)((__u32)p[0] | (__u32)p[1] << 8 | (__u32)p[2] << 16 | (__u32)p[3] << 24);
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for the 16-bit word holding TTL and protocol. */
static inline __attribute__((always_inline)) __u16 pw_csum_replace16(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u32)(__u16)~check + (__u32)(__u16)~old + (__u32)new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static inline __attribute__((always_inline)) void
pw_parse(const __u8 *data, const __u8 *data_end, __u32 len, __u32 ifindex, struct pw_pkt *p)
{
	__u16 proto;
	__u32 ihl_bytes, tot_len;
	const __u8 *ip;
	int i;

	p->ifindex = ifindex;
	p->len = len;
	p->l3 = PW_L3_MALFORMED;
	p->saddr = 0;
	p->daddr = 0;
	p->ttl = 0;
	p->protocol = 0;
	p->check = 0;
	p->pad[0] = 0;
	p->pad[1] = 0;
	for (i = 0; i < 6; i++) {
		p->dmac[i] = 0;
		p->smac[i] = 0;
	}

	/* verifier: every packet read must follow a pointer comparison with data_end */
	if (data + PW_ETH_HLEN > data_end)
		return;
	pw_mac_copy(p->dmac, data);
	pw_mac_copy(p->smac, data + 6);
	proto = (__u16)(data[12] << 8 | data[13]);

	if (proto == PW_ETH_P_ARP) {
		p->l3 = PW_L3_ARP;
		return;
	}
	if (proto != PW_ETH_P_IP) {
		p->l3 = PW_L3_OTHER;
		return;
	}

	ip = data + PW_ETH_HLEN;
	if (ip + PW_IPV4_MIN_HLEN > data_end)
		return; /* truncated base header */
	if ((ip[0] >> 4) != 4)
		return;
	ihl_bytes = (__u32)(ip[0] & 0x0f) * 4;
	if (ihl_bytes < PW_IPV4_MIN_HLEN)
		return;
	/* verifier: options are never read, so their presence is checked against the packet length
	 * only, which avoids a variable-offset packet access the verifier would have to bound */
	if (PW_ETH_HLEN + ihl_bytes > len)
		return;
	tot_len = (__u32)ip[2] << 8 | ip[3];
	/* tot_len 0 is IPv4 BIG TCP (GSO packets above 64 KiB): the length lives in skb->len */
	if (tot_len != 0 && (tot_len < ihl_bytes || tot_len > len - PW_ETH_HLEN))
		return;

	p->ttl = ip[8];
	p->protocol = ip[9];
	p->check = (__u16)(ip[10] << 8 | ip[11]);
	p->saddr = pw_load_be32(ip + 12);
	p->daddr = pw_load_be32(ip + 16);
	p->l3 = PW_L3_IPV4;
}

static inline __attribute__((always_inline)) void
pw_verdict_init(struct pw_verdict *v, __u32 action, __u32 reason)
{
	int i;

	v->action = action;
	v->reason = reason;
	v->ifindex = 0;
	for (i = 0; i < 6; i++) {
		v->dmac[i] = 0;
		v->smac[i] = 0;
	}
	v->ttl = 0;
	v->pad = 0;
	v->check = 0;
}

/* from_pod: a packet leaving a pod, seen on the host side of its veth. */
static inline __attribute__((always_inline)) void pw_decide_from_pod(const struct pw_pkt *p, struct pw_verdict *v)
{
	struct pw_endpoint_key key;
	const struct pw_endpoint *src, *dst;

	switch (p->l3) {
	case PW_L3_IPV4:
		break;
	case PW_L3_ARP:
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_ARP);
		return;
	case PW_L3_OTHER:
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_NON_IP);
		return;
	default:
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_MALFORMED);
		return;
	}

	/* anti-spoofing: the source must be an endpoint, on this very veth, with its own MAC */
	pw_ipv4_key(&key, p->saddr);
	src = pw_lookup_endpoint(&key);
	if (!src) {
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_SPOOFED_SRC_IP);
		return;
	}
	if (src->ifindex != p->ifindex) {
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_SPOOFED_SRC_IFINDEX);
		return;
	}
	if (!pw_mac_eq(src->pod_mac, p->smac)) {
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_SPOOFED_SRC_MAC);
		return;
	}

	pw_ipv4_key(&key, p->daddr);
	dst = pw_lookup_endpoint(&key);
	if (!dst) {
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_MISS);
		return;
	}
	/* we are a routing hop; a packet that would leave with TTL 0 dies here */
	if (p->ttl <= 1) {
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_TTL_EXCEEDED);
		return;
	}

	pw_verdict_init(v, PW_ACT_REDIRECT_PEER, PW_REASON_FWD_LOCAL_PEER);
	v->ifindex = dst->ifindex;
	pw_mac_copy(v->dmac, dst->pod_mac);
	pw_mac_copy(v->smac, dst->host_mac);
	v->ttl = (__u8)(p->ttl - 1);
	v->check = pw_csum_replace16(p->check, (__u16)(p->ttl << 8 | p->protocol),
				     (__u16)(v->ttl << 8 | p->protocol));
}

#endif /* PODWIRE_DECIDE_H */
