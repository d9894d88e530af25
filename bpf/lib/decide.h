/* decide.h — the forwarding decisions (same node, cross node, receive side), shared verbatim by the BPF programs and the
 * WebAssembly twin (podwire trace, differential tests).
 *
 * Contract:
 *  - No system headers, no #ifdef, no memcpy/memset, no kernel helpers: only lib/common.h.
 *  - Map access goes through lookup prototypes declared here and DEFINED BY THE INCLUDER after
 *    the #include (bpf_map_lookup_elem in BPF; an imported host function in wasm). They are
 *    static + always_inline because the verifier rejects global lookup functions.
 *  - pw_parse() reads a linear buffer [data, data_end) whose full packet length is len; the
 *    caller guarantees the Ethernet + IPv4 base header and the first 8 bytes of L4 are linear
 *    when the packet has them.
 *  - pw_decide_*() fill every field of the verdict; they never write the packet. Applying the
 *    verdict (MAC/TTL/checksum writes, FIB lookup, tunnel key, redirect, counting) is the
 *    includer's job. The FIB is the kernel's, so it is not a lookup prototype: the includer runs
 *    it for a REDIRECT_NEIGH verdict and feeds the result to pw_verdict_after_fib(), which is
 *    shared too (the wasm twin can feed it a simulated FIB result).
 */
#ifndef PODWIRE_DECIDE_H
#define PODWIRE_DECIDE_H

#include "common.h"

/* Endpoint on this node for an address, or 0. Defined by the includer. */
static inline __attribute__((always_inline)) const struct pw_endpoint *
pw_lookup_endpoint(const struct pw_endpoint_key *key);

/* Longest-prefix route for key->addr (key->prefixlen = 32), or 0. Defined by the includer. */
static inline __attribute__((always_inline)) const struct pw_route *
pw_lookup_route(const struct pw_route_key *key);

/* This node's configuration (node_cfg[0]), or 0. Defined by the includer. */
static inline __attribute__((always_inline)) const struct pw_node_cfg *
pw_lookup_node_cfg(void);

/* Conntrack entry for a key, or 0. Defined by the includer. */
static inline __attribute__((always_inline)) const struct pw_ct_entry *
pw_lookup_ct(const struct pw_ct_key *key);

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

static inline __attribute__((always_inline)) __be16 pw_load_be16(const __u8 *p)
{
	return (__be16)((__u16)p[0] | (__u16)p[1] << 8);
}

/* The L4 facts of a well-formed IPv4 packet whose header starts at ip (ihl_bytes long, tot_len
 * from the header or 0 for BIG TCP): fragment/options first (no L4 to read then), ports for
 * TCP/UDP, echo id or error class for ICMP. A header cut short by the frame or by tot_len leaves
 * PW_L4_OTHER with ports 0. */
static inline __attribute__((always_inline)) void
pw_parse_l4(const __u8 *ip, const __u8 *data_end, __u32 ihl_bytes, __u32 tot_len, struct pw_pkt *p)
{
	const __u8 *l4 = ip + PW_IPV4_MIN_HLEN;
	__u8 type;

	if ((ip[6] & 0x3f) != 0 || ip[7] != 0) {
		/* MF (0x20) or a fragment offset: DF (0x40) alone is a whole packet */
		p->l4 = PW_L4_FRAGMENT;
		return;
	}
	if (ihl_bytes != PW_IPV4_MIN_HLEN) {
		p->l4 = PW_L4_OPTIONS;
		return;
	}
	/* verifier: fixed offset (no options), bounded by data_end */
	if (l4 + PW_L4_HDR_MIN > data_end || (tot_len != 0 && tot_len < PW_IPV4_MIN_HLEN + PW_L4_HDR_MIN))
		return;
	if (p->protocol == PW_IPPROTO_TCP || p->protocol == PW_IPPROTO_UDP || p->protocol == PW_IPPROTO_SCTP) {
		p->l4 = PW_L4_PORTS;
		p->sport = pw_load_be16(l4);
		p->dport = pw_load_be16(l4 + 2);
		/* verifier: a second fixed-offset bound for the flags byte; a cut header leaves 0 */
		if (p->protocol == PW_IPPROTO_TCP && l4 + PW_TCP_FLAGS_END <= data_end &&
		    (tot_len == 0 || tot_len >= PW_IPV4_MIN_HLEN + PW_TCP_FLAGS_END))
			p->l4_flags = l4[13];
		return;
	}
	if (p->protocol != PW_IPPROTO_ICMP)
		return;
	type = l4[0];
	p->l4_flags = type;
	if (type == 0 || type == 8) {
		/* echo reply / request: the id names the flow in both directions, as conntrack does */
		p->l4 = PW_L4_ICMP_ECHO;
		p->sport = pw_load_be16(l4 + 4);
		p->dport = p->sport;
	} else if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12) {
		p->l4 = PW_L4_ICMP_ERROR;
	}
}

