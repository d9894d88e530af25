/* monitor.h — the datapath's event stream for `podwire monitor`: a ring buffer of verdict events,
 * a gate the programs check, and a per-CPU rate limit. Called from pw_finish() (lib/drop.h), the
 * one exit helper, so every verdict of every program passes here exactly once.
 *
 * Contract:
 *  - Gate: monitor_cfg[0].lease_ns. 0 = closed: the programs do one (inlined) array lookup and one
 *    load and compare, no helper call, no ring-buffer work. A listener (build/bin/pw-monitor) sets
 *    lease_ns = now + lease (CLOCK_MONOTONIC) and renews it while it runs; it writes 0 when it
 *    exits cleanly. A listener that dies without that (SIGKILL) stops renewing: once the clock
 *    passes the lease, the first verdict of a monitored type sets it back to 0 with a
 *    compare-and-swap (a listener's renewal in between wins), so the gate is closed again.
 *  - What is emitted (monitor_cfg[0].types, a bitmask of 1 << enum pw_monitor_type): DROP for
 *    every drop verdict (PW_ACT_DROP: every DROP_* reason and any POLICY_DENIED_* reason), TRACE
 *    for one in `sample` of the other verdicts (forwards and passes to the stack), per CPU.
 *    POLICY for verdicts the NetworkPolicy rules made (lib/policy.h: a flow admitted or re-admitted
 *    by a rule slot, or denied), with the ruleset, slot and direction; when the listener did not
 *    ask for POLICY, a denial is a DROP event.
 *  - Rate limit: at most monitor_cfg[0].rate events per CPU per second (fixed 1 s windows per
 *    CPU). Events over the limit, and events the ring buffer had no room for, are not emitted but
 *    counted per CPU in monitor_cpu (lost_rate, lost_full), which the CLI and /metrics report.
 *  - The 5-tuple is read from the packet with bpf_skb_load_bytes (IPv4 after an Ethernet header;
 *    ports for TCP/UDP, the echo id for ICMP echo in both), only while the gate is open.
 * BPF only: needs <linux/bpf.h>, <bpf/bpf_helpers.h> and lib/maps.h first.
 */
#ifndef PODWIRE_MONITOR_H
#define PODWIRE_MONITOR_H

#include "common.h"
#include "maps.h"

/* Event kinds (pw_monitor_event.type); also bit numbers of pw_monitor_cfg.types. */
enum pw_monitor_type {
	PW_MONITOR_NONE = 0,
	PW_MONITOR_DROP = 1,   /* a drop verdict */
	PW_MONITOR_POLICY = 2, /* a verdict of the NetworkPolicy rules (admitted or denied) */
	PW_MONITOR_TRACE = 3,  /* a sampled forward / pass to the stack */
	PW_MONITOR_MAX,
};

/* monitor_cfg value (ARRAY, one entry at key 0), written by the listener. */
struct pw_monitor_cfg {
	__u64 lease_ns; /* the gate: events only while bpf_ktime_get_ns() < lease_ns; 0 = closed */
	__u32 types;    /* bitmask of 1 << enum pw_monitor_type */
	__u32 sample;   /* TRACE: one in `sample` non-drop verdicts per CPU; 0 = none */
	__u32 rate;     /* events per CPU per second; more are counted in lost_rate */
	__u32 pad;
};
_Static_assert(sizeof(struct pw_monitor_cfg) == 24, "pw_monitor_cfg layout is ABI");

/* monitor_cpu value (PERCPU_ARRAY, one entry at key 0): the limiter's window and the counts. */
struct pw_monitor_cpu {
	__u64 window_ns;   /* start of the current 1 s window */
	__u64 emitted;     /* events written to the ring buffer */
	__u64 lost_rate;   /* events over the per-CPU rate limit */
	__u64 lost_full;   /* events the ring buffer had no room for */
	__u32 window_used; /* events emitted in the current window */
	__u32 sampled;     /* TRACE: non-drop verdicts seen since the last sampled one */
};
_Static_assert(sizeof(struct pw_monitor_cpu) == 40, "pw_monitor_cpu layout is ABI");

