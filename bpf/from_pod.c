/* from_pod.c — tc ingress on the HOST side of every pod veth (attached as PINDIR/progs/from_pod).
 *
 * Contract: sees every packet a pod sends. ARP and non-IPv4 go to the host stack; IPv4 must come
 * from the endpoint registered for this veth (IP, ifindex and MAC) or is dropped; a destination
 * that is a local endpoint is rewritten (MACs, TTL-1, checksum) and bpf_redirect_peer()ed into
 * that pod, bypassing the host stack; any other destination goes to the stack. Every path ends
 * in pw_finish() (lib/drop.h), which counts the reason and records the verdict in skb->cb.
 * The decision itself lives in lib/decide.h (shared with the wasm twin).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/drop.h"
#include "lib/decide.h"

static inline __attribute__((always_inline)) const struct pw_endpoint *
pw_lookup_endpoint(const struct pw_endpoint_key *key)
{
	return bpf_map_lookup_elem(&endpoints, key);
}

/* verifier: writes go through bpf_skb_store_bytes rather than direct packet access: a direct
 * write makes the verifier add an unclone prologue that every packet (TCP skbs are clones) would
 * pay, while the helper unclones only the packets we actually forward (checked: the xlated
 * program starts without the skb->cloned test). */
static __always_inline int pw_rewrite(struct __sk_buff *skb, const struct pw_verdict *v, __u8 protocol)
{
	__u8 macs[12];
	__u8 l3[4];
	int i;

	for (i = 0; i < 6; i++) {
		macs[i] = v->dmac[i];
		macs[6 + i] = v->smac[i];
	}
	/* TTL, protocol and checksum are adjacent (IPv4 header bytes 8..11): one write */
	l3[0] = v->ttl;
	l3[1] = protocol;
	l3[2] = (__u8)(v->check >> 8);
	l3[3] = (__u8)(v->check & 0xff);

	if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0))
		return -1;
	if (bpf_skb_store_bytes(skb, PW_ETH_HLEN + 8, l3, sizeof(l3), 0))
		return -1;
	return 0;
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	struct pw_pkt pkt;
	struct pw_verdict v;

	/* Headers of a non-linear skb may sit outside [data, data_end): pull the Ethernet + IPv4
	 * base header into the linear area (rare; only then does this unclone). */
	if ((long)skb->data + PW_ETH_HLEN + PW_IPV4_MIN_HLEN > (long)skb->data_end &&
	    skb->len >= PW_ETH_HLEN + PW_IPV4_MIN_HLEN)
		bpf_skb_pull_data(skb, PW_ETH_HLEN + PW_IPV4_MIN_HLEN);

	/* verifier: data/data_end are re-read after the pull, which invalidates packet pointers */
	pw_parse((const __u8 *)(long)skb->data, (const __u8 *)(long)skb->data_end,
		 skb->len, skb->ifindex, &pkt);
	pw_decide_from_pod(&pkt, &v);

	if (v.action == PW_ACT_REDIRECT_PEER && pw_rewrite(skb, &v, pkt.protocol))
		pw_verdict_init(&v, PW_ACT_DROP, PW_REASON_DROP_REWRITE_FAILED);
	return pw_finish(skb, &v, PW_DIR_EGRESS);
}

/* GPL-compatible so every helper is available; the TypeScript side is Apache-2.0. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
