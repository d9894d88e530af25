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
	enum pw_ep_flag ep_flag;
	struct pw_pkt pkt;
	struct pw_verdict verdict;
};
const struct pw_btf_anchor pw_btf_anchor SEC(".podwire.btf") __attribute__((used)) __weak = {};

#endif /* PODWIRE_MAPS_H */
