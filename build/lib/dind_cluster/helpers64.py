"""Pure: the DNS64 (bind9) and NAT64 (tayga) helpers of IPv6-only clusters (reference §8.2, §8.3).

Config texts, the environment file the helpers' entrypoints read, and RFC 6052 address
synthesis, all from the plan. No Docker, no os.environ.
"""
from __future__ import annotations

import hashlib
from typing import Optional

from netaddr import IPAddress, IPNetwork

from dind_cluster.plan import ClusterPlan

DNS64_ROLE, NAT64_ROLE = "dns64", "nat64"
HELPER_ENV_PATH = "/etc/dind/helper.env"
NAMED_CONF_PATH = "/etc/dind/named.conf"
TAYGA_CONF_PATH = "/etc/tayga.conf"
TAYGA_DATA_DIR = "/var/spool/tayga"
READY_MARKER = "/run/dind-helper-ready"

NAMED_CONF = """\
// DNS64 for the IPv6-only cluster {context} (written by dind-cluster).
options {{
    directory "/var/cache/bind";
    pid-file "/run/named/named.pid";
    listen-on-v6 {{ any; }};
    allow-query {{ any; }};
    allow-recursion {{ any; }};
    // The upstream is an IPv4 server reached through NAT64, like the original's.
    forwarders {{ {forwarder}; }};
    forward only;
    // The upstream is usually a plain resolver without DNSSEC; don't fail validation on it.
    dnssec-validation no;
    auth-nxdomain no;
    dns64 {prefix} {{{exclude}
    }};
}};
"""

TAYGA_CONF = """\
# NAT64 for the IPv6-only cluster {context} (written by dind-cluster).
tun-device nat64
ipv4-addr {ipv4_addr}
prefix {prefix}
dynamic-pool {pool}
data-dir {data_dir}
"""


def synthesise(prefix_cidr: str, ipv4: str) -> str:
    """The IPv6 address embedding `ipv4` in a NAT64 prefix (RFC 6052 §2.2: bits 64-71 stay 0)."""
    net = IPNetwork(prefix_cidr)
    out = bytearray(net.network.packed)
    pos = net.prefixlen // 8
    for byte in IPAddress(ipv4, 4).packed:
        if pos == 8:
            pos += 1          # the "u" octet
        out[pos] = byte
        pos += 1
    return str(IPAddress(int.from_bytes(bytes(out), "big"), 6))


def named_conf(plan: ClusterPlan) -> str:
    """bind9's named.conf: DNS64 on every IPv6 address, forwarding through NAT64.

    Without DIND_ALLOW_AAAA_USE, `exclude { any; }` makes bind always synthesise from A
    records, so nothing in the cluster tries a real (unroutable) IPv6 address."""
    _require_ipv6(plan)
    exclude = "" if plan.allow_aaaa_use else "\n        exclude { any; };"
    return NAMED_CONF.format(
        context=plan.context, prefix=plan.dns64_prefix_cidr, exclude=exclude,
        forwarder=synthesise(plan.dns64_prefix_cidr, plan.remote_dns64_v4server))


def tayga_conf(plan: ClusterPlan) -> str:
    """tayga.conf: the NAT64 prefix, tayga's IPv4 address and the dynamic pool of the plan."""
    _require_ipv6(plan)
    return TAYGA_CONF.format(context=plan.context, ipv4_addr=plan.nat64.ips[0],
                             prefix=plan.dns64_prefix_cidr, pool=plan.nat64_pool,
                             data_dir=TAYGA_DATA_DIR)


def helper_env(plan: ClusterPlan) -> str:
    """KEY=value lines both entrypoints source (routes they set up)."""
    _require_ipv6(plan)
    values = {"DNS64_PREFIX_CIDR": plan.dns64_prefix_cidr,
              "LOCAL_NAT64_SERVER": plan.local_nat64_server,
              "NAT64_POOL": plan.nat64_pool, "NAT64_V4_ADDR": plan.nat64.ips[0]}
    return "".join(f"{k}={v}\n" for k, v in values.items())


def helper_files(plan: ClusterPlan, role: str) -> dict:
    """{path: content} put into a helper container before it starts."""
    conf = {DNS64_ROLE: (NAMED_CONF_PATH, named_conf), NAT64_ROLE: (TAYGA_CONF_PATH, tayga_conf)}
    path, render = conf[role]
    return {HELPER_ENV_PATH: helper_env(plan), path: render(plan)}


def config_digest(image: str, files: dict, options: dict) -> str:
    """A short digest of what makes a helper container: a running one with another digest is
    replaced, so a changed plan or a rebuilt image takes effect on the next `up`."""
    h = hashlib.sha256(image.encode())
    for key in sorted(files):
        h.update(f"\0{key}\0{files[key]}".encode())
    h.update(repr(sorted(options.items())).encode())
    return h.hexdigest()[:16]


def pool_route_argv(plan: ClusterPlan) -> list:
    """The host route the original adds so replies to the NAT64 pool find tayga."""
    _require_ipv6(plan)
    return ["ip", "route", "replace", plan.nat64_pool, "via", plan.nat64.ips[0]]


def engine_is_local(docker_host: str) -> bool:
    """Host-side networking (routes, ip6tables) only makes sense on the engine's own machine."""
    return not docker_host or docker_host.startswith("unix://")


def _require_ipv6(plan: ClusterPlan) -> None:
    if plan.ip_mode != "ipv6" or plan.dns64 is None or plan.nat64 is None:
        raise ValueError(f"DNS64/NAT64 helpers are for IP_MODE=ipv6, not {plan.ip_mode}")


def aaaa_rules_script(bridge: Optional[str], add: bool) -> str:
    """sh script for a host-network container: the ip6tables rules of reference §8.4 that let
    real IPv6 out (DIND_ALLOW_AAAA_USE, dual-stack): SNAT out of the default-route interface and,
    for IPv6-only clusters, forwarding from the cluster bridge. Idempotent (-C before -A / -D)."""
    verb = "-A" if add else "-D"
    rules = [("-t nat", "POSTROUTING -o \"$main_if\" -j MASQUERADE")]
    if bridge:
        rules.append(("", f"FORWARD -i {bridge} -j ACCEPT"))
    lines = ["set -eu",
             "main_if=$(ip -6 -o route show default | awk '{print $5; exit}')",
             "[ -n \"$main_if\" ] || main_if=$(ip -o route show default | awk '{print $5; exit}')",
             "[ -n \"$main_if\" ] || { echo 'no default route on the host' >&2; exit 1; }"]
    for table, rule in rules:
        check = f"ip6tables {table} -C {rule}".replace("  ", " ")
        change = f"ip6tables {table} {verb} {rule}".replace("  ", " ")
        lines.append(f"{check} 2>/dev/null || {change}" if add
                     else f"! {check} 2>/dev/null || {change}")
    return "\n".join(lines) + "\n"
