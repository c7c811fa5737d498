#!/bin/sh
# DNS64 helper. /etc/dind/helper.env (DNS64_PREFIX_CIDR, LOCAL_NAT64_SERVER) and
# /etc/dind/named.conf are put into the container before it starts.
set -eu
. /etc/dind/helper.env
# IPv6 only, like the original: the upstream server is reached through NAT64, never over IPv4.
ip -4 addr flush dev eth0
ip -6 route replace "$DNS64_PREFIX_CIDR" via "$LOCAL_NAT64_SERVER"
named-checkconf /etc/dind/named.conf
mkdir -p /run/named && chown bind:bind /run/named
touch /run/dind-helper-ready
exec /usr/sbin/named -g -u bind -c /etc/dind/named.conf
