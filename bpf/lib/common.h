/* common.h — types shared by every podwire datapath program, the loader (via BTF) and the
 * WebAssembly twin of the decision logic.
 *
 * Contract:
 *  - No system headers and no #ifdef: the includer provides the kernel fixed-width types
 *    (__u8, __u16, __u32, __u64, __be32), from <linux/types.h> on the BPF target or from a
 *    few typedefs on wasm32. Both targets are little-endian.
 *  - Every struct that crosses a boundary (map key/value, verdict) uses fixed-width fields,
 *    explicit padding and a _Static_assert on its size, because wasm32 has 4-byte longs and
 *    pointers and the TypeScript codecs are generated from these layouts' BTF.
 *  - Enum values are ABI: they index the counters map and are decoded by name in TypeScript
 *    (src/maps/generated/layouts.ts). Append new values before the *_MAX sentinel; never
 *    renumber.
 */
#ifndef PODWIRE_COMMON_H
#define PODWIRE_COMMON_H

/* Address family in endpoint keys. Same values as AF_INET/AF_INET6 so tools print them
 * naturally; IPv6 keys use all four words of addr. */
enum pw_family {
	PW_AF_INET = 2,
	PW_AF_INET6 = 10,
};

/* The ONE enum of reasons: every packet a program sees ends in exactly one of these, forwards
 * and drops alike, and is counted under it (lib/drop.h). 0 means "no verdict recorded" so a
 * zeroed skb->cb is never mistaken for a real verdict. */
