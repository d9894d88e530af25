/* tc_prefilter.c — the `prefilter-tc` row of the prefilter benchmark (bench/prefilter): the very
 * same parse and decision as the XDP prefilter (lib/prefilter.h, the same pinned prefilter,
 * prefilter_safe and counters maps), run at tc ingress instead, i.e. after the kernel allocated
 * an skb. The XDP-vs-tc difference is then exactly the hook. Not part of the datapath (bpf/). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/drop.h"
#include "lib/prefilter.h"

SEC("tc")
int tc_prefilter(struct __sk_buff *skb)
{
	struct pw_pf_pkt p;
	__u32 action = PW_ACT_PASS;
	__u32 reason = PW_REASON_UNSPEC;

	if (pw_pf_parse((void *)(long)skb->data, (void *)(long)skb->data_end, &p))
		reason = pw_prefilter_decide(&p, &action);
	if (reason != PW_REASON_UNSPEC)
		pw_count(reason, PW_DIR_INGRESS, skb->len);
	return action == PW_ACT_DROP ? TC_ACT_SHOT : TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
