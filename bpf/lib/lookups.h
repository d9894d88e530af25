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

/* Established flows of isolated pods (issue 10: CT-hit cost with policy <= 1.15x the no-policy hot
 * path). A FLOW entry is refreshed where it is found, so an established flow needs no second lookup
 * to refresh it (lib/conntrack.h pw_ct_policy() leaves established flows alone): last_seen_ns is
 * rewritten at most once a second, and then also the partner entry's, so both directions age
 * together (the agent's GC works in minutes).
 *
 * Two per-CPU shortcuts (the ct_cache map, lib/maps.h), neither of which changes a decision (the wasm
 * twin, which has neither and no timestamps, must agree packet for packet):
 *  - the clock: bpf_jiffies64() is inlined by the verifier (a load), bpf_ktime_get_coarse_ns() is a
 *    helper call (~15 ns per packet measured). The coarse clock only moves on a tick, which is when
 *    jiffies moves, so it is read once per jiffy per CPU and kept in ct_cache.
 *  - the entry: a copy of a FLOW entry this CPU found at the current policy revision answers the
 *    next lookups of the same key for up to PW_CT_CACHE_NS without hashing (~30 ns of the 45 ns a
 *    policy CT hit cost). The copies are direct-mapped, PW_CT_CACHE_SLOTS per CPU, by a fold of the
 *    key's words: a CPU's busy flows mostly keep their slots; flows that collide in a slot pay the
 *    compare and the lookup they paid before, and the slot follows the last one.
 *    The copy is as good as the entry because: a policy change bumps pol_state.revision and a copy
 *    of another revision is never used; only current-revision (admitted) entries are copied, so
 *    denied flows are judged per packet as before; pw_ct_policy() empties this CPU's slots of the
 *    entries it rewrites; the agent deletes FLOW entries only in GC, after minutes of idleness,
 *    which a flow using the copy cannot reach (the copy expires after PW_CT_CACHE_NS and the lookup
 *    that replaces it refreshes last_seen_ns); an entry the LRU evicts or another CPU rewrites at the
 *    same revision (a flow judged again from scratch) would be admitted again by the same rules, so
 *    answering from the copy for at most PW_CT_CACHE_NS more gives the verdict the map gives.
 *    Userspace that rewrites FLOW entries without bumping the revision (test harnesses) must empty
 *    ct_cache (test/twin/write-maps.ts does). */
#ifndef PW_CT_CACHE_NS
#define PW_CT_CACHE_NS 1000000000ULL
#endif
/* -DPW_CT_CACHE_NS=0 never answers from the copy (the compiler drops the compare; the clock and the
 * fill stay): the bench's uncached rows, what a flow whose packets interleave with other flows' on a
 * CPU pays (one ct hash lookup, as before the copy). */

static inline __attribute__((always_inline)) void
pw_ct_flow_seen(const struct pw_ct_key *key, struct pw_ct_entry *e, __u64 now)
{
	struct pw_ct_key partner;
	struct pw_ct_entry *p;

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

/* The ct_cache slot of a FLOW key (lib/conntrack.h empties it when it rewrites the entry). */
static inline __attribute__((always_inline)) __u32 pw_ct_cache_slot(const struct pw_ct_key *key)
{
	__u32 h = key->addr ^ key->peer ^ ((__u32)key->port << 16 | key->peer_port) ^ key->proto;

	h ^= h >> 16;
	h ^= h >> 8;
	return h & (PW_CT_CACHE_SLOTS - 1);
}

static inline __attribute__((always_inline)) const struct pw_ct_entry *
pw_lookup_ct_flow(const struct pw_ct_key *key)
{
	__u32 clock_slot = PW_CT_CACHE_SLOTS, slot = pw_ct_cache_slot(key);
	struct pw_ct_cache *clk = bpf_map_lookup_elem(&ct_cache, &clock_slot);
	struct pw_ct_cache *c = bpf_map_lookup_elem(&ct_cache, &slot);
	const struct pw_pol_state *st = pw_lookup_pol_state();
	__u32 rev = st ? st->revision : 0;
	struct pw_ct_entry *e;
	__u64 j, now;

	/* verifier: both indexes are below max_entries, so neither lookup fails */
	if (!clk || !c)
		return bpf_map_lookup_elem(&ct, key);
	j = bpf_jiffies64();
	if (clk->jiffies != j) {
		clk->jiffies = j;
		clk->now_ns = bpf_ktime_get_coarse_ns();
	}
	now = clk->now_ns;
	/* an empty slot has kind 0 and never matches */
	if (now - c->seen_ns < PW_CT_CACHE_NS && c->entry.revision == rev && c->key.addr == key->addr &&
	    c->key.peer == key->peer && c->key.port == key->port && c->key.peer_port == key->peer_port &&
	    c->key.proto == key->proto && c->key.kind == PW_CT_FLOW)
		return &c->entry;
	e = bpf_map_lookup_elem(&ct, key);
	if (!e)
		return 0;
	pw_ct_flow_seen(key, e, now);
	if (e->revision == rev) {
		c->key = *key;
		c->entry = *e;
		c->seen_ns = now;
	}
	return e;
}

static inline __attribute__((always_inline)) const struct pw_ct_entry *
pw_lookup_ct(const struct pw_ct_key *key)
{
	if (key->kind == PW_CT_FLOW)
		return pw_lookup_ct_flow(key);
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
