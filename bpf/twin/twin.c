/* twin.c — the WebAssembly twin of the datapath's decisions (built into build/twin/decide.wasm
 * by src/build/twin.mjs; driven by src/twin/, used by `podwire trace` and the differential test).
 *
 * Contract:
 *  - Compiled with clang-16 --target=wasm32 -nostdlib: no libc, no kernel headers. The fixed-width
 *    kernel types come from the typedefs below; everything else is the shared headers verbatim
 *    (lib/common.h, lib/decide.h), so the twin decides with exactly the code the programs run.
 *  - The lookups lib/decide.h declares are defined here the way lib/lookups.h defines them for
 *    BPF, on top of PW_TWIN_MAP(map, value type): it imports maps.<map>(key, key size, value,
 *    value size) from the host, which returns 1 and fills the value on a hit and 0 on a miss, and
 *    hands out a pointer into a small per-map ring of slots (several results of one map may be
 *    alive at once, like map value pointers in BPF). The sizes let the host check this build's
 *    structs against the generated layouts. Adding a lookup: one PW_TWIN_MAP line + one
 *    definition mirroring lookups.h.
 *  - The FIB behind a REDIRECT_NEIGH verdict is the kernel's: the host import kernel.fib_lookup
 *    answers it (a model in tests, `ip route get` for trace) and the shared pw_verdict_after_fib()
 *    applies the answer, as lib/forward.h does with bpf_fib_lookup(). PW_TWIN_FIB_UNKNOWN (an
 *    offline snapshot has no FIB) leaves the verdict as decided, before the FIB.
 *  - Each program is one export prog_<program>(data_len, skb_len, ifindex, ingress_ifindex, gso)
 *    (gso: the skb is a GSO aggregate, skb->gso_size != 0),
 *    declared with PW_TWIN_PROGRAM, that does what the BPF program of that name does up to its
 *    pw_finish(): parse the frame at pw_twin_data(), decide, apply the kernel-only steps that
 *    change the verdict. It returns the reason and leaves the parsed packet and the verdict at
 *    pw_twin_pkt() / pw_twin_verdict(). src/twin/ finds programs by the export prefix.
 *  - Not modelled: helper failures that cannot be provoked (bpf_skb_store_bytes ENOMEM ->
 *    DROP_REWRITE_FAILED, bpf_skb_set_tunnel_key / bpf_skb_adjust_room -> DROP_TUNNEL_FAILED),
 *    and the egress MTU check of the BPF VXLAN encapsulation (PASS_STACK_FRAG_NEEDED: the
 *    device's MTU is not in the FIB model).
 */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u16 __sum16;
typedef __u32 __wsum;

#include "../lib/common.h"
#include "../lib/decide.h"

#define PW_TWIN_EXPORT(name) __attribute__((export_name(#name), used))
#define PW_TWIN_SLOTS 4

/* PW_TWIN_MAP(map, value type): pw_twin_lookup_<map>(key, key size), backed by the host's view
 * of the pinned map <map> (live, or a snapshot). */
