/* empty.c — the floor of the per-packet program cost benchmark (bench/prog-cost): a tc program
 * that does nothing but return TC_ACT_OK. BPF_PROG_TEST_RUN's own per-run overhead (context
 * setup, timing loop) is inside every figure; this program measures exactly that overhead, so
 * "datapath path − empty" is what podwire's code costs. Not part of the datapath (bpf/). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
