#!/bin/bash
# udp.sh CLIENT_NS SERVER_NS SERVER_IP SECONDS [PERF_OUT] -> prints pps arrived at the server UDP layer
C=$1; S=$2; IP=$3; T=${4:-3}; OUT=$5
arr() { nsenter --net=$S awk '/^Udp:/{n++; if(n==1){for(i=1;i<=NF;i++)h[i]=$i} else {for(i=1;i<=NF;i++){if(h[i]=="InDatagrams"||h[i]=="InErrors")s+=$i}}} END{print s}' /proc/net/snmp; }
nsenter --net=$S taskset -c 1 iperf3 -s -1 -B $IP -p 5299 >/dev/null 2>&1 &
SP=$!
for i in $(seq 50); do nsenter --net=$S ss -Hltn 'sport = :5299' | grep -q . && break; sleep 0.05; done
B=$(arr)
if [ -n "$OUT" ]; then perf record -q -C 0 -g -F 4999 -o $OUT -- sleep $((T-1)) >/dev/null 2>&1 & PP=$!; fi
nsenter --net=$C taskset -c 0 iperf3 -c $IP -p 5299 -u -l 64 -b 0 -t $T -J > /tmp/hotpath-exp/udp.json 2>&1 &
CP=$!; echo $CP > /tmp/hotpath-exp/udp.pid; wait $CP
A=$(arr)
[ -n "$OUT" ] && wait $PP
wait $SP 2>/dev/null
SECS=$(python3 -c 'import json;print(json.load(open("/tmp/hotpath-exp/udp.json"))["end"]["sum"]["seconds"])')
python3 -c "print('%.0f'%(($A-$B)/$SECS))"
python3 -c 'import json;print("sent",json.load(open("/tmp/hotpath-exp/udp.json"))["end"]["sum"]["packets"])'
