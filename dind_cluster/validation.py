"""Pure: checks on single settings and on how the cluster's networks fit together.

Each check raises one ConfigError, `VARIABLE: what is wrong; what is allowed`.
"""
from __future__ import annotations

from typing import Collection, Optional, Sequence

from netaddr import AddrFormatError, IPAddress, IPNetwork

from .errors import ConfigError
from .numbers import is_ascii_number, parse_int
from .network import DUAL, MAX_NODE_ID, host, parse_cidr

IP_MODES = ("ipv4", "ipv6", DUAL)
CNI_PLUGINS = ("bridge", "ptp", "flannel", "calico", "calico-kdd", "weave", "kube-router")
IPV6_CNI_PLUGINS = ("bridge", "ptp")
DNS64_PREFIX_SIZES = (32, 40, 48, 56, 64, 96)      # RFC 6052 prefix lengths
SERVICE_MAX_HOST_BITS = 20                          # kube-apiserver's limit
DNS_SVC_HOST = 10
HELPER_HOSTS = (0x100, 0x200)                       # bind9 and tayga in the IPv6 network
_FALSE_WORDS = ("false", "no", "n", "0", "off")


def choice(variable: str, text: Optional[str], choices: Sequence[str], default: str) -> str:
    if not text:
        return default
    if text not in choices:
        raise ConfigError(variable, f"unknown value '{text}'", f"use one of {', '.join(choices)}")
    return text


def parse_num_nodes(text: Optional[str]) -> int:
    if not text:
        return 2
    # The upper bound depends on the networks: check_num_nodes says how many fit.
    return parse_int("NUM_NODES", text, 0, 10 ** 9, "use an integer of 0 or more (0: master only)",
                     "a number of workers")


def parse_num_masters(text: Optional[str]) -> int:
    """NUM_MASTERS: control-plane nodes; more than one puts a load balancer in front."""
    if not text:
        return 1
    return parse_int("NUM_MASTERS", text, 1, 10 ** 9, "use an integer of 1 or more (3 for an HA control plane)",
                     "a number of masters")


def parse_bool(variable: str, text: Optional[str], default: bool) -> bool:
    """A true/false setting that ends up in JSON (e.g. USE_HAIRPIN -> hairpinMode)."""
    if not text:
        return default
    if text.lower() not in ("true", "false"):
        raise ConfigError(variable, f"'{text}' is not a boolean", "use true or false")
    return text.lower() == "true"


def is_set(text: Optional[str]) -> bool:
    """A shell-style flag: set when non-empty, except for the usual words for false."""
    return bool(text) and text.lower() not in _FALSE_WORDS


def check_ipv6_cni(cni: str, mode: str) -> None:
    if mode != "ipv4" and cni not in IPV6_CNI_PLUGINS:
        raise ConfigError("CNI_PLUGIN", f"{cni} can't carry IPv6 pod networks (IP_MODE={mode})",
                          "IPv6 and dual-stack pod networks need bridge or ptp")


def check_ipv4_pod_cidr(net: IPNetwork, text: str) -> None:
    if net.prefixlen != 16:
        raise ConfigError("POD_NETWORK_CIDR", f"{text} is not a /16",
                          "an IPv4 pod network must be a /16 (each node takes a /24)")


def service_network(text: str, mode: str) -> IPNetwork:
    """SERVICE_CIDR: one network, of the mode's family (either in dual-stack), big enough
    for the DNS service at host 10 and small enough for kube-apiserver."""
    variable = "SERVICE_CIDR"
    if len(text.replace(",", " ").split()) != 1:
        raise ConfigError(variable, f"'{text}' is not a single CIDR", "give one network")
    net = parse_cidr(variable, text).cidr
    want = {"ipv4": (4,), "ipv6": (6,)}.get(mode, (4, 6))
    if net.version not in want:
        raise ConfigError(variable, f"{text} is IPv{net.version}",
                          f"IP_MODE={mode} needs an IPv{want[0]} service network")
    host_bits = (net.size - 1).bit_length()
    if host_bits > SERVICE_MAX_HOST_BITS or net.size <= DNS_SVC_HOST:
        small = 32 - 4 if net.version == 4 else 128 - 4
        big = (32 if net.version == 4 else 128) - SERVICE_MAX_HOST_BITS
        raise ConfigError(variable, f"{text} has {host_bits} host bits",
                          f"use a prefix from /{big} to /{small}")
    return net


def dns64_network(prefix: str, size: str) -> IPNetwork:
    try:
        addr = IPAddress(prefix, 6)
    except (AddrFormatError, ValueError):
        raise ConfigError("DNS64_PREFIX", f"'{prefix}' is not an IPv6 address",
                          "give a prefix such as fd00:10:64:ff9b::") from None
    if not is_ascii_number(size.strip()) or int(size) not in DNS64_PREFIX_SIZES:
        raise ConfigError("DNS64_PREFIX_SIZE", f"'{size}' is not a NAT64 prefix length",
                          f"use one of {', '.join(map(str, DNS64_PREFIX_SIZES))}")
    net = IPNetwork(f"{addr}/{size}")
    if net.ip != net.network:
        raise ConfigError("DNS64_PREFIX", f"{prefix} has bits past /{size}",
                          f"use the network address {net.cidr.ip}")
    return net