/* One ring-buffer record. Addresses and ports in network byte order, as in the packet. */
struct pw_monitor_event {
	__u64 time_ns;      /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u32 ifindex;      /* skb->ifindex: the host veth (from_pod), the uplink or VXLAN device */
	__u32 len;          /* skb->len */
	__u32 reason;       /* enum pw_reason */
	__be32 saddr;       /* 0 when the packet is not IPv4 */
	__be32 daddr;
	__be16 sport;       /* TCP/UDP ports; ICMP echo: the echo id in both; else 0 */
	__be16 dport;
	__u8 protocol;      /* IPv4 protocol number */
	__u8 type;          /* enum pw_monitor_type */
	__u8 direction;     /* enum pw_direction */
	__u8 action;        /* enum pw_action */
	__u32 policy_id;    /* POLICY: the ruleset that decided (lib/policy.h) */
	__u16 policy_rule;  /* POLICY: its rule slot (0xfe: no rule admits, 0xfd: the node itself) */
	__u8 policy_dir;    /* POLICY: enum pw_direction judged */
	__u8 pad;
	__u32 cpu;          /* bpf_get_smp_processor_id() */
};
_Static_assert(sizeof(struct pw_monitor_event) == 48, "pw_monitor_event layout is ABI");

/* Default ring size: 1 MiB = 21,845 events of 48 B (+ 8 B header each). Power of two, page aligned. */
#ifndef PW_MONITOR_RING_BYTES
#define PW_MONITOR_RING_BYTES (1 << 20)
#endif

#define PW_MONITOR_WINDOW_NS 1000000000ULL

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pw_monitor_cfg);
	__uint(max_entries, 1);
} monitor_cfg SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct pw_monitor_cpu);
	__uint(max_entries, 1);
} monitor_cpu SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PW_MONITOR_RING_BYTES);
} monitor_events SEC(".maps") __weak;

/* BTF anchor for the event struct and the type enum (see maps.h pw_btf_anchor): the TypeScript
 * decoder is generated from these. */
struct pw_monitor_btf_anchor {
	enum pw_monitor_type type;
	struct pw_monitor_event event;
};
const struct pw_monitor_btf_anchor pw_monitor_btf_anchor SEC(".podwire.btf") __attribute__((used)) __weak = {};

/* The 5-tuple of an IPv4 packet behind an Ethernet header, into e (zero when not IPv4). */
static __always_inline void pw_monitor_tuple(struct __sk_buff *skb, struct pw_monitor_event *e)
{
	__u8 ip[20];
	__u8 l4[8];
	__u32 ihl;

	if (skb->protocol != __builtin_bswap16(PW_ETH_P_IP) /* little-endian target */)
		return;
	if (bpf_skb_load_bytes(skb, PW_ETH_HLEN, ip, sizeof(ip)) < 0)
		return;
	__builtin_memcpy(&e->saddr, &ip[12], 4);
	__builtin_memcpy(&e->daddr, &ip[16], 4);
	e->protocol = ip[9];
	/* a fragment other than the first has no L4 header */
	if ((ip[6] & 0x1f) != 0 || ip[7] != 0)
		return;
	ihl = (ip[0] & 0x0f) * 4;
	if (ihl < PW_IPV4_MIN_HLEN)
		return;
	if (bpf_skb_load_bytes(skb, PW_ETH_HLEN + ihl, l4, sizeof(l4)) < 0)
		return;
	if (ip[9] == PW_IPPROTO_TCP || ip[9] == PW_IPPROTO_UDP) {
		__builtin_memcpy(&e->sport, &l4[0], 2);
		__builtin_memcpy(&e->dport, &l4[2], 2);
	} else if (ip[9] == PW_IPPROTO_ICMP && (l4[0] == 0 || l4[0] == 8)) {
		__builtin_memcpy(&e->sport, &l4[4], 2);
		__builtin_memcpy(&e->dport, &l4[4], 2);
	}
}

