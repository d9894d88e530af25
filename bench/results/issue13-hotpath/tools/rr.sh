#!/bin/bash
# rr.sh CLIENT_NS SERVER_NS SERVER_IP SECONDS [PERF_OUT]
C=$1; S=$2; IP=$3; T=${4:-5}; OUT=$5
nsenter --net=$S taskset -c 1 sockperf sr --tcp -i $IP -p 11111 >/dev/null 2>&1 &
SP=$!
sleep 0.5
if [ -n "$OUT" ]; then
  perf record -q -C 1 -g -F 4999 -o $OUT -- sleep $((T)) >/dev/null 2>&1 &
  PP=$!
fi
nsenter --net=$C taskset -c 1 sockperf pp --tcp -i $IP -p 11111 -t $T -m 64 --full-rtt 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -E "observations|percentile 50.000" | tr '\n' ' '
echo
[ -n "$OUT" ] && wait $PP
kill $SP; wait $SP 2>/dev/null
