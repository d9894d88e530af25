/* xdp_prefilter.c — optional XDP program on the node's uplink (attached by src/prefilter when the
 * agent runs with --prefilter, or by `podwire prefilter attach`), as PINDIR/progs/xdp_prefilter.
 *
 * Contract: drops IPv4 packets whose source address is in the prefilter LPM map before the
 * kernel allocates an skb, except failsafe traffic (prefilter_safe: the API server, the agent's
 * health port, configured extras). Everything else is XDP_PASS, untouched, and goes on to the
 * uplink's tc program (from_uplink) and the stack. Drops and failsafe passes are counted as
 * INGRESS in the counters map; the decision is pw_prefilter_decide() in lib/prefilter.h.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/drop.h"
#include "lib/prefilter.h"

SEC("xdp")
int xdp_prefilter(struct xdp_md *ctx)
{
	struct pw_pf_pkt p;
	__u32 action = PW_ACT_PASS;
	__u32 reason = PW_REASON_UNSPEC;

	if (pw_pf_parse((void *)(long)ctx->data, (void *)(long)ctx->data_end, &p))
		reason = pw_prefilter_decide(&p, &action);
	return pw_finish_xdp(ctx, reason, action);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
