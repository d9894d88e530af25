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

/* A FLOW entry is refreshed where it is found, so an established flow costs one lookup and no
 * second one to refresh it (lib/conntrack.h pw_ct_policy() leaves established flows alone). The
 * write happens at most once a second per entry, and then also to the partner entry, so both
 * directions age together. The coarse clock (CLOCK_MONOTONIC at tick granularity) is a few ns
 * instead of a clock read; the agent's GC works in minutes. The twin does not model timestamps:
 * decisions never read them. */
static inline __attribute__((always_inline)) void pw_ct_flow_seen(const struct pw_ct_key *key, struct pw_ct_entry *e)
{
	struct pw_ct_key partner;
	struct pw_ct_entry *p;
	__u64 now = bpf_ktime_get_coarse_ns();

	if (now - e->last_seen_ns <= 1000000000ULL)
		return;
	e->last_seen_ns = now;
	partner.addr = key->peer;
	partner.peer = key->addr;
	partner.port = key->peer_port;
	partner.peer_port = key->port;
	partner.proto = key->proto;
	partner.kind = PW_CT_FLOW;
	partner.pad[0] = 0;
	partner.pad[1] = 0;
	p = bpf_map_lookup_elem(&ct, &partner);
	if (p)
		p->last_seen_ns = now;
}

static inline __attribute__((always_inline)) const struct pw_ct_entry *
pw_lookup_ct(const struct pw_ct_key *key)
{
	struct pw_ct_entry *e = bpf_map_lookup_elem(&ct, key);

	if (e && key->kind == PW_CT_FLOW)
		pw_ct_flow_seen(key, e);
	return e;
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
