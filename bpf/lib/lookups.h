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

static inline __attribute__((always_inline)) const struct pw_pol_state *pw_lookup_pol_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pol_state, &zero);
}

static inline __attribute__((always_inline)) const struct pw_pol_endpoint *
pw_lookup_pol_endpoint(const struct pw_endpoint_key *key)
{
	return bpf_map_lookup_elem(&pol_endpoints, key);
}

static inline __attribute__((always_inline)) const struct pw_pol_ports *
pw_lookup_pol_ports(const struct pw_pol_port_key *key)
{
	return bpf_map_lookup_elem(&pol_ports, key);
}

static inline __attribute__((always_inline)) const struct pw_pol_slot *
pw_lookup_pol_slot(const struct pw_pol_slot_key *key)
{
	return bpf_map_lookup_elem(&pol_slots, key);
}

static inline __attribute__((always_inline)) const struct pw_pol_member *
pw_lookup_pol_set(const struct pw_pol_set_key *key)
{
	return bpf_map_lookup_elem(&pol_sets, key);
}

static inline __attribute__((always_inline)) const __u32 *pw_lookup_svc_addr(const __be32 *addr)
{
	return bpf_map_lookup_elem(&svc_addrs, addr);
}

#endif /* PODWIRE_LOOKUPS_H */