/* Parse [data, data_end) (linear part of a frame of len bytes that arrived on ifindex; gso: the
 * skb is a GSO aggregate). Never reads past data_end; only a well-formed IPv4 header yields
 * PW_L3_IPV4. */
static inline __attribute__((always_inline)) void
pw_parse(const __u8 *data, const __u8 *data_end, __u32 len, __u32 ifindex, __u32 gso, struct pw_pkt *p)
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
	p->tos = 0;
	p->l4 = PW_L4_OTHER;
	p->sport = 0;
	p->dport = 0;
	p->gso = gso ? 1 : 0;
	p->l4_flags = 0;
	for (i = 0; i < 2; i++)
		p->pad[i] = 0;
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
	if (proto == PW_ETH_P_IPV6) {
		p->l3 = PW_L3_IPV6;
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
	/* tot_len 0 is valid only for IPv4 BIG TCP: a GSO aggregate above 64 KiB whose length lives in
	 * skb->len. On any other skb it is a malformed header (a receiver would drop it). */
	if (tot_len == 0 && !gso)
		return;
	if (tot_len != 0 && (tot_len < ihl_bytes || tot_len > len - PW_ETH_HLEN))
		return;

	p->tos = ip[1];
	p->ttl = ip[8];
	p->protocol = ip[9];
	p->check = (__u16)(ip[10] << 8 | ip[11]);
	p->saddr = pw_load_be32(ip + 12);
	p->daddr = pw_load_be32(ip + 16);
	p->l3 = PW_L3_IPV4;
	pw_parse_l4(ip, data_end, ihl_bytes, tot_len, p);
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
	v->limits = 0;
	v->check = 0;
	v->nh_addr = 0;
	v->tunnel_id = 0;
}

/* We are a routing hop: the new TTL and the header checksum that goes with it. */
static inline __attribute__((always_inline)) void pw_verdict_ttl(const struct pw_pkt *p, struct pw_verdict *v)
{
	v->ttl = (__u8)(p->ttl - 1);
	v->check = pw_csum_replace16(p->check, (__u16)(p->ttl << 8 | p->protocol),
				     (__u16)(v->ttl << 8 | p->protocol));
}

/* Deliver into a local pod: the destination's MACs, TTL-1. Caller checked ttl > 1. */
static inline __attribute__((always_inline)) void
pw_verdict_local(const struct pw_pkt *p, const struct pw_endpoint *dst, struct pw_verdict *v)
{
	pw_verdict_init(v, PW_ACT_REDIRECT_PEER, PW_REASON_FWD_LOCAL_PEER);
	v->ifindex = dst->ifindex;
	pw_mac_copy(v->dmac, dst->pod_mac);
	pw_mac_copy(v->smac, dst->host_mac);
	pw_verdict_ttl(p, v);
}

#include "policy.h"