def remote_dns64_server(text: str) -> str:
    try:
        return str(IPAddress(text, 4))
    except (AddrFormatError, ValueError):
        raise ConfigError("REMOTE_DNS64_V4SERVER", f"'{text}' is not an IPv4 address",
                          "give the IPv4 address of a DNS server, e.g. 8.8.8.8") from None


def node_dns_server(text: str) -> str:
    """IPv4 only: Docker's embedded DNS, which nodes forward through, uses only IPv4 upstreams."""
    try:
        return str(IPAddress(text, 4))
    except (AddrFormatError, ValueError):
        raise ConfigError("DIND_DNS_SERVER", f"'{text}' is not an IPv4 address",
                          "give the IPv4 address of the DNS server nodes forward to, or leave it "
                          "empty for the Docker engine's own") from None


def _top_host(net: IPNetwork, mode: str) -> int:
    """Highest host number a node may take in a management network."""
    if net.version == 4:
        return net.size - 2                        # keep the broadcast address free
    if mode == "ipv6":
        return HELPER_HOSTS[0] - 1                 # stay below bind9 at ::100
    return net.size - 1


# Networks the kernel won't put on a bridge as a gateway, or that mean something else.
RESERVED_NETWORKS = tuple(IPNetwork(n) for n in (
    "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3",      # this, loopback, link-local, multicast+
    "::/127", "fe80::/10", "ff00::/8"))                                  # unspecified+loopback, link-local, multicast


def check_management_room(variable: str, mgmt: Sequence[IPNetwork], mode: str) -> None:
    for net in mgmt:
        reserved = next((r for r in RESERVED_NETWORKS if r.version == net.version
                         and r.first <= net.last and net.first <= r.last), None)
        if reserved is not None:
            raise ConfigError(variable, f"{net} overlaps the reserved {reserved}",
                              "use a private unicast network, e.g. 10.192.0.0/24 or fd00:20::/64")
        if _top_host(net, mode) < 2:
            raise ConfigError(variable, f"{net} has no room for a gateway and a master",
                              "use a network of at least 4 addresses (e.g. a /24)")
        if mode == "ipv6" and net.size <= HELPER_HOSTS[1]:
            raise ConfigError(variable, f"{net} has no room for the DNS64/NAT64 helpers at "
                              "::100 and ::200", "use an IPv6 prefix of /118 or shorter")


def check_num_nodes(num_nodes: int, variable: str, mgmt: Sequence[IPNetwork],
                    mode: str) -> None:
    """Worker k takes host k+2 and pod block k+1; both must exist."""
    limit = min([_top_host(net, mode) - 2 for net in mgmt] + [MAX_NODE_ID - 1])
    if num_nodes > limit:
        nets = " and ".join(str(n) for n in mgmt)
        raise ConfigError("NUM_NODES", f"{num_nodes} workers don't fit",
                          f"at most {limit} workers fit ({variable} {nets}, "
                          f"node ids up to {MAX_NODE_ID})")


def ha_top_host(mgmt: Sequence[IPNetwork], mode: str) -> int:
    """The host number the balancer of an HA control plane takes (the same in every family):
    254, or the last usable host of a smaller management network. Extra masters sit below it."""
    return min([_top_host(net, mode) for net in mgmt] + [MAX_NODE_ID - 1])


def check_ha_room(masters: int, worker_top: int, variable: str, mgmt: Sequence[IPNetwork],
                  mode: str) -> None:
    """Extra masters count down from below the balancer; the highest worker must stay under them."""
    lowest = ha_top_host(mgmt, mode) - (masters - 1)
    if masters > 1 and (lowest < 3 or worker_top + 2 >= lowest):
        nets = " and ".join(str(n) for n in mgmt)
        raise ConfigError("NUM_MASTERS", f"{masters} masters and {worker_top} workers don't fit "
                          f"in {variable} {nets}",
                          f"at most {max(lowest - 3, 0)} workers fit beside {masters} masters "
                          "and the load balancer; use fewer nodes or a bigger network")


def check_overlaps(named: Sequence[tuple[str, IPNetwork]], given: Collection[str] = ()) -> None:
    """No two of the cluster's networks may share an address. The error names the variable the
    user set (the later one when both or neither were set): a default is not the user's mistake."""
    for i, (var_a, net_a) in enumerate(named):
        for var_b, net_b in named[i + 1:]:
            if net_a.version == net_b.version and (net_a.first <= net_b.last
                                                   and net_b.first <= net_a.last):
                if var_a in given and var_b not in given:
                    var_a, net_a, var_b, net_b = var_b, net_b, var_a, net_a
                raise ConfigError(var_b, f"{net_b} overlaps {var_a} {net_a}",
                                  f"choose a {var_b} apart from {var_a}")


def dns_service_ip(service: IPNetwork) -> str:
    return str(host(service, DNS_SVC_HOST))
