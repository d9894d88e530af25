#!/bin/bash
# ab.sh TAG ROOT_A ROOT_B ROUNDS : paired cross-node A/B; each round: underlay, A, B (order alternates)
TAG=$1; RA=$2; RB=$3; N=${4:-3}
PA=$(python3 -c "import json; s=json.load(open('/run/podwire/hotpath.json')); print([p for p in s['pods'] if p['name']=='pod-1-1'][0]['netnsPath'])")
PB=$(python3 -c "import json; s=json.load(open('/run/podwire/hotpath.json')); print([p for p in s['pods'] if p['name']=='pod-2-1'][0]['netnsPath'])")
meas() { # label client server ip
  local L=$1
  local rr=$(./rr.sh $2 $3 $4 5 /tmp/hotpath-exp/m.rr.data)
  local obs=$(echo "$rr" | sed -E 's/.*Total ([0-9]+) obs.*/\1/'); local p50=$(echo "$rr" | sed -E 's/.*50.000 = *([0-9.]+).*/\1/')
  local rrc=$(python3 cost.py /tmp/hotpath-exp/m.rr.data $obs 4999 sockperf | awk '{print $2}')
  local u=$(./udp.sh $2 $3 $4 4 /tmp/hotpath-exp/m.udp.data); local pps=$(echo "$u" | head -1); local sent=$(echo "$u" | awk '/sent/{print $2}')
  local uc=$(python3 cost.py /tmp/hotpath-exp/m.udp.data $((sent*3/4)) 4999 pid:$(cat /tmp/hotpath-exp/udp.pid) "from_pod" "skb_do_redirect" "from_uplink" "neigh_|eth_header" "fib" | sed "s/total //")
  echo "$TAG $r $L rr_p50=$p50 rr_cpu_ns=$rrc udp_pps=$pps udp_cpu_ns=$uc load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a /tmp/hotpath-exp/ab.log
}
for r in $(seq $N); do
  if [ $((r % 2)) = 1 ]; then ORDER="A B"; else ORDER="B A"; fi
  meas underlay /run/netns/hpul-n1 /run/netns/hpul-n2 172.31.9.12
  for v in $ORDER; do
    if [ $v = A ]; then ./swap.sh $RA >/dev/null; else ./swap.sh $RB >/dev/null; fi
    meas $v $PA $PB 10.244.1.1
  done
done
