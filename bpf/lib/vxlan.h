/* vxlan.h — VXLAN encapsulation and decapsulation done by the programs themselves (BPF only): the
 * vxlan-mode datapath without a VXLAN device on the data path (node_cfg.flags PW_NODE_F_VXLAN_BPF).
 *
 * Contract:
 *  - pw_vxlan_encap() turns the pod's frame [eth][IPv4 ...] into [eth][outer IPv4][UDP][VXLAN]
 *    [inner eth][IPv4 ...], on the wire exactly what a kernel VXLAN device sends (port 8472, the
 *    node's VNI, UDP checksum 0, source port from the flow hash, DF clear, TTL 64, a fresh IP id),
 *    so a kernel VXLAN peer decapsulates it. The outer Ethernet addresses are left to
 *    bpf_redirect_neigh(). GSO skbs stay GSO: adjust_room gets the ENCAP flags (the kernel then
 *    marks the skb SKB_GSO_UDP_TUNNEL with inner header offsets, cilium#30732) and FIXED_GSO (the
 *    inner MSS must not shrink: the pod MTU already leaves room for the 50 bytes).
 *  - pw_vxlan_decap() removes the 50 bytes after the outer Ethernet header of a frame
 *    pw_vxlan_ours() accepted; FIXED_GSO goes in the FLAGS argument (calico#11252: passed as the
 *    mode it is ignored and a GRO aggregate's gso_size grows by 50, so tcp_gso_segment drops it).
 *  - Both return 0 or a negative error; on error the packet may be half-written: the caller drops.
 * Needs <linux/bpf.h>, <bpf/bpf_helpers.h>, <bpf/bpf_endian.h> and lib/common.h first.
 */
#ifndef PODWIRE_VXLAN_H
#define PODWIRE_VXLAN_H

#include "common.h"

/* 6.3+ uapi; older <linux/bpf.h> copies lack it. A no-op for IPv4 in IPv4 (it only changes
 * skb->protocol when the outer and inner IP versions differ), passed so the kernel knows what the
 * decapsulated packet is. */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#endif

#define PW_VXLAN_ENCAP_FLAGS                                                                      \
	(BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |   \
	 BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(PW_ETH_HLEN))
#define PW_VXLAN_DECAP_FLAGS (BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_DECAP_L3_IPV4)

/* The kernel's UDP tunnel source port range for us: IANA's dynamic ports. */
#define PW_VXLAN_SPORT_MIN 49152
#define PW_VXLAN_SPORT_BITS 14

struct pw_vxlan_hdrs {
	__u8 ip[20];
	__u8 udp[8];
	__u8 vxlan[8];
	__u8 inner_eth[14];
};
_Static_assert(sizeof(struct pw_vxlan_hdrs) == PW_VXLAN_OVERHEAD, "the encapsulation is 50 bytes");

static __always_inline void pw_vtep_mac(__u8 *mac, __be32 node_ip)
{
	const __u8 *a = (const __u8 *)&node_ip;

	mac[0] = PW_VTEP_MAC0;
	mac[1] = PW_VTEP_MAC1;
	mac[2] = a[0];
	mac[3] = a[1];
	mac[4] = a[2];
	mac[5] = a[3];
}