/* The gate is open: classify, sample, check the lease, rate-limit, emit. Not inlined, so the
 * closed gate in pw_finish() stays a lookup and a compare in every program. Cheapest checks
 * first: a verdict the listener did not ask for, or a forward not sampled, costs no clock read.
 * The lease and the limiter's window use bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC_COARSE:
 * no clocksource read, behind CLOCK_MONOTONIC by at most a tick, which a lease of seconds and a
 * 1 s window do not notice); only an emitted event reads the precise clock for its timestamp. */
static __noinline void pw_monitor_emit(struct __sk_buff *skb, struct pw_monitor_cfg *cfg, const struct pw_verdict *v,
				       __u32 dir)
{
	/* a verdict the NetworkPolicy rules made (a new or re-judged flow admitted, or denied) is a
	 * POLICY event when the listener asked for those; a denial is otherwise a DROP like any other */
	int judged = v->pol_step == PW_POL_NEW || v->pol_step == PW_POL_RECHECK || v->pol_step == PW_POL_DENIED;
	__u32 type = judged && (cfg->types & (1u << PW_MONITOR_POLICY)) ? PW_MONITOR_POLICY
		     : v->action == PW_ACT_DROP				  ? PW_MONITOR_DROP
									  : PW_MONITOR_TRACE;
	struct pw_monitor_cpu *st;
	struct pw_monitor_event *e;
	__u32 zero = 0;
	__u64 lease, now;

	if (!(cfg->types & (1u << type)))
		return;
	st = bpf_map_lookup_elem(&monitor_cpu, &zero);
	/* verifier: the lookup may fail in its eyes; key 0 always exists */
	if (!st)
		return;
	if (type == PW_MONITOR_TRACE) {
		__u32 n = cfg->sample;

		if (n == 0)
			return;
		if (++st->sampled < n)
			return;
		st->sampled = 0;
	}
	lease = cfg->lease_ns;
	now = bpf_ktime_get_coarse_ns();
	if (now >= lease) {
		/* the listener is gone (or stalled past its lease): close the gate unless it renewed */
		__sync_val_compare_and_swap(&cfg->lease_ns, lease, 0);
		return;
	}
	if (now - st->window_ns >= PW_MONITOR_WINDOW_NS) {
		st->window_ns = now;
		st->window_used = 0;
	}
	if (st->window_used >= cfg->rate) {
		st->lost_rate++;
		return;
	}
	st->window_used++;
	e = bpf_ringbuf_reserve(&monitor_events, sizeof(*e), 0);
	if (!e) {
		st->lost_full++;
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = bpf_ktime_get_ns();
	e->ifindex = skb->ifindex;
	e->len = skb->len;
	e->reason = v->reason;
	e->type = type;
	e->direction = dir;
	e->action = v->action;
	e->cpu = bpf_get_smp_processor_id();
	if (type == PW_MONITOR_POLICY) {
		/* the deciding direction: the denying one, else ingress when judged, else egress; the
		 * ruleset and its slot name the rule (`podwire policy` / the agent's model resolve them) */
		int in = v->pol_slot_in != PW_POL_SLOT_NONE &&
			 (v->pol_slot_in == PW_POL_SLOT_DENY || v->pol_slot_eg != PW_POL_SLOT_DENY);

		e->policy_id = in ? v->pol_ruleset_in : v->pol_ruleset_eg;
		e->policy_rule = in ? v->pol_slot_in : v->pol_slot_eg;
		e->policy_dir = in ? PW_DIR_INGRESS : PW_DIR_EGRESS;
	}
	pw_monitor_tuple(skb, e);
	st->emitted++;
	/* default flags: adaptive wakeup (only when the reader has caught up), so a flood does not
	 * cost one wakeup per event */
	bpf_ringbuf_submit(e, 0);
}

/* Every verdict: with the gate closed, one inlined array lookup and one compare. */
static __always_inline void pw_monitor(struct __sk_buff *skb, const struct pw_verdict *v, __u32 dir)
{
	__u32 zero = 0;
	struct pw_monitor_cfg *cfg = bpf_map_lookup_elem(&monitor_cfg, &zero);

	if (cfg && cfg->lease_ns != 0)
		pw_monitor_emit(skb, cfg, v, dir);
}

#endif /* PODWIRE_MONITOR_H */