enum pw_reason {
	PW_REASON_UNSPEC = 0,
	PW_REASON_FWD_LOCAL_PEER = 1,        /* redirected into a pod on this node */
	PW_REASON_PASS_STACK_ARP = 2,        /* ARP: the host answers for the gateway */
	PW_REASON_PASS_STACK_NON_IP = 3,     /* not IPv4 (IPv6, VLAN, ...): the stack decides */
	PW_REASON_PASS_STACK_MISS = 4,       /* destination is not a local endpoint */
	PW_REASON_DROP_MALFORMED = 5,        /* truncated or invalid Ethernet/IPv4 header */
	PW_REASON_DROP_SPOOFED_SRC_IP = 6,   /* source IP is no endpoint at all */
	PW_REASON_DROP_SPOOFED_SRC_IFINDEX = 7, /* source IP belongs to another pod's veth */
	PW_REASON_DROP_SPOOFED_SRC_MAC = 8,  /* source MAC is not the endpoint's pod MAC */
	PW_REASON_DROP_TTL_EXCEEDED = 9,     /* TTL would reach 0 on our hop */
	PW_REASON_DROP_REWRITE_FAILED = 10,  /* a packet write helper failed (e.g. ENOMEM) */
	PW_REASON_FWD_REMOTE_NATIVE = 11,    /* routed to another node: FIB lookup + redirect_neigh */
	PW_REASON_FWD_REMOTE_VXLAN = 12,     /* tunnelled to another node through the VXLAN device */
	PW_REASON_DROP_NO_ENDPOINT = 13,     /* in this node's podCIDR but no such pod (stale/deleted) */
	PW_REASON_DROP_FIB_FAILED = 14,      /* no usable route to the remote node (unreachable, ...) */
	PW_REASON_DROP_FIB_FWD_DISABLED = 15, /* forwarding is off on the ingress device: a node setup bug */
	PW_REASON_DROP_TUNNEL_FAILED = 16,   /* bpf_skb_set_tunnel_key refused the key, or (BPF datapath)
					      * bpf_skb_adjust_room refused the VXLAN encap/decap */
	PW_REASON_PASS_STACK_NO_NODE_CFG = 17, /* remote pod, but the agent has not configured the node yet */
	PW_REASON_PASS_STACK_UNPARSED = 18,  /* uplink/VXLAN: not well-formed IPv4; the host owns it */
	PW_REASON_PASS_STACK_NAT_REPLY = 19, /* destination addr:port initiated a flow through the node's
					      * stack (Service/NodePort/hostPort DNAT, MASQUERADE, ...): its
					      * conntrack must un-NAT this packet, so the stack delivers it */
	PW_REASON_PASS_STACK_ICMP_ERROR = 20, /* ICMP error: the stack relates it to its flow (and un-NATs
					       * the embedded header) before delivering it */
	PW_REASON_PASS_STACK_FRAGMENT = 21,  /* IPv4 fragment: no complete L4 header to judge; the stack
					      * reassembles (conntrack) and forwards */
	PW_REASON_PASS_STACK_IP_OPTIONS = 22, /* IPv4 options (IHL > 5): the stack processes them */
	PW_REASON_DROP_IPV6 = 23,            /* IPv6 from a pod: the pod network is IPv4-only */
	PW_REASON_FWD_REPLY_TO_NODE = 24,    /* a reply to a non-pod address whose request reached the pod
					      * straight from the uplink (ct origin FROM_NODE): routed back
					      * by FIB + redirect_neigh, past this node's stack, which never
					      * saw the request and would call the reply INVALID */
	PW_REASON_POLICY_DENIED_INGRESS = 25, /* the destination pod is isolated for ingress and no
					       * NetworkPolicy rule admits this peer/port (lib/policy.h) */
	PW_REASON_POLICY_DENIED_EGRESS = 26, /* the source pod is isolated for egress and no
					      * NetworkPolicy rule admits this peer/port */
	PW_REASON_DROP_PREFILTER = 27,       /* xdp_prefilter: the source address is in the prefilter's
					      * deny list (dropped before an skb exists; INGRESS) */
	PW_REASON_PASS_PREFILTER_FAILSAFE = 28, /* xdp_prefilter: listed source, but failsafe traffic
						 * (API server, agent health port): let through */
	PW_REASON_DROP_BW_EGRESS = 29,          /* over the pod's egress bandwidth limit (lib/bandwidth.h): the
					      * token bucket's backlog would exceed its burst */
	PW_REASON_DROP_BW_INGRESS = 30,         /* over the destination pod's ingress bandwidth limit */
	PW_REASON_FWD_REMOTE_VXLAN_BPF = 31,    /* vxlan mode, BPF datapath: encapsulated by the program
						 * (outer Ethernet/IPv4/UDP/VXLAN, lib/vxlan.h) and sent out of
						 * the uplink with FIB + redirect_neigh; no VXLAN device */
	PW_REASON_PASS_STACK_FRAG_NEEDED = 32,  /* vxlan mode, BPF datapath: the packet plus the 50 bytes of
						 * tunnel headers exceeds the egress MTU: the stack forwards it
						 * (through the VXLAN device's route, whose MTU is the pod MTU),
						 * so a DF sender gets ICMP frag-needed instead of a blackhole */
	PW_REASON_PASS_STACK_TUNNEL_GSO = 33,   /* vxlan mode, BPF datapath, receive: a GSO aggregate of our
						 * tunnel that tc cannot decapsulate cleanly — UDP GSO (it would
						 * keep its SKB_GSO_UDP_TUNNEL state, 6.18 has no
						 * BPF_F_ADJ_ROOM_DECAP_L4_UDP, and the pod's UDP socket would
						 * fail to segment it) or one adjust_room refuses: the VXLAN
						 * device decapsulates it instead */
	PW_REASON_MAX,
};

/* Capacity of the counters map in reasons. Fixed (not PW_REASON_MAX) so that appending a reason
 * keeps the pinned map reusable across upgrades (the loader refuses a changed max_entries). */
#define PW_REASON_SLOTS 64
_Static_assert(PW_REASON_MAX <= PW_REASON_SLOTS, "grow PW_REASON_SLOTS (a counters map migration)");

/* Which way the packet travels, seen from the pod: from_pod counts EGRESS. */
enum pw_direction {
	PW_DIR_EGRESS = 0,
	PW_DIR_INGRESS = 1,
	PW_DIR_MAX,
};