/* The conntrack key of a PW_CT_STACK entry for addr:port/proto (every byte written). */
static inline __attribute__((always_inline)) void
pw_ct_stack_key(struct pw_ct_key *k, __be32 addr, __be16 port, __u8 proto)
{
	k->addr = addr;
	k->peer = 0;
	k->port = port;
	k->peer_port = 0;
	k->proto = proto;
	k->kind = PW_CT_STACK;
	k->pad[0] = 0;
	k->pad[1] = 0;
}

/* The fast path forwards only packets it fully understands and that no state in the node's stack
 * claims; everything else is handed to the stack, which owns reassembly, options, ICMP errors and
 * NAT. Runs on a forward verdict only, so drops (dead local address, TTL) and passes keep their
 * reasons. A hit means the destination addr:port initiated a flow through the stack (a client
 * behind a Service/NodePort/hostPort DNAT or MASQUERADE): this packet is that flow's reply and
 * only the stack's conntrack can un-NAT it. */
static inline __attribute__((always_inline)) void pw_fast_path_or_stack(const struct pw_pkt *p, struct pw_verdict *v)
{
	struct pw_ct_key k;

	if (v->action == PW_ACT_PASS || v->action == PW_ACT_DROP)
		return;
	if (p->l4 == PW_L4_FRAGMENT) {
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_FRAGMENT);
		return;
	}
	if (p->l4 == PW_L4_OPTIONS) {
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_IP_OPTIONS);
		return;
	}
	if (p->l4 == PW_L4_ICMP_ERROR) {
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_ICMP_ERROR);
		return;
	}
	pw_ct_stack_key(&k, p->daddr, p->dport, p->protocol);
	if (pw_lookup_ct(&k))
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_NAT_REPLY);
}

/* A pod's packet to a non-pod address (the routes map missed): if that address:port reached this
 * pod straight from the uplink or the tunnel (ct origin FROM_NODE: another node's host, a NodePort
 * another node forwarded with SNAT, an outside client routed to the pod IP), this is the reply,
 * and it goes back the way the request came — FIB toward the address, redirect_neigh — past this
 * node's stack: its conntrack never saw the request and would drop the reply as INVALID (as
 * kube-proxy's KUBE-FORWARD does). Only complete flow-keyed packets qualify. */
static inline __attribute__((always_inline)) void pw_reply_to_node(const struct pw_pkt *p, struct pw_verdict *v)
{
	struct pw_ct_key k;
	const struct pw_ct_entry *e;

	if (p->l4 != PW_L4_PORTS && p->l4 != PW_L4_ICMP_ECHO)
		return;
	pw_ct_stack_key(&k, p->daddr, p->dport, p->protocol);
	e = pw_lookup_ct(&k);
	if (!e || e->origin != PW_CT_ORIGIN_FROM_NODE)
		return;
	if (p->ttl <= 1) {
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_TTL_EXCEEDED);
		return;
	}
	pw_verdict_init(v, PW_ACT_REDIRECT_NEIGH, PW_REASON_FWD_REPLY_TO_NODE);
	v->nh_addr = p->daddr;
	pw_verdict_ttl(p, v);
}

/* A pod's packet whose destination is no local endpoint: the routes map decides. Not in routes
 * (node IPs, the outside world) -> the host stack. */
