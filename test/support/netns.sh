#!/bin/sh
# Run as `unshare -n sh netns.sh CMD...` (or `unshare -rn` when not root): sets up the fresh
# network namespace, then runs CMD in it. A veth pair gives passt the template it copies:
# veth0 has 10.0.2.15/24 and a default route via 10.0.2.2 (nothing answers there; the peer
# is in the same namespace), so no packet can leave. With PVM_NETNS_BARE=1 only lo is up.
set -e
ip link set lo up
if [ "${PVM_NETNS_BARE:-}" != 1 ]; then
  ip link add veth0 type veth peer name veth1
  ip addr add 10.0.2.15/24 dev veth0
  ip link set veth0 up
  ip link set veth1 up
  ip route add default via 10.0.2.2 dev veth0
fi
exec "$@"
