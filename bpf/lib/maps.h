/* maps.h — the datapath's maps, BTF-style definitions in SEC(".maps").
 *
 * Contract: these definitions are the single source of truth for key/value layouts; the
 * loader pins them under PINDIR/maps/<name> and reuses pinned ones on reload (so type, key
 * size, value size and max_entries must not change without a migration), and the TypeScript
 * codecs are generated from this object's BTF. BPF only: needs <bpf/bpf_helpers.h> first.
 *
 * Every program source includes this header, so every definition (maps and the BTF anchor) is
 * __weak: the BPF static linker (bpftool gen object) merges weak definitions whose BTF matches
 * into ONE map shared by all programs, and rejects duplicate strong ones.
 */
#ifndef PODWIRE_MAPS_H
#define PODWIRE_MAPS_H

#include "common.h"

/* Node-specific capacity; the agent may pass -DPW_ENDPOINTS_MAX=N when it compiles. */
#ifndef PW_ENDPOINTS_MAX
#define PW_ENDPOINTS_MAX 65536
#endif

/* One route per Node podCIDR: room for twice the largest published cluster (GKE: 65,000 nodes).
 * The trie allocates on insert (BPF_F_NO_PREALLOC), so an empty capacity costs nothing. */
#ifndef PW_ROUTES_MAX
#define PW_ROUTES_MAX 131072
#endif

/* Flows the node's stack owns (lib/conntrack.h). LRU: under pressure the least recently used
 * entry goes, never an insert failure on the packet path. Node-specific via -DPW_CT_MAX=N. */
#ifndef PW_CT_MAX
#define PW_CT_MAX 131072
#endif

/* Pod IP -> endpoint on this node. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct pw_endpoint_key);
	__type(value, struct pw_endpoint);
	__uint(max_entries, PW_ENDPOINTS_MAX);
} endpoints SEC(".maps") __weak;

/* Pod CIDR -> the node it lives on (LOCAL for our own podCIDR). LPM tries must be created with
 * BPF_F_NO_PREALLOC. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pw_route_key);
	__type(value, struct pw_route);
	__uint(max_entries, PW_ROUTES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes SEC(".maps") __weak;

/* The node's run-time facts (mode, node IP, uplink/VXLAN ifindexes, VNI), one entry at key 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pw_node_cfg);
	__uint(max_entries, 1);
} node_cfg SEC(".maps") __weak;

/* reason * PW_DIR_MAX + direction -> {packets, bytes}. PERCPU_ARRAY: lock-free increments,
 * userspace sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct pw_counter);
	__uint(max_entries, PW_REASON_SLOTS * PW_DIR_MAX);
} counters SEC(".maps") __weak;

/* Conntrack: PW_CT_STACK entries name the initiators of flows that went through the node's stack,
 * so their replies go back through it (lib/decide.h pw_fast_path_or_stack). Written by from_pod
 * and to_pod (lib/conntrack.h), expired by the agent's GC. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct pw_ct_key);
	__type(value, struct pw_ct_entry);
	__uint(max_entries, PW_CT_MAX);
} ct SEC(".maps") __weak;

/* Per-CPU memo for the FLOW lookup of established flows (lib/lookups.h pw_lookup_ct_flow): slots
 * 0..PW_CT_CACHE_SLOTS-1 hold copies of FLOW entries this CPU found at the current policy revision,
 * direct-mapped by a hash of the key; slot PW_CT_CACHE_SLOTS holds the coarse clock as of the last
 * jiffy this CPU saw. Never written by the agent; an empty slot (all zero) matches nothing. */
#define PW_CT_CACHE_SLOTS 64
_Static_assert((PW_CT_CACHE_SLOTS & (PW_CT_CACHE_SLOTS - 1)) == 0, "PW_CT_CACHE_SLOTS is a power of two");

struct pw_ct_cache {
	__u64 jiffies;        /* clock slot: bpf_jiffies64() when now_ns was read */
	__u64 now_ns;         /* clock slot: bpf_ktime_get_coarse_ns() at that jiffy */
	__u64 seen_ns;        /* flow slot: the clock when the copy was taken from ct */
	struct pw_ct_key key; /* flow slot: the FLOW key of the copy (kind 0: empty) */
	struct pw_ct_entry entry;
};
_Static_assert(sizeof(struct pw_ct_cache) == 72, "pw_ct_cache layout is ABI");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct pw_ct_cache);
	__uint(max_entries, PW_CT_CACHE_SLOTS + 1);
} ct_cache SEC(".maps") __weak;

/* ---- NetworkPolicy (lib/policy.h; written by the agent's compiler, src/policy/) ---- */

#ifndef PW_POL_PORTS_MAX
#define PW_POL_PORTS_MAX 262144
#endif
#ifndef PW_POL_SLOTS_MAX
#define PW_POL_SLOTS_MAX 262144
#endif
/* Sets are shared by every ruleset on the node (one copy of "the pods of namespace x" however many
 * local pods' policies name it), so they grow with distinct peers, not with endpoints. */
#ifndef PW_POL_SETS_MAX
#define PW_POL_SETS_MAX 1048576
#endif
#ifndef PW_SVC_ADDRS_MAX
#define PW_SVC_ADDRS_MAX 131072
#endif

