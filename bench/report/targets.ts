// podwire's targets from issue 5 (benchmark goals, not test assertions), and the kernel
// baselines the issue measured on this class of machine, so the report can put each measured
// figure next to what it should be.
import type { Row } from '../results.js';

export interface Target {
  id: string;
  what: string;
  topology: string;
  metric: string;
  /** 'ratio': row.ratio vs threshold; 'value': row.median vs threshold; 'vs': median / other topology's median. */
  kind: 'ratio' | 'value' | 'vs';
  op: '>=' | '<=' | '<';
  threshold: number;
  vs?: string;
  unit?: string;
}

export const TARGETS: Target[] = [
  { id: 'same-pps', what: 'same node UDP pps ≥ 0.95× direct veth', topology: 'podwire-same-node', metric: 'udp64_pps', kind: 'ratio', op: '>=', threshold: 0.95 },
  { id: 'same-lat', what: 'same node latency p50 ≤ 1.05× direct veth', topology: 'podwire-same-node', metric: 'rr_p50_us', kind: 'ratio', op: '<=', threshold: 1.05 },
  { id: 'same-tcp', what: 'same node single-stream TCP ≥ 0.98× direct veth', topology: 'podwire-same-node', metric: 'tcp1c_gbps', kind: 'ratio', op: '>=', threshold: 0.98 },
  { id: 'native-pps', what: 'cross node native UDP pps ≥ 0.85× underlay', topology: 'podwire-native', metric: 'udp64_pps', kind: 'ratio', op: '>=', threshold: 0.85 },
  { id: 'native-lat', what: 'cross node native latency p50 ≤ 1.15× underlay', topology: 'podwire-native', metric: 'rr_p50_us', kind: 'ratio', op: '<=', threshold: 1.15 },
  { id: 'vxlan-pps', what: 'VXLAN UDP pps ≥ 1.15× the kernel VXLAN device', topology: 'podwire-vxlan', metric: 'udp64_pps', kind: 'vs', vs: 'kernel-vxlan', op: '>=', threshold: 1.15 },
  // issue 13: VXLAN encapsulated in BPF (no device on the path), against the kernel's own VXLAN
  { id: 'vxlan-bpf-pps', what: 'BPF VXLAN UDP pps ≥ 1.15× the kernel VXLAN device', topology: 'podwire-vxlan-bpf', metric: 'udp64_pps', kind: 'vs', vs: 'kernel-vxlan', op: '>=', threshold: 1.15 },
  { id: 'vxlan-bpf-tcp', what: 'BPF VXLAN single-stream TCP ≥ the kernel VXLAN device', topology: 'podwire-vxlan-bpf', metric: 'tcp1c_gbps', kind: 'vs', vs: 'kernel-vxlan', op: '>=', threshold: 1 },
  { id: 'vxlan-bpf-lat', what: 'BPF VXLAN latency p50 ≤ the kernel VXLAN device', topology: 'podwire-vxlan-bpf', metric: 'rr_p50_us', kind: 'vs', vs: 'kernel-vxlan', op: '<=', threshold: 1 },
  // judged on what install-cni puts on a node: the native shim handing ADD to the agent (the
  // `cni` row, bin/podwire started per pod, is the fallback and stays in the tables)
  { id: 'cni-add', what: 'CNI ADD p50 ≤ 40 ms (installed plugin: shim → agent)', topology: 'cni-shim', metric: 'add_p50_ms', kind: 'value', op: '<=', threshold: 40, unit: 'ms' },
  // issue 13 item 4: against Debian's bridge + host-local, exec'd the same way, interleaved in the same run
  { id: 'cni-add-vs-ref', what: 'CNI ADD p50 ≤ 1.0× the reference bridge + host-local plugins (same run)', topology: 'cni-shim', metric: 'add_p50_ms', kind: 'vs', vs: 'cni-reference', op: '<=', threshold: 1.0 },
  { id: 'cni-del-vs-ref', what: 'CNI DEL p50 ≤ 1.0× the reference bridge + host-local plugins (same run)', topology: 'cni-shim', metric: 'del_p50_ms', kind: 'vs', vs: 'cni-reference', op: '<=', threshold: 1.0 },
  // the same calls back to back (a burst: the warm veth pool runs dry, no refill between calls), both plugins
  { id: 'cni-add-burst-vs-ref', what: '… back to back: CNI ADD p50 vs the reference back to back (same run)', topology: 'cni-shim-burst', metric: 'add_p50_ms', kind: 'vs', vs: 'cni-reference-burst', op: '<=', threshold: 1.0 },
  { id: 'cni-del-burst-vs-ref', what: '… back to back: CNI DEL p50 vs the reference back to back (same run)', topology: 'cni-shim-burst', metric: 'del_p50_ms', kind: 'vs', vs: 'cni-reference-burst', op: '<=', threshold: 1.0 },
  { id: 'policy-ct-hit', what: 'an established flow into a policy-isolated pod costs ≤ 1.15× the no-policy hot path per packet', topology: 'from_pod:policy-ct-hit', metric: 'ns_per_pkt', kind: 'vs', vs: 'from_pod:hit', op: '<=', threshold: 1.15 },
  // the same goal measured paired (policy and no-policy batches alternating in one bpftool batch), both receive paths
  { id: 'policy-ct-hit-paired', what: '… paired: from_pod policy CT hit ≤ 115% of from_pod:hit', topology: 'from_pod:policy-ct-hit/paired', metric: 'pct_of_hit', kind: 'value', op: '<=', threshold: 115, unit: '%' },
  { id: 'policy-ct-hit-uplink', what: '… paired: from_uplink policy CT hit ≤ 115% of from_uplink:hit', topology: 'from_uplink:policy-ct-hit/paired', metric: 'pct_of_hit', kind: 'value', op: '<=', threshold: 115, unit: '%' },
  { id: 'map-sync', what: '100k map entries synced in < 1 s', topology: 'endpoints-map', metric: 'sync_100k_ms', kind: 'value', op: '<', threshold: 1000, unit: 'ms' },
  { id: 'policy-enforce', what: 'NetworkPolicy change → enforced on every affected node, p99 < 1 s after the API write (issue 10)', topology: 'policy-propagation', metric: 'enforce_p99_ms', kind: 'value', op: '<', threshold: 1000, unit: 'ms' },
  { id: 'scale-time', what: 'the 65,000-node simulation converges in < 5 s', topology: 'scale', metric: 'converge_s', kind: 'value', op: '<', threshold: 5, unit: 's' },
  { id: 'scale-rss', what: '… under 300 MB agent RSS', topology: 'scale', metric: 'agent_peak_rss_mb', kind: 'value', op: '<', threshold: 300, unit: 'MB' },
  // issue 13: the full 65k nodes / 1M pods, ready in < 10 s, the stricter RSS budget
  { id: 'scale-ready', what: '65,000 nodes / 1M pods: agent ready in < 10 s (issue 13)', topology: 'scale', metric: 'start_to_ready_s', kind: 'value', op: '<', threshold: 10, unit: 's' },
  { id: 'scale-rss-200', what: '… agent RSS ≤ 200 MB with the million-Pod policy cache (issue 13)', topology: 'scale', metric: 'agent_peak_rss_mb', kind: 'value', op: '<=', threshold: 200, unit: 'MB' },
  // issue 13: native ahead of the kernel's own host-gw routing on all three metrics (same run)
  { id: 'native-vs-hostgw-pps', what: 'native UDP pps ahead of kernel host-gw (issue 13)', topology: 'podwire-native', metric: 'udp64_pps', kind: 'vs', vs: 'host-gw', op: '>=', threshold: 1 },
  { id: 'native-vs-hostgw-lat', what: 'native latency p50 ahead of kernel host-gw (issue 13)', topology: 'podwire-native', metric: 'rr_p50_us', kind: 'vs', vs: 'host-gw', op: '<=', threshold: 1 },
  { id: 'native-vs-hostgw-tcp', what: 'native single-stream TCP ahead of kernel host-gw (issue 13)', topology: 'podwire-native', metric: 'tcp1c_gbps', kind: 'vs', vs: 'host-gw', op: '>=', threshold: 1 },
  // issue 11: pod bandwidth limits (accuracy in % of the configured limit, IP bytes)
  ...[10, 100, 1000].flatMap((m): Target[] => [
    { id: `bw-${m}-tcp-lo`, what: `${m}M limit: TCP egress ≥ 95% of the limit`, topology: `limit-${m}M`, metric: 'tcp-egress-accuracy', kind: 'value', op: '>=', threshold: 95, unit: '%' },
    { id: `bw-${m}-tcp-hi`, what: `${m}M limit: TCP egress ≤ 105% of the limit`, topology: `limit-${m}M`, metric: 'tcp-egress-accuracy', kind: 'value', op: '<=', threshold: 105, unit: '%' },
    { id: `bw-${m}-tcpi-lo`, what: `${m}M limit: TCP ingress ≥ 95% of the limit`, topology: `limit-${m}M`, metric: 'tcp-ingress-accuracy', kind: 'value', op: '>=', threshold: 95, unit: '%' },
    { id: `bw-${m}-udp`, what: `${m}M limit: UDP flood egress ≤ 105% of the limit`, topology: `limit-${m}M`, metric: 'udp-egress-accuracy', kind: 'value', op: '<=', threshold: 105, unit: '%' },
    { id: `bw-${m}-udpi`, what: `${m}M limit: UDP flood ingress ≤ 105% of the limit`, topology: `limit-${m}M`, metric: 'udp-ingress-accuracy', kind: 'value', op: '<=', threshold: 105, unit: '%' },
  ]),
  { id: 'bw-retrans', what: '20M limit: TCP retransmits per 10 s ≤ 247 (10× fewer than 2471)', topology: 'limit-20M-egress', metric: 'tcp-retransmits-per-10s', kind: 'value', op: '<=', threshold: 247 },
  { id: 'bw-retrans-in', what: '20M limit, ingress: TCP retransmits per 10 s ≤ 247', topology: 'limit-20M-ingress', metric: 'tcp-retransmits-per-10s', kind: 'value', op: '<=', threshold: 247 },
  { id: 'bw-latency', what: '20M limit: ping through the pod while it sends < 1 ms', topology: 'limit-20M-egress-load', metric: 'ping-under-load', kind: 'value', op: '<', threshold: 1, unit: 'ms' },
  { id: 'bw-latency-in', what: '20M limit: ping through the pod while it receives < 1 ms', topology: 'limit-20M-ingress-load', metric: 'ping-under-load', kind: 'value', op: '<', threshold: 1, unit: 'ms' },
];

