/* maps.h — the datapath's maps, BTF-style definitions in SEC(".maps").
 *
 * Contract: these definitions are the single source of truth for key/value layouts; the
 * loader pins them under PINDIR/maps/<name> and reuses pinned ones on reload (so type, key
 * size, value size and max_entries must not change without a migration), and the TypeScript
 * codecs are generated from this object's BTF. BPF only: needs <bpf/bpf_helpers.h> first.
 */
#ifndef PODWIRE_MAPS_H
#define PODWIRE_MAPS_H

#include "common.h"

/* Node-specific capacity; the agent may pass -DPW_ENDPOINTS_MAX=N when it compiles. */
#ifndef PW_ENDPOINTS_MAX
#define PW_ENDPOINTS_MAX 65536
#endif

/* Pod IP -> endpoint on this node. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct pw_endpoint_key);
	__type(value, struct pw_endpoint);
	__uint(max_entries, PW_ENDPOINTS_MAX);
} endpoints SEC(".maps");

/* reason * PW_DIR_MAX + direction -> {packets, bytes}. PERCPU_ARRAY: lock-free increments,
 * userspace sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct pw_counter);
	__uint(max_entries, PW_REASON_MAX * PW_DIR_MAX);
} counters SEC(".maps");

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
	struct pw_pkt pkt;
	struct pw_verdict verdict;
};
const struct pw_btf_anchor pw_btf_anchor SEC(".podwire.btf") __attribute__((used)) = {};

#endif /* PODWIRE_MAPS_H */
