#!/bin/bash
# swap.sh ROOT : load the datapath of ROOT (a podwire tree) into both lab nodes
ROOT=$1
for n in 0 1; do
  read NS PIN < <(python3 -c "import json; s=json.load(open('/run/podwire/hotpath.json')); n=s['nodes'][$n]; print(n['netnsPath'], n['pinDir'])")
  nsenter --net=$NS node $ROOT/bin/podwire datapath load --pin-dir $PIN -o json > /tmp/hotpath-exp/swap.out 2>&1 || { cat /tmp/hotpath-exp/swap.out; exit 1; }
done
echo "loaded $ROOT"
