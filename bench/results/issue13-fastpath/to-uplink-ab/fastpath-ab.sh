#!/bin/bash
# paired A/B: to_uplink attached (on) vs not (off) on BOTH nodes' uplink egress of one running lab
set -u
N1=/run/netns/pwl-fastpathab-n708a15; N2=/run/netns/pwl-fastpathab-nde8451
P1=/sys/fs/bpf/pwlab-fastpathab-n1-ab5b96; P2=/sys/fs/bpf/pwlab-fastpathab-n2-97cb23
CA=/run/netns/pwl-fastpathab-p2f3115; SB=/run/netns/pwl-fastpathab-p5804d0; IP=10.244.1.1
TCX=/work/wt/fastpath/build/bin/pw-tcx
on() { for x in "$N1 $P1" "$N2 $P2"; do set -- $x; nsenter --net=$1 $TCX attach --prog $2/progs/to_uplink --dev eth0 --dir egress --pin $2/fastpath-ab-to-uplink >/dev/null; done; }
off() { for x in "$P1" "$P2"; do $TCX detach --pin $x/fastpath-ab-to-uplink >/dev/null; done; }
nsenter --net=$SB taskset -c 1 sockperf sr --tcp -i $IP -p 11111 >/dev/null 2>&1 & SP=$!
nsenter --net=$SB taskset -c 1 iperf3 -s -B $IP -p 5299 >/dev/null 2>&1 & IS=$!
sleep 1
for r in $(seq 1 ${ROUNDS:-8}); do
  if [ $((r % 2)) -eq 1 ]; then order="off on"; else order="on off"; fi
  for s in $order; do
    $s
    rr=$(nsenter --net=$CA taskset -c 1 sockperf pp --tcp -i $IP -p 11111 -t 3 -m 64 --full-rtt 2>&1 | grep -oP 'percentile 50.000 =\s*\K[0-9.]+')
    udp=$(nsenter --net=$CA taskset -c 0 iperf3 -c $IP -p 5299 -t 3 -u -l 64 -b 0 -J 2>/dev/null | python3 -c 'import json,sys;j=json.load(sys.stdin);e=j["end"]["sum"];print(round((e["packets"]-e["lost_packets"])/e["seconds"]))')
    tcp=$(nsenter --net=$CA taskset -c 1 iperf3 -c $IP -p 5299 -t 3 -J 2>/dev/null | python3 -c 'import json,sys;j=json.load(sys.stdin);print(round(j["end"]["sum_received"]["bits_per_second"]/1e9,2))')
    echo "round $r $s rr_p50_us=$rr udp_pps=$udp tcp_gbps=$tcp load=$(cut -d' ' -f1 /proc/loadavg)"
  done
done
off
kill $SP $IS