/* What the program does with the packet; the BPF file maps these to TC_ACT_* codes. */
enum pw_action {
	PW_ACT_PASS = 0,          /* TC_ACT_UNSPEC: on to other tc users, then the host stack */
	PW_ACT_DROP = 1,          /* TC_ACT_SHOT */
	PW_ACT_REDIRECT_PEER = 2, /* bpf_redirect_peer(verdict.ifindex) */
	PW_ACT_REDIRECT_NEIGH = 3, /* FIB lookup of verdict.nh_addr, then bpf_redirect_neigh(ifindex, next hop) */
	PW_ACT_REDIRECT_TUNNEL = 4, /* bpf_skb_set_tunnel_key(remote nh_addr, tunnel_id) + bpf_redirect(ifindex) */
	PW_ACT_ENCAP_NEIGH = 5,   /* VXLAN-encapsulate in BPF toward nh_addr with VNI tunnel_id (lib/vxlan.h),
				   * then FIB lookup of nh_addr + bpf_redirect_neigh(ifindex, next hop) */
};

/* node_cfg.flags. */
enum pw_node_flags {
	PW_NODE_F_VXLAN_BPF = 1, /* vxlan mode: encapsulate in from_pod and decapsulate in from_uplink
				  * (BPF datapath) instead of through the collect-metadata device */
};

/* VXLAN on the wire: the kernel's historical port (flannel and Cilium use it too) and what the
 * encapsulation adds in front of the inner IPv4 header: outer IPv4 20 + UDP 8 + VXLAN 8 + inner
 * Ethernet 14 (the outer Ethernet header is the packet's own). */
#define PW_VXLAN_PORT 8472
#define PW_VXLAN_OVERHEAD 50
#define PW_VXLAN_OUTER_IP_OFF 14
#define PW_VXLAN_HDR_OFF (14 + 20 + 8)
#define PW_VXLAN_INNER_OFF (PW_VXLAN_HDR_OFF + 8)
/* The inner Ethernet addresses of a BPF-encapsulated frame: PW_VTEP_MAC0:PW_VTEP_MAC1 followed by
 * the node IP (source: this node, destination: the remote node), so a kernel VXLAN device on the
 * peer accepts the frame when its MAC follows the same rule. */
#define PW_VTEP_MAC0 0x0a
#define PW_VTEP_MAC1 0x58

/* How this node reaches other nodes' pods (node_cfg.mode). NONE: the agent has not configured
 * the node yet, so remote traffic is left to the host stack (its routes, if any). */
enum pw_mode {
	PW_MODE_NONE = 0,
	PW_MODE_NATIVE = 1,
	PW_MODE_VXLAN = 2,
};

/* What a routes entry covers (route value .kind). */
enum pw_route_kind {
	PW_ROUTE_UNSPEC = 0,
	PW_ROUTE_LOCAL = 1,  /* this node's own podCIDR: a miss in endpoints is a dead pod */
	PW_ROUTE_REMOTE = 2, /* another node's podCIDR, reached via node_ip */
};

/* bpf_fib_lookup() return codes, same values as the kernel's BPF_FIB_LKUP_RET_* (checked by a
 * _Static_assert in lib/forward.h) so the shared decision can interpret them without kernel
 * headers. Negative returns are errors. */
enum pw_fib_rc {
	PW_FIB_SUCCESS = 0,
	PW_FIB_BLACKHOLE = 1,
	PW_FIB_UNREACHABLE = 2,
	PW_FIB_PROHIBIT = 3,
	PW_FIB_NOT_FWDED = 4,
	PW_FIB_FWD_DISABLED = 5,
	PW_FIB_UNSUPP_LWT = 6,
	PW_FIB_NO_NEIGH = 7,
	PW_FIB_FRAG_NEEDED = 8,
};

/* What pw_parse() found after a well-formed IPv4 header (pw_pkt.l4): what the conntrack key
 * and the stack-or-fast-path choice need. */
enum pw_l4 {
	PW_L4_OTHER = 0,      /* a protocol without ports, or a truncated L4 header: ports are 0 */
	PW_L4_PORTS = 1,      /* TCP or UDP: sport/dport are the packet's */
	PW_L4_ICMP_ECHO = 2,  /* ICMP echo request/reply: the echo id is in both sport and dport */
	PW_L4_ICMP_ERROR = 3, /* ICMP dest-unreachable, source-quench, redirect, time-exceeded, param-problem */
	PW_L4_FRAGMENT = 4,   /* a fragment (MF set or offset != 0): no complete L4 header */
	PW_L4_OPTIONS = 5,    /* IHL > 5: L4 not parsed */
};