/** Kernel baselines as measured when the issue was written (ratios to direct / underlay). */
export const ISSUE_BASELINES: Array<{ topology: string; metric: string; ratio: number }> = [
  { topology: 'bridge', metric: 'udp64_pps', ratio: 0.73 },
  { topology: 'bridge', metric: 'rr_p50_us', ratio: 1.23 },
  { topology: 'routed', metric: 'udp64_pps', ratio: 0.83 },
  { topology: 'routed', metric: 'rr_p50_us', ratio: 1.16 },
  { topology: 'host-gw', metric: 'udp64_pps', ratio: 0.7 },
  { topology: 'kernel-vxlan', metric: 'udp64_pps', ratio: 0.51 },
];

export interface Verdict {
  target: Target;
  measured: number | null;
  status: 'met' | 'missed' | 'not measured';
  detail: string;
}

function cmp(op: Target['op'], a: number, b: number): boolean {
  return op === '>=' ? a >= b : op === '<=' ? a <= b : a < b;
}

export function judge(rows: Row[], targets: Target[] = TARGETS): Verdict[] {
  const find = (t: string, m: string) => rows.find((r) => r.topology === t && r.metric === m);
  return targets.map((t) => {
    const row = find(t.topology, t.metric);
    let measured: number | null = null;
    let detail = '';
    if (row) {
      if (t.kind === 'ratio' && row.ratio !== null) {
        measured = row.ratio;
        detail = `${fmt(row.median)} ${row.unit} vs ${row.ratioTo} ${fmt(row.median / row.ratio)} ${row.unit}`;
      } else if (t.kind === 'value') {
        measured = row.median;
        detail = `${fmt(row.median)} ${row.unit} (min ${fmt(row.min)}, max ${fmt(row.max)})`;
      } else if (t.kind === 'vs' && t.vs) {
        const other = find(t.vs, t.metric);
        if (other && other.median > 0) {
          measured = row.median / other.median;
          detail = `${fmt(row.median)} vs ${t.vs} ${fmt(other.median)} ${row.unit}`;
        }
      }
    }
    const status = measured === null ? 'not measured' : cmp(t.op, measured, t.threshold) ? 'met' : 'missed';
    return { target: t, measured, status, detail };
  });
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100_000) return Math.round(x).toLocaleString('en');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}