static inline __attribute__((always_inline)) void pw_decide_route(const struct pw_pkt *p, struct pw_verdict *v)
{
	struct pw_route_key rk;
	const struct pw_route *rt;
	const struct pw_node_cfg *cfg;

	rk.prefixlen = 32;
	rk.addr = p->daddr;
	rt = pw_lookup_route(&rk);
	if (!rt || (rt->kind != PW_ROUTE_LOCAL && rt->kind != PW_ROUTE_REMOTE)) {
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_MISS);
		return;
	}
	if (rt->kind == PW_ROUTE_LOCAL) {
		/* our own podCIDR without an endpoint: the stack has no better route and would send it
		 * back out of the default route */
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_NO_ENDPOINT);
		return;
	}
	cfg = pw_lookup_node_cfg();
	if (!cfg || (cfg->mode != PW_MODE_NATIVE && cfg->mode != PW_MODE_VXLAN) ||
	    (cfg->mode == PW_MODE_VXLAN && cfg->vxlan_ifindex == 0)) {
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_NO_NODE_CFG);
		return;
	}
	if (p->ttl <= 1) {
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_TTL_EXCEEDED);
		return;
	}
	if (cfg->mode == PW_MODE_NATIVE) {
		/* the egress device and next hop come from the kernel FIB (pw_verdict_after_fib) */
		pw_verdict_init(v, PW_ACT_REDIRECT_NEIGH, PW_REASON_FWD_REMOTE_NATIVE);
	} else if (cfg->flags & PW_NODE_F_VXLAN_BPF) {
		/* encapsulated by the program itself; egress device and next hop from the FIB toward the
		 * node IP (pw_verdict_after_fib), as in native mode */
		pw_verdict_init(v, PW_ACT_ENCAP_NEIGH, PW_REASON_FWD_REMOTE_VXLAN_BPF);
		v->tunnel_id = cfg->vni;
	} else {
		pw_verdict_init(v, PW_ACT_REDIRECT_TUNNEL, PW_REASON_FWD_REMOTE_VXLAN);
		v->ifindex = cfg->vxlan_ifindex;
		v->tunnel_id = cfg->vni;
	}
	v->nh_addr = rt->node_ip;
	pw_verdict_ttl(p, v);
}

/* REDIRECT_NEIGH after the includer ran the FIB lookup for v->nh_addr: SUCCESS and NO_NEIGH both
 * name the egress device and the next hop (redirect_neigh resolves a missing neighbour itself);
 * anything else drops. rc < 0 is a helper error. */
static inline __attribute__((always_inline)) void
pw_verdict_after_fib(struct pw_verdict *v, int rc, __u32 ifindex, __be32 nexthop)
{
	if (rc == PW_FIB_SUCCESS || rc == PW_FIB_NO_NEIGH) {
		v->ifindex = ifindex;
		v->nh_addr = nexthop;
		return;
	}
	if (v->reason == PW_REASON_FWD_REPLY_TO_NODE) {
		/* no direct way back: the stack is still a better try than a drop */
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_MISS);
		return;
	}
	pw_verdict_init(v, PW_ACT_DROP, rc == PW_FIB_FWD_DISABLED ? PW_REASON_DROP_FIB_FWD_DISABLED : PW_REASON_DROP_FIB_FAILED);
}

/* Which bandwidth limits the program must apply to this verdict (lib/bandwidth.h does, with
 * time and per-pod state the decision does not have): the sender's egress limit on anything it
 * sends that is not dropped anyway, the receiver's ingress limit when we redirect into its pod
 * ourselves. Packets handed to the stack for a local pod meet its ingress limit in to_pod. */
static inline __attribute__((always_inline)) void
pw_verdict_limits(struct pw_verdict *v, __u32 src_flags, const struct pw_endpoint *dst)
{
	__u8 limits = (__u8)(src_flags & PW_EP_F_BW_EGRESS);

	if (v->action == PW_ACT_DROP)
		return;
	if (dst && v->action == PW_ACT_REDIRECT_PEER)
		limits |= (__u8)(dst->flags & PW_EP_F_BW_INGRESS);
	v->limits = limits;
}