/* pw_endpoint.flags: written by the agent (policy), 0 from the CNI. The hot path tests them on the
 * endpoint values it already holds, so pods without policy pay nothing more. */
enum pw_endpoint_flags {
	PW_EP_F_INGRESS_ISOLATED = 1, /* some NetworkPolicy selects the pod for Ingress */
	PW_EP_F_EGRESS_ISOLATED = 2,  /* some NetworkPolicy selects the pod for Egress */
};

/* pw_ct_entry.flags of a PW_CT_FLOW entry. */
enum pw_ct_flow_flags {
	PW_CT_F_REPLY = 1,    /* the reverse direction of a flow whose first packet went the other way */
	PW_CT_F_BOTHWAYS = 2, /* which side started the flow is unknown (a TCP connection podwire saw only
			       * mid-stream): every judgement must admit it both ways */
};

/* How the policy step ended (pw_verdict.pol_step), for trace, monitor and tests. */
enum pw_pol_step {
	PW_POL_NONE = 0,        /* neither end is an isolated local pod: no policy, no tracking */
	PW_POL_ESTABLISHED = 1, /* ct FLOW hit, current revision: a flow already admitted */
	PW_POL_REPLY = 2,       /* ct FLOW hit on the reverse entry: a reply of an admitted flow */
	PW_POL_NEW = 3,         /* no entry: the rules admitted a new flow (to be recorded) */
	PW_POL_RECHECK = 4,     /* entry of an older policy revision: the rules admitted it again */
	PW_POL_DENIED = 5,      /* the rules admit nothing: dropped */
	PW_POL_DEFERRED = 6,    /* egress to a Service address: judged on the backend after DNAT */
	PW_POL_UNTRACKED = 7,   /* judged without a flow key (fragment, IP options): nothing recorded */
};

/* pw_verdict.pol_slot_in/_eg when no rule slot decided. */
#define PW_POL_SLOT_NONE 0xff    /* not evaluated in that direction (not isolated / deferred) */
#define PW_POL_SLOT_DENY 0xfe    /* isolated and no rule admits */
#define PW_POL_SLOT_HOST 0xfd    /* ingress from this node's own addresses: always admitted */

/* Kinds of conntrack entry (pw_ct_key.kind). */
enum pw_ct_kind {
	PW_CT_NONE = 0,
	PW_CT_STACK = 1, /* addr:port/proto initiated a flow that went through the node's stack (NAT may
			  * have rewritten its peer): packets TO addr:port are replies for the stack */
	PW_CT_FLOW = 2,  /* a 5-tuple flow NetworkPolicy admitted (lib/policy.h): addr:port -> peer:peer_port
			  * as the packet travels; two entries per flow, the reverse one flagged REPLY */
};

/* Who recorded a conntrack entry (pw_ct_entry.origin). */
enum pw_ct_origin {
	PW_CT_ORIGIN_NONE = 0,
	PW_CT_ORIGIN_FROM_POD = 1, /* from_pod: a pod sent it to the stack */
	PW_CT_ORIGIN_TO_POD = 2,   /* to_pod: the stack delivered it into a pod */
	PW_CT_ORIGIN_FROM_NODE = 3, /* from_uplink/from_vxlan: a non-pod address (a node, a hostNetwork
				     * pod, a NodePort forwarded with SNAT) reached a pod directly */
};

/* Kinds of prefilter failsafe entry (pw_failsafe_key.kind): traffic that passes the XDP prefilter
 * even when its source address is listed. */
enum pw_failsafe_kind {
	PW_FAILSAFE_NONE = 0,
	PW_FAILSAFE_SRC_ADDR = 1, /* every packet from addr (port, proto 0) */
	PW_FAILSAFE_SRC_PORT = 2, /* packets from addr:port/proto (a remote service, e.g. the API server) */
	PW_FAILSAFE_DST_PORT = 3, /* packets to this node's port/proto from anyone (addr 0; e.g. agent health) */
};

