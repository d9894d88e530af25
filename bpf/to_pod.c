/* to_pod.c — tc egress on the HOST side of every pod veth (attached as PINDIR/progs/to_pod).
 *
 * Contract: sees only what the node's stack sends into a pod — the fast path's bpf_redirect_peer()
 * skips the host veth's egress. Every such IPv4 flow may carry NAT state of the stack (a hostPort or
 * NodePort DNAT, a Service backend reached through the stack), so its initiator is recorded in the
 * ct map (lib/conntrack.h): the pod's replies then go back through the stack instead of the fast
 * path. NetworkPolicy is judged here for what the stack delivers (pw_decide_to_pod: ingress of the
 * pod, egress of a local source whose Service DNAT happened after from_pod), and a pod with an
 * ingress bandwidth limit (bw map) is charged here for everything the stack delivers (node -> pod,
 * Services, NAT replies). A denial (POLICY_DENIED_*) or a packet over the limit
 * (DROP_BW_INGRESS) is dropped and counted through pw_finish() (INGRESS). Everything else returns
 * TC_ACT_UNSPEC uncounted (the packet was counted where it entered), never rewritten, so other tc
 * users on the hook still run.
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
#include "lib/conntrack.h"
#include "lib/bandwidth.h"

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	struct pw_pkt pkt;
	struct pw_verdict v;

	pw_pull_headers(skb);
	pw_parse_skb(skb, &pkt);
	pw_decide_to_pod(&pkt, &v);
	pw_ct_policy(&pkt, &v, PW_CT_ORIGIN_TO_POD, skb->len);
	if (v.action == PW_ACT_DROP)
		return pw_finish(skb, &v, PW_DIR_INGRESS);
	pw_ct_record(&pkt, PW_CT_ORIGIN_TO_POD);
	if (pkt.l3 == PW_L3_IPV4 && pw_bw_admit(skb, pkt.daddr, PW_DIR_INGRESS, pw_bw_len(skb)) == PW_BW_DROP) {
		pw_verdict_init(&v, PW_ACT_DROP, PW_REASON_DROP_BW_INGRESS);
		return pw_finish(skb, &v, PW_DIR_INGRESS);
	}
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