/* from_pod: a packet leaving a pod, seen on the host side of its veth. */
static inline __attribute__((always_inline)) void pw_decide_from_pod(const struct pw_pkt *p, struct pw_verdict *v)
{
	struct pw_endpoint_key key;
	const struct pw_endpoint *src, *dst;

	pw_pol_clear(v);
	switch (p->l3) {
	case PW_L3_IPV4:
		break;
	case PW_L3_ARP:
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_ARP);
		return;
	case PW_L3_IPV6:
		/* the pod network is IPv4-only (IPv6 is disabled in the pod at ADD): IPv6 would skip
		 * anti-spoofing and reach the node's IPv6 services and routes */
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_IPV6);
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
		pw_decide_route(p, v);
		if (v->reason == PW_REASON_PASS_STACK_MISS)
			pw_reply_to_node(p, v);
		else
			pw_fast_path_or_stack(p, v);
		/* egress only: a remote destination's ingress is its node's to judge */
		if (v->action != PW_ACT_DROP)
			pw_policy(p, src, 0, v->reason == PW_REASON_PASS_STACK_MISS && pw_pol_defer(src, p->daddr), v);
	} else {
		if (p->ttl <= 1)
			/* we are a routing hop; a packet that would leave with TTL 0 dies here */
			pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_TTL_EXCEEDED);
		else
			pw_verdict_local(p, dst, v);
		pw_fast_path_or_stack(p, v);
		/* ingress is judged where the packet is delivered: here for the fast path, in to_pod when
		 * the stack delivers it (after un-NAT) */
		if (v->action == PW_ACT_REDIRECT_PEER)
			pw_policy(p, src, dst, 0, v);
		else if (v->action != PW_ACT_DROP)
			pw_policy(p, src, 0, 0, v);
	}
	/* after policy: a denied packet is charged to no bucket */
	pw_verdict_limits(v, src->flags, dst);
}

/* from_uplink with the BPF VXLAN datapath: is this frame (parsed as p, linear [data, data_end)) a
 * VXLAN packet of this node's tunnel — a whole IPv4/UDP datagram to the node IP and port 8472 whose
 * VXLAN header has the I flag and the node's VNI, with room for the inner Ethernet header? Then its
 * inner frame starts at data + PW_VXLAN_INNER_OFF. Anything else (another VNI, another port, a
 * fragment, IP options) is not ours: the stack (and its VXLAN device) owns it. */
static inline __attribute__((always_inline)) int
pw_vxlan_ours(const struct pw_pkt *p, const __u8 *data, const __u8 *data_end, const struct pw_node_cfg *cfg)
{
	const __u8 *vx = data + PW_VXLAN_HDR_OFF;
	__u32 vni;

	if (!cfg || cfg->mode != PW_MODE_VXLAN || !(cfg->flags & PW_NODE_F_VXLAN_BPF))
		return 0;
	if (p->l3 != PW_L3_IPV4 || p->protocol != PW_IPPROTO_UDP || p->l4 != PW_L4_PORTS)
		return 0;
	if (p->dport != (__be16)((PW_VXLAN_PORT >> 8) | ((PW_VXLAN_PORT & 0xff) << 8)) || p->daddr != cfg->node_ip)
		return 0;
	/* verifier: fixed offsets, bounded by data_end */
	if (data + PW_VXLAN_INNER_OFF + PW_ETH_HLEN > data_end)
		return 0;
	if (vx[0] != 0x08)
		return 0;
	vni = (__u32)vx[4] << 16 | (__u32)vx[5] << 8 | vx[6];
	return vni == cfg->vni;
}

/* from_uplink, our tunnel's inner frame after pw_decide_to_local(): a delivery the program must
 * not decapsulate itself goes to the VXLAN device instead. bpf_skb_adjust_room() cannot clear a
 * GSO aggregate's tunnel state on 6.18 (no BPF_F_ADJ_ROOM_DECAP_L4_UDP): a TCP aggregate is
 * consumed whole by the pod's TCP and survives that, a UDP GSO aggregate is segmented at the
 * socket as if still tunnelled and is lost. */
static inline __attribute__((always_inline)) void pw_vxlan_decap_gate(const struct pw_pkt *p, struct pw_verdict *v)
{
	if (v->action == PW_ACT_REDIRECT_PEER && p->gso && p->protocol != PW_IPPROTO_TCP) {
		pw_pol_clear(v);
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_TUNNEL_GSO);
	}
}