/* What pw_parse() found at L3. */
enum pw_l3 {
	PW_L3_MALFORMED = 0,
	PW_L3_IPV4 = 1,
	PW_L3_ARP = 2,
	PW_L3_OTHER = 3,
	PW_L3_IPV6 = 4,
};

/* endpoints map key. IPv4 lives in addr[0] (network byte order), addr[1..3] are zero; the
 * four words leave room for IPv6 without a layout change. pad must be zero (hash keys compare
 * every byte). */
struct pw_endpoint_key {
	__be32 addr[4];
	__u8 family;   /* enum pw_family */
	__u8 pad[3];
};
_Static_assert(sizeof(struct pw_endpoint_key) == 20, "pw_endpoint_key layout is ABI");

/* endpoints map value: one per pod interface on this node. Fields are laid out so that there
 * is no implicit padding (24 bytes on every target). */
struct pw_endpoint {
	__u32 ifindex;       /* host-side veth (the redirect target and the anti-spoof anchor) */
	__u8 pod_mac[6];     /* MAC of the pod's eth0 */
	__u8 host_mac[6];    /* MAC of the host-side veth (the pod's gateway neighbour) */
	__u32 flags;         /* pw_endpoint_flags (policy, the agent) | pw_ep_flag (bandwidth
			      * limits, written by the CNI): each writer keeps the other's bits */
	__u32 endpoint_id;   /* control-plane id, opaque to the datapath */
};
_Static_assert(sizeof(struct pw_endpoint) == 24, "pw_endpoint layout is ABI");

/* pw_endpoint.flags and pw_verdict.limits: which bandwidth limits (bw map, lib/bandwidth.h) apply.
 * An endpoint without these flags never touches the bw map: the fast path stays unchanged. */
enum pw_ep_flag {
	PW_EP_F_BW_EGRESS = 4,  /* the pod's sending is limited (bw[pod].dir[PW_DIR_EGRESS]) */
	PW_EP_F_BW_INGRESS = 8, /* the pod's receiving is limited (bw[pod].dir[PW_DIR_INGRESS]) */
};

/* One direction of a pod's bandwidth limit: a token bucket kept as GCRA's theoretical arrival
 * time. A packet of L bytes costs L*8e9/rate_bps ns; it is admitted while the backlog
 * (tat_ns - now) is at most burst_ns, and then moves tat_ns to max(tat_ns, now) + cost.
 * rate_bps 0 = unlimited. */
struct pw_bw_dir {
	__u64 rate_bps;  /* bit/s (CNI runtimeConfig.bandwidth *Rate) */
	__u64 burst_ns;  /* the bucket's depth as time at rate_bps */
	__u64 tat_ns;    /* bpf_ktime_get_ns() when the bucket is full again; written 0 by the agent */
	__u64 pad;
};
_Static_assert(sizeof(struct pw_bw_dir) == 32, "pw_bw_dir layout is ABI");

/* routes map key (LPM_TRIE): prefixlen in host order, addr in network order, as the kernel's
 * struct bpf_lpm_trie_key lays them out. */
struct pw_route_key {
	__u32 prefixlen;
	__be32 addr;
};
_Static_assert(sizeof(struct pw_route_key) == 8, "pw_route_key layout is ABI");

/* routes map value: where a pod CIDR lives. */
struct pw_route {
	__be32 node_ip;  /* REMOTE: the node's underlay IP (FIB destination / tunnel endpoint) */
	__u32 kind;      /* enum pw_route_kind */
	__u32 flags;     /* reserved, written as 0 */
	__u32 pad;
};
_Static_assert(sizeof(struct pw_route) == 16, "pw_route layout is ABI");

/* node_cfg map value (ARRAY, one entry at key 0): node facts the agent sets at run time, so a
 * changed uplink, mode or VNI needs no recompile. */
struct pw_node_cfg {
	__u32 mode;            /* enum pw_mode */
	__be32 node_ip;        /* this node's underlay IP */
	__u32 uplink_ifindex;  /* native: where routed packets leave (informational; FIB decides) */
	__u32 vxlan_ifindex;   /* vxlan: the collect-metadata device tunnelled packets go to */
	__u32 vni;             /* vxlan: tunnel id */
	__u32 flags;           /* enum pw_node_flags (0 before the BPF VXLAN datapath existed) */
};
_Static_assert(sizeof(struct pw_node_cfg) == 24, "pw_node_cfg layout is ABI");

