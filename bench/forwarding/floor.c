/* floor.c — the floor of the forwarding bench (bench/forwarding/floor.ts): the least a tc program
 * on podwire's wiring can do and still forward. Not part of the datapath (bpf/). Every address is
 * a compile-time constant (-D, one object per node), so there is no map lookup at all:
 *   floor_peer  (same node, tcx ingress of both host veths): bpf_redirect_peer to the other one.
 *   floor_out   (native, tcx ingress of the pod's host veth): fixed MACs, bpf_redirect to the uplink.
 *   floor_in    (native, tcx ingress of the uplink): packets for the local pod's IP are
 *               bpf_redirect_peer'd into the pod; everything else goes to the stack.
 * No TTL, no checksum, no policy, no counters: what "podwire minus podwire" costs. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef FLOOR_IF_A
#define FLOOR_IF_A 0 /* same node: host veth of pod A */
#endif
#ifndef FLOOR_IF_B
#define FLOOR_IF_B 0 /* same node: host veth of pod B */
#endif
#ifndef FLOOR_UPLINK
#define FLOOR_UPLINK 0 /* native: this node's uplink ifindex */
#endif
#ifndef FLOOR_POD_IF
#define FLOOR_POD_IF 0 /* native: the local pod's host veth ifindex */
#endif
#ifndef FLOOR_POD_IP
#define FLOOR_POD_IP 0 /* native: the local pod's IPv4, host order */
#endif
/* native: dst MAC (the other node's uplink) then src MAC (this node's uplink), as 12 bytes */
#ifndef FLOOR_MACS
#define FLOOR_MACS 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#endif

SEC("tc")
int floor_peer(struct __sk_buff *skb)
{
	return bpf_redirect_peer(skb->ifindex == FLOOR_IF_A ? FLOOR_IF_B : FLOOR_IF_A, 0);
}

SEC("tc")
int floor_out(struct __sk_buff *skb)
{
	const __u8 macs[12] = { FLOOR_MACS };

	if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(FLOOR_UPLINK, 0);
}

SEC("tc")
int floor_in(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (ip->daddr != bpf_htonl(FLOOR_POD_IP))
		return TC_ACT_OK;
	return bpf_redirect_peer(FLOOR_POD_IF, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
