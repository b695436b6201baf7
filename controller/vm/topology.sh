#!/usr/bin/env bash
# Test topology inside the IPVS VM (a throwaway machine): one bridge, one namespace per role, all
# addresses in 198.18.0.0/15.  usage: topology.sh up|down
#   rr 198.18.0.2 (BGP peer: gobgpd)  client 198.18.0.3
#   lb1 198.18.0.11, lb2 198.18.0.12 (LB pods)  be1..be3 198.18.0.21-23 (backends, port 8080)
#   the VM's own side of the bridge: 198.18.0.1 (the API server double listens there)
set -euo pipefail
NAMESPACES=(rr:2 client:3 lb1:11 lb2:12 be1:21 be2:22 be3:23)
case "${1:-}" in
  up)
    ip link add br0 type bridge && ip addr add 198.18.0.1/24 dev br0 && ip link set br0 up
    for entry in "${NAMESPACES[@]}"; do
      ns=${entry%%:*}; host=${entry##*:}
      ip netns add "$ns"
      ip link add "v-$ns" type veth peer name eth0 netns "$ns"
      ip link set "v-$ns" master br0 up
      ip -n "$ns" addr add "198.18.0.$host/24" dev eth0
      ip -n "$ns" link set eth0 up
      ip -n "$ns" link set lo up
    done
    # Backends answer through the LB that sent the request (NAT mode SNATs to the LB's address).
    ;;
  down)
    for entry in "${NAMESPACES[@]}"; do ip netns pids "${entry%%:*}" 2>/dev/null | xargs -r kill -9; ip netns del "${entry%%:*}" 2>/dev/null || true; done
    ip link del br0 2>/dev/null || true
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2;;
esac