/* counters map value (per CPU), key = reason * PW_DIR_MAX + direction. */
struct pw_counter {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct pw_counter) == 16, "pw_counter layout is ABI");

/* prefilter map key (LPM_TRIE): a source CIDR to drop at XDP. Same layout as the kernel's
 * struct bpf_lpm_trie_key: prefixlen in host order, addr in network order. */
struct pw_prefilter_key {
	__u32 prefixlen;
	__be32 addr;
};
_Static_assert(sizeof(struct pw_prefilter_key) == 8, "pw_prefilter_key layout is ABI");

/* prefilter map value. */
struct pw_prefilter_rule {
	__u32 flags;     /* reserved, written as 0 */
	__u32 pad;
};
_Static_assert(sizeof(struct pw_prefilter_rule) == 8, "pw_prefilter_rule layout is ABI");

/* prefilter_safe map key (HASH): failsafe traffic, see enum pw_failsafe_kind. Every byte is
 * written (hash keys compare all of them). */
struct pw_failsafe_key {
	__be32 addr;     /* SRC_ADDR / SRC_PORT: the remote address; DST_PORT: 0 */
	__be16 port;     /* SRC_PORT: the remote port; DST_PORT: the local port; SRC_ADDR: 0 */
	__u8 proto;      /* IPPROTO_TCP / IPPROTO_UDP; SRC_ADDR: 0 */
	__u8 kind;       /* enum pw_failsafe_kind */
};
_Static_assert(sizeof(struct pw_failsafe_key) == 8, "pw_failsafe_key layout is ABI");

/* Parsed packet fields: what pw_decide() needs and nothing more. Addresses stay in network
 * byte order, exactly as they sit in the packet and in map keys. */
struct pw_pkt {
	__u32 ifindex;   /* device the packet arrived on (skb->ifindex: the host veth) */
	__u32 len;       /* full packet length (skb->len), not only the linear part */
	__be32 saddr;
	__be32 daddr;
	__u8 dmac[6];
	__u8 smac[6];
	__u16 l3;        /* enum pw_l3 */
	__u8 ttl;
	__u8 protocol;
	__u16 check;     /* IPv4 header checksum, host byte order */
	__u8 tos;        /* IPv4 TOS byte (the FIB lookup routes on it) */
	__u8 l4;         /* enum pw_l4 */
	__be16 sport;    /* PW_L4_PORTS: source port; PW_L4_ICMP_ECHO: echo id; else 0 */
	__be16 dport;    /* PW_L4_PORTS: destination port; PW_L4_ICMP_ECHO: echo id; else 0 */
	__u8 gso;        /* 1: the skb is GSO (only then is IPv4 tot_len 0 valid: BIG TCP) */
	__u8 l4_flags;   /* TCP: the flags byte (0 when the header is cut short); ICMP: the type */
	__u8 pad[2];
};
_Static_assert(sizeof(struct pw_pkt) == 44, "pw_pkt layout is shared with wasm32");

/* ct map key. PW_CT_STACK entries: addr/port/proto of the flow's initiator, peer and peer_port 0
 * (the peer may be rewritten by NAT, so replies are matched on their destination alone). Every
 * byte is written (pad zero): hash keys compare padding too. */
struct pw_ct_key {
	__be32 addr;
	__be32 peer;
	__be16 port;
	__be16 peer_port;
	__u8 proto;
	__u8 kind;       /* enum pw_ct_kind */
	__u8 pad[2];
};
_Static_assert(sizeof(struct pw_ct_key) == 16, "pw_ct_key layout is ABI");

/* ct map value. Timestamps are bpf_ktime_get_ns() (CLOCK_MONOTONIC): the agent's GC expires an
 * entry whose last_seen_ns is older than its protocol's timeout. */
