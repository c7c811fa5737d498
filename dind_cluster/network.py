"""Pure: address arithmetic of a cluster (reference §3), done with netaddr.

The original computes addresses by string surgery; we compute them as numbers and keep
its results wherever the original is right (see docs/compatibility.md for the rest).
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from netaddr import AddrFormatError, IPAddress, IPNetwork

from .errors import ConfigError
from .numbers import is_ascii_number

DUAL = "dual-stack"
_SPLIT_RE = re.compile(r"[,\s]+")
POD_NODE_BITS = 8          # IPv6 per-node subnets are 8 bits longer than the pod supernet
MAX_NODE_ID = 255          # node ids must fit one octet (IPv4 third octet, IPv6 node byte)
MAX_POD_PREFIX6 = 112      # leaves a /120 (256 pod addresses) per node


def split_cidrs(text: str | None) -> list[str]:
    """Split a CIDR list on commas and/or whitespace, as the original does."""
    return [part for part in _SPLIT_RE.split(text or "") if part]


def parse_cidr(variable: str, text: str) -> IPNetwork:
    """Parse `addr/len`; a bare address or a malformed text is a ConfigError."""
    try:
        if text.count("/") != 1:
            raise AddrFormatError(text)
        return IPNetwork(text)
    except (AddrFormatError, ValueError, TypeError):
        raise ConfigError(variable, f"'{text}' is not a CIDR",
                          "give a network as address/length, e.g. 10.96.0.0/12 or fd00:30::/110"
                          ) from None


def make_net(value: int, version: int, prefixlen: int) -> IPNetwork:
    return IPNetwork(f"{IPAddress(value, version)}/{prefixlen}")


def host(net: IPNetwork, n: int) -> IPAddress:
    """Host number n of a network (the original's make-ip, by arithmetic)."""
    return IPAddress(net.first + n, net.version)


def pick_cidrs(variable: str, text: str | None, mode: str,
               defaults: Sequence[str]) -> list[str]:
    """Choose the CIDR texts for a mode: one per family, IPv4 first (reference §3.2)."""
    given = split_cidrs(text)
    if not given:
        return list(defaults)
    versions = [parse_cidr(variable, t).version for t in given]
    if mode != DUAL:
        want = 6 if mode == "ipv6" else 4
        allowed = f"IP_MODE={mode} takes one IPv{want} CIDR"
        if len(given) > 1:
            raise ConfigError(variable, f"more than one CIDR given ('{text}')", allowed)
        if versions[0] != want:
            raise ConfigError(variable, f"{given[0]} is not IPv{want}", allowed)
        return given
    allowed = "dual-stack takes one IPv4 and one IPv6 CIDR"
    if len(given) > 2:
        raise ConfigError(variable, f"more than two CIDRs given ('{text}')", allowed)
    if len(given) == 1:
        other = [d for d in defaults if parse_cidr(variable, d).version != versions[0]]
        given, versions = given + other, versions + [6 if versions[0] == 4 else 4]
    if sorted(versions) != [4, 6]:
        missing = 6 if versions[0] == 4 else 4
        raise ConfigError(variable, f"missing IPv{missing} CIDR in '{text}'", allowed)
    return sorted(given, key=lambda t: parse_cidr(variable, t).version)


def _cluster_hextet_index(text: str, net: IPNetwork) -> int:
    """Where the ID goes: right before the text's trailing `::`, as in the original.

    A text without a trailing `::` uses the hextet after the network's last non-zero one.
    """
    addr = text.split("/")[0]
    if addr.endswith("::"):
        head = addr[:-2]
        return len(head.split(":")) if head else 0
    words = net.network.words
    nonzero = [i for i, w in enumerate(words) if w]
    return nonzero[-1] + 1 if nonzero else 0


def inject_cluster_id(variable: str, text: str, cluster_id: int) -> IPNetwork:
    """The management CIDR of cluster `cluster_id` (reference §3.2 step 3).

    IPv4 /24: the third octet becomes the ID. Other IPv4 sizes are left alone.
    IPv6: the ID's decimal digits, read as hex, fill the hextet before the trailing `::`,
    which must lie inside the prefix.
    """
    net = parse_cidr(variable, text).cidr
    if net.version == 4:
        if net.prefixlen != 24:
            return net
        return make_net((net.first & 0xFFFF0000) | (cluster_id << 8), 4, 24)
    if not cluster_id:
        return net
    index = _cluster_hextet_index(text, net)
    if (index + 1) * 16 > net.prefixlen:
        raise ConfigError("CLUSTER_ID", f"{cluster_id} would land in hextet {index + 1} of "
                          f"{text}, outside its /{net.prefixlen}",
                          f"give {variable} a prefix that ends in '::' and keeps a free hextet "
                          "inside the prefix, e.g. fd00:20::/64")
    value = int(str(cluster_id), 16) << (16 * (7 - index))
    return make_net(net.first | value, 6, net.prefixlen)


def check_ipv6_pod_cidr(net: IPNetwork, text: str) -> None:
    """The original's trimming rules, stated as numbers: no address bits past the prefix,
    and room for an 8-bit node number plus pods (reference §3.4)."""
    variable = "POD_NETWORK_CIDR"
    if net.prefixlen > MAX_POD_PREFIX6:
        raise ConfigError(variable, f"{text} is too small to split per node",
                          "use an IPv6 prefix of /112 or shorter (default fd00:40::/72)")
    if net.ip != net.network:
        raise ConfigError(variable, f"address part of {text} is too large for "
                          f"/{net.prefixlen}",
                          f"clear the bits past /{net.prefixlen}, e.g. {net.cidr}")


def pod_subnet(net: IPNetwork, node_id: int) -> IPNetwork:
    """A node's pod subnet: IPv4 `<a>.<b>.<id>.0/24`; IPv6 the node id in the 8 bits
    right after the prefix, e.g. fd00:40::/72 -> fd00:40:0:0:<id>::/80."""
    if net.version == 4:
        return make_net((net.first & 0xFFFF0000) | (node_id << 8), 4, 24)
    size = net.prefixlen + POD_NODE_BITS
    return make_net(net.first | (node_id << (128 - size)), 6, size)


def nat64_prefix(text: str, cluster_id: int) -> str:
    """NAT64_V4_SUBNET_PREFIX plus the cluster ID on its second octet (reference §3.5)."""
    variable = "NAT64_V4_SUBNET_PREFIX"
    parts = text.strip().split(".")
    if len(parts) != 2 or not all(is_ascii_number(p) and int(p) <= 255 for p in parts):
        raise ConfigError(variable, f"'{text}' is not two octets",
                          "give the first two octets of a /16, e.g. 172.18")
    first, second = int(parts[0]), int(parts[1]) + cluster_id
    result = f"{first}.{second}"
    if first == 10 and second <= 253 or first == 172 and 16 <= second <= 31:
        return result
    got = f"'{text}' plus CLUSTER_ID {cluster_id} gives {result}" if cluster_id else f"'{text}'"
    raise ConfigError(variable, f"{got}, outside the private ranges",
                      "the result must be 10.0-253 (in 10.0.0.0/8) "
                      "or 172.16-31 (in 172.16.0.0/12)")


def same_family(ips: Sequence[str], like: str) -> str:
    """The address of `ips` in the family of `like` (a node's or the balancer's service-family one)."""
    version = IPAddress(like).version
    return next(ip for ip in ips if IPAddress(ip).version == version)


def static_routes(plan) -> dict[str, list[tuple[str, str]]]:
    """Routes the bridge/ptp plugins need: on every node, each other node's pod subnets
    via that node's management address of the same family (reference §3.6)."""
    if plan.cni_plugin not in ("bridge", "ptp"):
        return {}
    return {node.name: list(_routes_to_others(node, plan.nodes)) for node in plan.nodes}


def _routes_to_others(node, nodes: Iterable) -> Iterable[tuple[str, str]]:
    for other in nodes:
        if other.name == node.name:
            continue
        by_version = {IPAddress(ip).version: ip for ip in other.ips}
        for cidr in other.pod_cidrs:
            via = by_version.get(IPNetwork(cidr).version)
            if via is not None:
                yield cidr, via