/* from_uplink / from_vxlan: a packet arriving at this node from the underlay (natively routed)
 * or out of the tunnel. A local endpoint as destination is delivered into its pod; everything
 * else belongs to the host (its own traffic, ARP, other protocols) and is passed, never dropped,
 * except a dead address inside our own podCIDR. No anti-spoofing here: sources are remote. */
static inline __attribute__((always_inline)) void pw_decide_to_local(const struct pw_pkt *p, struct pw_verdict *v)
{
	struct pw_endpoint_key key;
	struct pw_route_key rk;
	const struct pw_endpoint *dst;
	const struct pw_route *rt;

	pw_pol_clear(v);
	switch (p->l3) {
	case PW_L3_IPV4:
		break;
	case PW_L3_ARP:
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_ARP);
		return;
	case PW_L3_IPV6:
	case PW_L3_OTHER:
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_NON_IP);
		return;
	default:
		pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_UNPARSED);
		return;
	}

	pw_ipv4_key(&key, p->daddr);
	dst = pw_lookup_endpoint(&key);
	if (!dst) {
		rk.prefixlen = 32;
		rk.addr = p->daddr;
		rt = pw_lookup_route(&rk);
		if (rt && rt->kind == PW_ROUTE_LOCAL)
			pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_NO_ENDPOINT);
		else
			pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_MISS);
		return;
	}
	if (p->ttl <= 1) {
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_TTL_EXCEEDED);
		return;
	}
	pw_verdict_local(p, dst, v);
	pw_fast_path_or_stack(p, v);
	/* a pass goes through the stack, and to_pod judges what it delivers */
	if (v->action == PW_ACT_REDIRECT_PEER)
		pw_policy(p, 0, dst, 0, v);
	pw_verdict_limits(v, 0, dst);
}

/* to_pod: the node's stack delivers a packet into a local pod (host veth egress) — a Service or
 * NodePort backend after DNAT, a NAT reply after un-NAT, the node itself, anything the fast path
 * handed to the stack. Only policy can drop it (reason POLICY_DENIED_*); admitted packets keep the
 * PASS action with reason UNSPEC (to_pod counts drops only: the packet was counted where it
 * entered). Egress of a local source is judged too: a Service's DNAT happened after from_pod. */
static inline __attribute__((always_inline)) void pw_decide_to_pod(const struct pw_pkt *p, struct pw_verdict *v)
{
	struct pw_endpoint_key key;
	const struct pw_endpoint *src, *dst;

	pw_pol_clear(v);
	pw_verdict_init(v, PW_ACT_PASS, PW_REASON_UNSPEC);
	if (p->l3 != PW_L3_IPV4)
		return;
	pw_ipv4_key(&key, p->daddr);
	dst = pw_lookup_endpoint(&key);
	pw_ipv4_key(&key, p->saddr);
	src = pw_lookup_endpoint(&key);
	pw_policy(p, src, dst, 0, v);
}

/* to_uplink: a packet leaving the node toward other nodes (uplink egress in native mode, the
 * VXLAN device's egress in vxlan mode). The fast path's own packets pass on their flow entry; what
 * the stack routes (a Service DNATed to a remote backend) is judged for its local source's egress.
 * Same verdict convention as to_pod. The includer returns early while no local pod is isolated for
 * egress (pol_state.egress_isolated == 0). */
static inline __attribute__((always_inline)) void pw_decide_to_uplink(const struct pw_pkt *p, struct pw_verdict *v)
{
	struct pw_endpoint_key key;
	const struct pw_endpoint *src;

	pw_pol_clear(v);
	pw_verdict_init(v, PW_ACT_PASS, PW_REASON_UNSPEC);
	if (p->l3 != PW_L3_IPV4)
		return;
	pw_ipv4_key(&key, p->saddr);
	src = pw_lookup_endpoint(&key);
	if (!src || !(src->flags & PW_EP_F_EGRESS_ISOLATED))
		return;
	pw_policy(p, src, 0, 0, v);
}

#endif /* PODWIRE_DECIDE_H */