struct pw_ct_entry {
	__u64 last_seen_ns;
	__u64 created_ns;
	__u32 origin;    /* enum pw_ct_origin */
	__u32 ifindex;   /* the host veth it was recorded on */
	__u32 flags;     /* FLOW: enum pw_ct_flow_flags; STACK: 0 */
	__u32 revision;  /* FLOW: the policy revision (pol_state) that admitted it; STACK: 0 */
};
_Static_assert(sizeof(struct pw_ct_entry) == 32, "pw_ct_entry layout is ABI");

/* The decision: action + reason, and for a forward, everything the program must write.
 * REDIRECT_PEER: ifindex = destination host veth, MACs/TTL/check to write. REDIRECT_NEIGH:
 * ifindex = 0 and nh_addr = remote node IP until the FIB lookup fills the egress ifindex and the
 * next hop (pw_verdict_after_fib); TTL/check to write, MACs left to the neighbour layer.
 * REDIRECT_TUNNEL: ifindex = VXLAN device, nh_addr + tunnel_id for the tunnel key, TTL/check.
 * ENCAP_NEIGH: as REDIRECT_NEIGH (nh_addr = remote node IP until the FIB), plus tunnel_id = VNI. */
struct pw_verdict {
	__u32 action;    /* enum pw_action */
	__u32 reason;    /* enum pw_reason */
	__u32 ifindex;   /* redirect target: the destination's host veth */
	__u8 dmac[6];    /* new Ethernet destination: destination pod MAC */
	__u8 smac[6];    /* new Ethernet source: destination's host-veth MAC */
	__u8 ttl;        /* new TTL */
	__u8 limits;     /* enum pw_ep_flag: EGRESS = the sending endpoint is limited, INGRESS = the
			  * receiving local endpoint is (set on redirect-into-pod verdicts only) */
	__u16 check;     /* new IPv4 header checksum, host byte order */
	__be32 nh_addr;  /* REDIRECT_NEIGH: the FIB destination (remote node IP), after the FIB the
			  * next hop; REDIRECT_TUNNEL: the remote tunnel endpoint (node IP) */
	__u32 tunnel_id; /* REDIRECT_TUNNEL: VNI */
	/* the NetworkPolicy step (lib/policy.h): rulesets consulted (0: none) and the rule slot that
	 * admitted the packet per direction (or PW_POL_SLOT_*) */
	__u32 pol_ruleset_in;
	__u32 pol_ruleset_eg;
	__u8 pol_slot_in;
	__u8 pol_slot_eg;
	__u8 pol_step;   /* enum pw_pol_step */
	__u8 pol_reply;  /* 1: judged as the reply of the flow (its original direction is reversed);
			  * 2: the flow's direction is unknown, judged both ways (PW_CT_F_BOTHWAYS) */
	__u32 pol_ifindex_in; /* host veth of the endpoint judged for ingress (pol_stats key) */
	__u32 pol_ifindex_eg; /* host veth of the endpoint judged for egress */
};
_Static_assert(sizeof(struct pw_verdict) == 56, "pw_verdict layout is shared with wasm32");

/* Ethernet + IPv4 base header: the bytes a forward needs in the linear area. */
#define PW_ETH_HLEN 14
#define PW_IPV4_MIN_HLEN 20
#define PW_ETH_P_IP 0x0800
#define PW_ETH_P_ARP 0x0806
#define PW_ETH_P_IPV6 0x86DD
#define PW_IPPROTO_ICMP 1
#define PW_IPPROTO_TCP 6
#define PW_IPPROTO_UDP 17
#define PW_IPPROTO_SCTP 132
/* Ethernet + IPv4 without options + the first 8 bytes of L4 (ports, or ICMP type..echo id) */
#define PW_L4_OFF (PW_ETH_HLEN + PW_IPV4_MIN_HLEN)
#define PW_L4_HDR_MIN 8
/* TCP up to and including the flags byte (offset 13) */
#define PW_TCP_FLAGS_END 14
#define PW_TCP_SYN 0x02
#define PW_TCP_ACK 0x10

/* ---- NetworkPolicy maps (lib/policy.h has the semantics) ---- */

/* pol_state map value (ARRAY, key 0). */
struct pw_pol_state {
	__u32 revision;        /* bumped by the agent on every policy change: FLOW entries of an older
				* revision are judged again on their next packet */
	__u32 egress_isolated; /* local endpoints isolated for egress (0: to_uplink returns at once) */
	__u32 flags;           /* reserved, written as 0 */
	__u32 pad;
};
_Static_assert(sizeof(struct pw_pol_state) == 16, "pw_pol_state layout is ABI");

