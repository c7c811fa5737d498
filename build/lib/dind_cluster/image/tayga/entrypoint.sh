#!/bin/sh
# NAT64 helper. /etc/dind/helper.env (DNS64_PREFIX_CIDR, NAT64_POOL) and /etc/tayga.conf are put
# into the container before it starts. Needs NET_ADMIN and /dev/net/tun.
set -eu
. /etc/dind/helper.env
mkdir -p /var/spool/tayga
tayga --mktun -c /etc/tayga.conf
ip link set nat64 up
ip route replace "$NAT64_POOL" dev nat64
ip -6 route replace "$DNS64_PREFIX_CIDR" dev nat64
# Pool addresses never leave this container: what tayga sends out of eth0 carries our address.
iptables -t nat -C POSTROUTING -o eth0 -j MASQUERADE 2>/dev/null \
  || iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
touch /run/dind-helper-ready
exec tayga -d -c /etc/tayga.conf
