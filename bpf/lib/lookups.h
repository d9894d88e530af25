/* lookups.h — the BPF definitions of the lookup prototypes that lib/decide.h declares (the wasm
 * twin defines the same four through imported host functions). Include right after decide.h.
 * BPF only: needs <bpf/bpf_helpers.h> and lib/maps.h first.
 */
#ifndef PODWIRE_LOOKUPS_H
#define PODWIRE_LOOKUPS_H

#include "maps.h"
#include "decide.h"

static inline __attribute__((always_inline)) const struct pw_endpoint *
pw_lookup_endpoint(const struct pw_endpoint_key *key)
{
	return bpf_map_lookup_elem(&endpoints, key);
}

static inline __attribute__((always_inline)) const struct pw_route *
pw_lookup_route(const struct pw_route_key *key)
{
	return bpf_map_lookup_elem(&routes, key);
}

static inline __attribute__((always_inline)) const struct pw_node_cfg *
pw_lookup_node_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&node_cfg, &zero);
}

static inline __attribute__((always_inline)) const struct pw_ct_entry *
pw_lookup_ct(const struct pw_ct_key *key)
{
	return bpf_map_lookup_elem(&ct, key);
}

#endif /* PODWIRE_LOOKUPS_H */