#define PW_TWIN_MAP(map, vtype)                                                                   \
	__attribute__((import_module("maps"), import_name(#map))) int pw_twin_import_##map(         \
		const void *key, __u32 key_size, void *value, __u32 value_size);                    \
	static vtype pw_twin_slots_##map[PW_TWIN_SLOTS];                                            \
	static __u32 pw_twin_next_##map;                                                            \
	static inline __attribute__((always_inline)) const vtype *pw_twin_lookup_##map(             \
		const void *key, __u32 key_size)                                                    \
	{                                                                                           \
		vtype *slot = &pw_twin_slots_##map[pw_twin_next_##map++ % PW_TWIN_SLOTS];           \
		if (!pw_twin_import_##map(key, key_size, slot, sizeof(vtype)))                      \
			return 0;                                                                   \
		return slot;                                                                        \
	}

PW_TWIN_MAP(endpoints, struct pw_endpoint)
PW_TWIN_MAP(routes, struct pw_route)
PW_TWIN_MAP(node_cfg, struct pw_node_cfg)
PW_TWIN_MAP(ct, struct pw_ct_entry)
PW_TWIN_MAP(pol_state, struct pw_pol_state)
PW_TWIN_MAP(pol_endpoints, struct pw_pol_endpoint)
PW_TWIN_MAP(pol_ports, struct pw_pol_ports)
PW_TWIN_MAP(pol_slots, struct pw_pol_slot)
PW_TWIN_MAP(pol_sets, struct pw_pol_member)
PW_TWIN_MAP(svc_addrs, __u32)

/* The definitions lib/lookups.h gives the BPF programs, one for one. */
static inline __attribute__((always_inline)) const struct pw_endpoint *
pw_lookup_endpoint(const struct pw_endpoint_key *key)
{
	return pw_twin_lookup_endpoints(key, sizeof(*key));
}

static inline __attribute__((always_inline)) const struct pw_route *
pw_lookup_route(const struct pw_route_key *key)
{
	return pw_twin_lookup_routes(key, sizeof(*key));
}

static inline __attribute__((always_inline)) const struct pw_node_cfg *
pw_lookup_node_cfg(void)
{
	__u32 zero = 0;

	return pw_twin_lookup_node_cfg(&zero, sizeof(zero));
}

static inline __attribute__((always_inline)) const struct pw_ct_entry *
pw_lookup_ct(const struct pw_ct_key *key)
{
	return pw_twin_lookup_ct(key, sizeof(*key));
}

static inline __attribute__((always_inline)) const struct pw_pol_state *pw_lookup_pol_state(void)
{
	__u32 zero = 0;

	return pw_twin_lookup_pol_state(&zero, sizeof(zero));
}

static inline __attribute__((always_inline)) const struct pw_pol_endpoint *
pw_lookup_pol_endpoint(const struct pw_endpoint_key *key)
{
	return pw_twin_lookup_pol_endpoints(key, sizeof(*key));
}

static inline __attribute__((always_inline)) const struct pw_pol_ports *
pw_lookup_pol_ports(const struct pw_pol_port_key *key)
{
	return pw_twin_lookup_pol_ports(key, sizeof(*key));
}

static inline __attribute__((always_inline)) const struct pw_pol_slot *
pw_lookup_pol_slot(const struct pw_pol_slot_key *key)
{
	return pw_twin_lookup_pol_slots(key, sizeof(*key));
}

static inline __attribute__((always_inline)) const struct pw_pol_member *
pw_lookup_pol_set(const struct pw_pol_set_key *key)
{
	return pw_twin_lookup_pol_sets(key, sizeof(*key));
}

static inline __attribute__((always_inline)) const __u32 *pw_lookup_svc_addr(const __be32 *addr)
{
	return pw_twin_lookup_svc_addrs(addr, sizeof(*addr));
}

/* bpf_fib_lookup() as lib/forward.h calls it: ingress ifindex, source, destination (the remote
 * node IP), TOS, protocol in; return code, egress ifindex and next hop out. */
#define PW_TWIN_FIB_UNKNOWN (-1000)
__attribute__((import_module("kernel"), import_name("fib_lookup"))) int pw_twin_import_fib(
	__u32 ifindex, __be32 src, __be32 dst, __u32 tos, __u32 protocol, __u32 *out_ifindex, __be32 *out_nexthop);

/* The frame under test. Only headers are parsed, so the host copies at most this many bytes and
 * passes the full length separately, like skb->len next to the linear [data, data_end). */
#define PW_TWIN_DATA_MAX 4096
static __u8 pw_twin_data_buf[PW_TWIN_DATA_MAX];
static struct pw_pkt pw_twin_pkt_buf;
static struct pw_verdict pw_twin_verdict_buf;
static int pw_twin_fib_rc_val;
static __u32 pw_twin_fib_out[2];

PW_TWIN_EXPORT(pw_twin_data) __u8 *pw_twin_data(void) { return pw_twin_data_buf; }
PW_TWIN_EXPORT(pw_twin_data_max) __u32 pw_twin_data_max(void) { return PW_TWIN_DATA_MAX; }
PW_TWIN_EXPORT(pw_twin_pkt) struct pw_pkt *pw_twin_pkt(void) { return &pw_twin_pkt_buf; }
PW_TWIN_EXPORT(pw_twin_verdict) struct pw_verdict *pw_twin_verdict(void) { return &pw_twin_verdict_buf; }
/* the FIB answer of the last run (PW_TWIN_FIB_UNKNOWN when there was no FIB lookup or no FIB) */
PW_TWIN_EXPORT(pw_twin_fib_rc) int pw_twin_fib_rc(void) { return pw_twin_fib_rc_val; }
/* sizes the host checks against the generated layouts before trusting any offset */
PW_TWIN_EXPORT(pw_twin_sizeof_pkt) __u32 pw_twin_sizeof_pkt(void) { return sizeof(struct pw_pkt); }
PW_TWIN_EXPORT(pw_twin_sizeof_verdict) __u32 pw_twin_sizeof_verdict(void) { return sizeof(struct pw_verdict); }

static inline __attribute__((always_inline)) void pw_twin_parse(__u32 data_len, __u32 skb_len, __u32 ifindex, __u32 gso)
{
	if (data_len > PW_TWIN_DATA_MAX)
		data_len = PW_TWIN_DATA_MAX;
	pw_twin_fib_rc_val = PW_TWIN_FIB_UNKNOWN;
	pw_parse(pw_twin_data_buf, pw_twin_data_buf + data_len, skb_len, ifindex, gso, &pw_twin_pkt_buf);
}

/* lib/forward.h pw_apply(), minus the packet writes: only the FIB changes a verdict. */
static inline __attribute__((always_inline)) void pw_twin_apply(__u32 ingress_ifindex)
{
	const struct pw_pkt *p = &pw_twin_pkt_buf;
	struct pw_verdict *v = &pw_twin_verdict_buf;
	int rc;

	const struct pw_node_cfg *cfg;
	__be32 src = p->saddr;
	__u32 protocol = p->protocol;

	if (v->action != PW_ACT_REDIRECT_NEIGH && v->action != PW_ACT_ENCAP_NEIGH)
		return;
	if (v->action == PW_ACT_ENCAP_NEIGH) {
		/* the outer packet's FIB: from the node IP, UDP (lib/forward.h) */
		cfg = pw_lookup_node_cfg();
		if (!cfg) {
			pw_verdict_init(v, PW_ACT_PASS, PW_REASON_PASS_STACK_NO_NODE_CFG);
			return;
		}
		src = cfg->node_ip;
		protocol = PW_IPPROTO_UDP;
	}
	pw_twin_fib_out[0] = 0;
	pw_twin_fib_out[1] = 0;
	rc = pw_twin_import_fib(ingress_ifindex, src, v->nh_addr, p->tos, protocol,
				&pw_twin_fib_out[0], &pw_twin_fib_out[1]);
	pw_twin_fib_rc_val = rc;
	if (rc != PW_TWIN_FIB_UNKNOWN)
		pw_verdict_after_fib(v, rc, pw_twin_fib_out[0], pw_twin_fib_out[1]);
}

#define PW_TWIN_PROGRAM(name)                                                                     \
	__attribute__((export_name("prog_" #name), used)) __u32 pw_twin_prog_##name(                 \
		__u32 data_len, __u32 skb_len, __u32 ifindex, __u32 ingress_ifindex, __u32 gso)

/* from_pod.c */
PW_TWIN_PROGRAM(from_pod)
{
	pw_twin_parse(data_len, skb_len, ifindex, gso);
	pw_decide_from_pod(&pw_twin_pkt_buf, &pw_twin_verdict_buf);
	pw_twin_apply(ingress_ifindex);
	return pw_twin_verdict_buf.reason;
}

/* from_uplink.c (a tunnelled packet is judged by its inner frame, as pw_vxlan_rx does) */
PW_TWIN_PROGRAM(from_uplink)
{
	const struct pw_node_cfg *cfg;

	pw_twin_parse(data_len, skb_len, ifindex, gso);
	if (data_len > PW_TWIN_DATA_MAX)
		data_len = PW_TWIN_DATA_MAX;
	cfg = pw_lookup_node_cfg();
	if (pw_vxlan_ours(&pw_twin_pkt_buf, pw_twin_data_buf, pw_twin_data_buf + data_len, cfg)) {
		pw_parse(pw_twin_data_buf + PW_VXLAN_INNER_OFF, pw_twin_data_buf + data_len,
			 skb_len - PW_VXLAN_OVERHEAD, ifindex, gso, &pw_twin_pkt_buf);
		pw_decide_to_local(&pw_twin_pkt_buf, &pw_twin_verdict_buf);
		pw_vxlan_decap_gate(&pw_twin_pkt_buf, &pw_twin_verdict_buf);
	} else {
		pw_decide_to_local(&pw_twin_pkt_buf, &pw_twin_verdict_buf);
	}
	pw_twin_apply(ingress_ifindex);
	return pw_twin_verdict_buf.reason;
}

/* to_pod.c (its conntrack recording is kernel-only bookkeeping) */
PW_TWIN_PROGRAM(to_pod)
{
	pw_twin_parse(data_len, skb_len, ifindex, gso);
	pw_decide_to_pod(&pw_twin_pkt_buf, &pw_twin_verdict_buf);
	return pw_twin_verdict_buf.reason;
}

/* to_uplink.c */
PW_TWIN_PROGRAM(to_uplink)
{
	pw_twin_parse(data_len, skb_len, ifindex, gso);
	if (pw_pol_egress_idle()) {
		pw_pol_clear(&pw_twin_verdict_buf);
		pw_verdict_init(&pw_twin_verdict_buf, PW_ACT_PASS, PW_REASON_UNSPEC);
		return PW_REASON_UNSPEC;
	}
	pw_decide_to_uplink(&pw_twin_pkt_buf, &pw_twin_verdict_buf);
	return pw_twin_verdict_buf.reason;
}

/* from_vxlan.c */
PW_TWIN_PROGRAM(from_vxlan)
{
	pw_twin_parse(data_len, skb_len, ifindex, gso);
	pw_decide_to_local(&pw_twin_pkt_buf, &pw_twin_verdict_buf);
	pw_twin_apply(ingress_ifindex);
	return pw_twin_verdict_buf.reason;
}