/* pol_endpoints map value, keyed by the local endpoint's pw_endpoint_key: its rulesets. */
struct pw_pol_endpoint {
	__u32 ingress; /* ruleset judging what the pod receives; 0 = not isolated */
	__u32 egress;  /* ruleset judging what the pod sends; 0 = not isolated */
};
_Static_assert(sizeof(struct pw_pol_endpoint) == 8, "pw_pol_endpoint layout is ABI");

/* pol_ports key (LPM_TRIE). The data after prefixlen is compared bit by bit in memory order:
 * ruleset (32 bits, always matched), proto (8), pad (8, always 0), port (network order).
 * prefixlen 32 = any protocol and port; 48 = every port of proto; 48 + n = the first n bits of
 * port. */
struct pw_pol_port_key {
	__u32 prefixlen;
	__u32 ruleset;
	__u8 proto;
	__u8 pad;
	__be16 port;
};
_Static_assert(sizeof(struct pw_pol_port_key) == 12, "pw_pol_port_key layout is ABI");

/* pol_ports value: the ruleset's rule slots whose ports admit that proto/port (bit i = slot i).
 * The agent writes the union of every covering range into the longest entry. */
struct pw_pol_ports {
	__u64 slots;
};
_Static_assert(sizeof(struct pw_pol_ports) == 8, "pw_pol_ports layout is ABI");

/* pol_slots key (HASH) and value: slot i of a ruleset = its peers (a set) and where it came from. */
struct pw_pol_slot_key {
	__u32 ruleset;
	__u32 slot;
};
_Static_assert(sizeof(struct pw_pol_slot_key) == 8, "pw_pol_slot_key layout is ABI");

enum pw_pol_slot_flags {
	PW_POL_SLOT_F_ANY_PEER = 1, /* the rule has no from/to (or an empty one): every peer */
	PW_POL_SLOT_F_MERGED = 2,   /* several rules share this slot (same ports): policy/rule name the first */
};

struct pw_pol_slot {
	__u32 set;    /* pol_sets id of the admitted peers (ignored with ANY_PEER) */
	__u32 flags;  /* enum pw_pol_slot_flags */
	__u32 policy; /* control-plane policy id (podwire policy / trace name it) */
	__u32 rule;   /* index of the rule in that policy's ingress/egress list */
};
_Static_assert(sizeof(struct pw_pol_slot) == 16, "pw_pol_slot layout is ABI");

/* pol_sets key (LPM_TRIE): set id (32 bits, always matched) then the IPv4 address (network order).
 * prefixlen = 32 + CIDR bits: pods are /32 members, ipBlocks their CIDRs, an except a longer
 * prefix whose value says include = 0. Set 1 is this node's own addresses. */
struct pw_pol_set_key {
	__u32 prefixlen;
	__u32 set;
	__be32 addr;
};
_Static_assert(sizeof(struct pw_pol_set_key) == 12, "pw_pol_set_key layout is ABI");

#define PW_POL_SET_HOST 1

struct pw_pol_member {
	__u32 include; /* 1: member; 0: excluded (an ipBlock except) */
	__u32 pad;
};
_Static_assert(sizeof(struct pw_pol_member) == 8, "pw_pol_member layout is ABI");

/* Rule slots per ruleset: the bit width of pw_pol_ports.slots. */
#define PW_POL_SLOTS 64

/* pol_stats key (PERCPU_HASH, value pw_counter): verdicts per local endpoint, ruleset and slot
 * (PW_POL_SLOT_DENY for denials). */
struct pw_pol_stat_key {
	__u32 ifindex;  /* the endpoint's host veth */
	__u32 ruleset;
	__u8 dir;       /* enum pw_direction, seen from the endpoint */
	__u8 slot;
	__u8 pad[2];
};
_Static_assert(sizeof(struct pw_pol_stat_key) == 12, "pw_pol_stat_key layout is ABI");

#endif /* PODWIRE_COMMON_H */
