/* from_pod.c — tc ingress on the HOST side of every pod veth (attached as PINDIR/progs/from_pod).
 *
 * Contract: sees every packet a pod sends. ARP and non-IPv4 go to the host stack; IPv4 must come
 * from the endpoint registered for this veth (IP, ifindex and MAC) or is dropped. Destination a
 * local endpoint: rewritten (MACs, TTL-1, checksum) and bpf_redirect_peer()ed into that pod.
 * Destination in another node's podCIDR (routes map): native mode — FIB lookup toward the node
 * IP and bpf_redirect_neigh() out of the uplink with that next hop; vxlan mode — tunnel key to
 * the node IP + bpf_redirect() to the collect-metadata VXLAN device; TTL-1 on both. Anything
 * else (node IPs, the outside world) goes to the stack. The host stack never forwards pod-to-pod
 * traffic. Every path ends in pw_finish() (lib/drop.h), which counts the reason (EGRESS) and
 * records the verdict in skb->cb. The decision lives in lib/decide.h (shared with the wasm twin).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/drop.h"
#include "lib/decide.h"
#include "lib/lookups.h"
#include "lib/forward.h"

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	struct pw_pkt pkt;
	struct pw_verdict v;

	pw_pull_headers(skb);
	/* verifier: data/data_end are re-read after the pull, which invalidates packet pointers */
	pw_parse((const __u8 *)(long)skb->data, (const __u8 *)(long)skb->data_end,
		 skb->len, skb->ifindex, &pkt);
	pw_decide_from_pod(&pkt, &v);
	pw_apply(skb, &pkt, &v);
	return pw_finish(skb, &v, PW_DIR_EGRESS);
}

/* GPL-compatible so every helper is available; the TypeScript side is Apache-2.0. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