/* Revision and counts, one entry at key 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pw_pol_state);
	__uint(max_entries, 1);
} pol_state SEC(".maps") __weak;

/* Local endpoint -> its ingress/egress rulesets. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct pw_endpoint_key);
	__type(value, struct pw_pol_endpoint);
	__uint(max_entries, PW_ENDPOINTS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pol_endpoints SEC(".maps") __weak;

/* (ruleset, proto, port prefix) -> slots admitting it. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pw_pol_port_key);
	__type(value, struct pw_pol_ports);
	__uint(max_entries, PW_POL_PORTS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pol_ports SEC(".maps") __weak;

/* (ruleset, slot) -> the slot's peers and origin. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct pw_pol_slot_key);
	__type(value, struct pw_pol_slot);
	__uint(max_entries, PW_POL_SLOTS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pol_slots SEC(".maps") __weak;

/* (set, address prefix) -> member or excluded. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pw_pol_set_key);
	__type(value, struct pw_pol_member);
	__uint(max_entries, PW_POL_SETS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} pol_sets SEC(".maps") __weak;

/* Verdicts per endpoint/ruleset/slot (denials under PW_POL_SLOT_DENY). LRU: never an insert failure
 * on the packet path. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__type(key, struct pw_pol_stat_key);
	__type(value, struct pw_counter);
	__uint(max_entries, 65536);
} pol_stats SEC(".maps") __weak;

/* Service addresses kube-proxy DNATs (ClusterIPs, external and load-balancer IPs): egress to them
 * is judged after DNAT. Value: reserved flags. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __be32);
	__type(value, __u32);
	__uint(max_entries, PW_SVC_ADDRS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} svc_addrs SEC(".maps") __weak;
/* XDP prefilter (xdp_prefilter.c): source CIDRs dropped on the uplink before an skb exists.
 * Written by `podwire prefilter add|del`. Empty = nothing dropped. */
#ifndef PW_PREFILTER_MAX
#define PW_PREFILTER_MAX 65536
#endif

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pw_prefilter_key);
	__type(value, struct pw_prefilter_rule);
	__uint(max_entries, PW_PREFILTER_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} prefilter SEC(".maps") __weak;

/* The prefilter's failsafe list (the agent writes the API server and its health port, plus the
 * configured extras): consulted only for a listed source. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct pw_failsafe_key);
	__type(value, __u32);
	__uint(max_entries, 256);
} prefilter_safe SEC(".maps") __weak;
/* Per-pod bandwidth limits (lib/bandwidth.h), keyed like endpoints. Only endpoints with
 * PW_EP_F_BW_* flags are looked up here. The lock serializes the bucket update across CPUs. */
struct pw_bw {
	struct bpf_spin_lock lock;
	__u32 flags;                 /* reserved, written as 0 */
	struct pw_bw_dir dir[PW_DIR_MAX];
};
_Static_assert(sizeof(struct pw_bw) == 72, "pw_bw layout is ABI");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct pw_endpoint_key);
	__type(value, struct pw_bw);
	__uint(max_entries, PW_ENDPOINTS_MAX);
} bw SEC(".maps") __weak;

/* Next hops toward other nodes (native mode; lib/forward.h pw_nh_*): remote node IP -> what the
 * FIB answered for it (egress device, gateway, MACs) and when. Filled by the datapath itself on a
 * FIB SUCCESS and trusted for PW_NH_FRESH_NS, so a packet to a remote pod costs one hash lookup
 * and a direct bpf_redirect() instead of bpf_fib_lookup() + the neighbour layer; the refreshing
 * packet goes through bpf_redirect_neigh(), which keeps the kernel's neighbour entry confirmed.
 * LRU: a cluster with more remote nodes than entries only falls back to the FIB more often. */
#ifndef PW_NH_CACHE_MAX
#define PW_NH_CACHE_MAX 16384
#endif

struct pw_nh {
	__u64 stamp_ns;   /* bpf_ktime_get_coarse_ns() of the FIB answer */
	__u32 ifindex;    /* egress device */
	__be32 nexthop;   /* gateway or the node itself (on-link) */
	__u8 dmac[6];     /* the next hop's MAC */
	__u8 smac[6];     /* the egress device's MAC */
	__u32 pad;        /* written as 0 */
};
_Static_assert(sizeof(struct pw_nh) == 32, "pw_nh layout is ABI");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __be32);
	__type(value, struct pw_nh);
	__uint(max_entries, PW_NH_CACHE_MAX);
} nh_cache SEC(".maps") __weak;

/* BTF anchor. clang emits BTF only for types reachable from globals, so without this the enums
 * (reason names are ABI for the counters map) and the shared decision structs would be missing
 * from the object, and src/maps/generated/layouts.ts could not be generated from it. The
 * section is not .data/.rodata/.bss, so libbpf creates no map for it and loads nothing (it
 * logs "skipping unrecognized data section", which is expected). */
struct pw_btf_anchor {
	enum pw_reason reason;
	enum pw_direction direction;
	enum pw_action action;
	enum pw_family family;
	enum pw_l3 l3;
	enum pw_mode mode;
	enum pw_route_kind route_kind;
	enum pw_fib_rc fib_rc;
	enum pw_l4 l4;
	enum pw_ct_kind ct_kind;
	enum pw_ct_origin ct_origin;
	enum pw_endpoint_flags endpoint_flags;
	enum pw_ct_flow_flags ct_flow_flags;
	enum pw_pol_step pol_step;
	enum pw_pol_slot_flags pol_slot_flags;
	enum pw_failsafe_kind failsafe_kind;
	enum pw_ep_flag ep_flag;
	enum pw_node_flags node_flags;
	struct pw_pkt pkt;
	struct pw_verdict verdict;
};
const struct pw_btf_anchor pw_btf_anchor SEC(".podwire.btf") __attribute__((used)) __weak = {};

#endif /* PODWIRE_MAPS_H */