static __always_inline __u16 pw_ip_csum(const __u8 *ip)
{
	__u32 sum = 0;
	int i;

	for (i = 0; i < 20; i += 2)
		sum += (__u32)ip[i] << 8 | ip[i + 1];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Encapsulate toward remote (network order) from local with VNI vni; tos = the inner TOS byte. */
static __always_inline int pw_vxlan_encap(struct __sk_buff *skb, __be32 local, __be32 remote, __u32 vni, __u8 tos)
{
	struct pw_vxlan_hdrs h = {};
	__u32 hash, tot_len, sport;
	__u16 id, csum;
	__u8 ecn = tos & 3;
	int rc;

	/* before the grow: the hash is the inner flow's (TCP: the socket's txhash), so one flow keeps
	 * one source port and the underlay's ECMP spreads flows, like the kernel's udp_flow_src_port */
	hash = bpf_get_hash_recalc(skb);
	rc = bpf_skb_adjust_room(skb, PW_VXLAN_OVERHEAD, BPF_ADJ_ROOM_MAC, PW_VXLAN_ENCAP_FLAGS);
	if (rc)
		return rc;

	tot_len = skb->len - PW_ETH_HLEN;
	if (tot_len > 0xffff)
		tot_len = 0; /* a BIG TCP aggregate: the length lives in skb->len, as for the inner header */
	id = (__u16)bpf_get_prandom_u32();
	/* outer IPv4 as the kernel device sends it: TOS carries the inner ECN (CE as ECT(0), RFC
	 * 6040), no DF, TTL 64, UDP */
	h.ip[0] = 0x45;
	h.ip[1] = ecn == 3 ? 2 : ecn;
	h.ip[2] = (__u8)(tot_len >> 8);
	h.ip[3] = (__u8)tot_len;
	h.ip[4] = (__u8)(id >> 8);
	h.ip[5] = (__u8)id;
	h.ip[8] = 64;
	h.ip[9] = PW_IPPROTO_UDP;
	__builtin_memcpy(&h.ip[12], &local, 4);
	__builtin_memcpy(&h.ip[16], &remote, 4);
	csum = pw_ip_csum(h.ip);
	h.ip[10] = (__u8)(csum >> 8);
	h.ip[11] = (__u8)csum;
	/* UDP: source port from the hash, checksum 0 (RFC 7348 allows it; the kernel device's
	 * default, and SKB_GSO_UDP_TUNNEL without _CSUM segments without one) */
	sport = PW_VXLAN_SPORT_MIN + (hash >> (32 - PW_VXLAN_SPORT_BITS));
	h.udp[0] = (__u8)(sport >> 8);
	h.udp[1] = (__u8)sport;
	h.udp[2] = PW_VXLAN_PORT >> 8;
	h.udp[3] = PW_VXLAN_PORT & 0xff;
	h.udp[4] = tot_len ? (__u8)((tot_len - 20) >> 8) : 0;
	h.udp[5] = tot_len ? (__u8)(tot_len - 20) : 0;
	/* VXLAN: I flag, VNI */
	h.vxlan[0] = 0x08;
	h.vxlan[4] = (__u8)(vni >> 16);
	h.vxlan[5] = (__u8)(vni >> 8);
	h.vxlan[6] = (__u8)vni;
	/* inner Ethernet: VTEP MACs of the two nodes (the receiving podwire rewrites them for its pod;
	 * a kernel VXLAN peer delivers it only to its own MAC), IPv4 */
	pw_vtep_mac(&h.inner_eth[0], remote);
	pw_vtep_mac(&h.inner_eth[6], local);
	h.inner_eth[12] = PW_ETH_P_IP >> 8;
	h.inner_eth[13] = PW_ETH_P_IP & 0xff;
	/* verifier: through the helper, not direct packet writes (no unclone prologue, lib/forward.h) */
	return bpf_skb_store_bytes(skb, PW_VXLAN_OUTER_IP_OFF, &h, sizeof(h), 0);
}

static __always_inline int pw_vxlan_decap(struct __sk_buff *skb)
{
	return bpf_skb_adjust_room(skb, -PW_VXLAN_OVERHEAD, BPF_ADJ_ROOM_MAC, PW_VXLAN_DECAP_FLAGS);
}

/* from_pod, after pw_apply() and the bandwidth step: encapsulate an ENCAP_NEIGH verdict toward
 * remote (the node IP the decision named, read before the FIB replaced nh_addr with the next hop);
 * a refused encapsulation drops. */
static __always_inline void pw_vxlan_apply(struct __sk_buff *skb, const struct pw_pkt *p, struct pw_verdict *v,
					   __be32 remote)
{
	const struct pw_node_cfg *cfg;

	if (v->action != PW_ACT_ENCAP_NEIGH)
		return;
	cfg = pw_lookup_node_cfg();
	if (!cfg || pw_vxlan_encap(skb, cfg->node_ip, remote, v->tunnel_id, p->tos))
		pw_verdict_init(v, PW_ACT_DROP, PW_REASON_DROP_TUNNEL_FAILED);
}

#endif /* PODWIRE_VXLAN_H */
