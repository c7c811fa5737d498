"""Pure: checks before `up` (and `dind-cluster doctor`), given facts about the engine and its host.

Each rule returns Problems: a one-line problem and a one-line fix. A fact that couldn't be
gathered (None, e.g. host files of a remote engine) is not checked.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterator, Optional

from dind_cluster.plan import ClusterPlan

GIB = 1024 ** 3
INSTANCES_PER_NODE = 16       # an idle node uses 8 (systemd, containerd); the kubelet and pods add more
WATCHES_PER_NODE = 16384
RECOMMENDED_INSTANCES = 512   # what kind and the kubelet issues recommend
RECOMMENDED_WATCHES = 524288
DISK_BASE = 2 * GIB           # node image and helper images
DISK_PER_NODE = GIB // 2      # a node's /var volume with preloaded images unpacked
PIDS_PER_NODE = 1024          # systemd, containerd, kubelet and pods' processes and threads
MEMORY_PER_NODE = 512 * 1024 ** 2   # a node with a real kubelet and a few pods (a master needs more)
CGROUP_CONTROLLERS = ("cpu", "memory", "pids")
CGROUPNS_API = (1, 41)        # Docker 20.10: the first API with cgroupns=private
BR_NETFILTER_FIX = ("on the Docker host: 'sudo modprobe br_netfilter' and 'echo br_netfilter | sudo tee "
                    "/etc/modules-load.d/br_netfilter.conf'")


@dataclass(frozen=True)
class Problem:
    message: str
    fix: str
    warning: bool = False     # an estimate (e.g. of what many nodes need): said, but `up` goes on

    def __str__(self) -> str:
        return f"{'warning: ' if self.warning else ''}{self.message}\n  fix: {self.fix}"


@dataclass(frozen=True)
class DockerNetwork:
    name: str
    subnets: tuple[str, ...]
    cluster_key: Optional[str]        # value of our cluster label, None when not ours
    bridge: Optional[str] = None      # host interface (br-<id12>, docker0), if a bridge


@dataclass(frozen=True)
class HostRoute:
    cidr: str
    dev: str


@dataclass(frozen=True)
class Facts:
    api_version: str                            # "1.41"
    cgroup_version: int                         # 1 or 2
    cgroup_controllers: frozenset               # of CGROUP_CONTROLLERS the engine can use
    networks: tuple[DockerNetwork, ...]
    node_clusters: tuple[str, ...] = ()         # cluster key of every running node container
    kernel_ipv6: Optional[bool] = None
    tun_device: Optional[bool] = None
    routes: Optional[tuple[HostRoute, ...]] = None
    max_user_watches: Optional[int] = None
    max_user_instances: Optional[int] = None
    data_root: str = "/var/lib/docker"
    free_disk: Optional[int] = None             # bytes free under data_root
    rootless: bool = False
    storage_driver: str = ""                    # `docker info` Driver: overlay2, btrfs, zfs …
    bridge_netfilter: Optional[bool] = None     # br_netfilter loaded on the host (/proc/sys/net/bridge)
    netfilter_module: Optional[bool] = None     # br_netfilter.ko present in /lib/modules/<release>
    pid_max: Optional[int] = None               # kernel.pid_max
    host_memory: Optional[int] = None           # bytes (the engine's MemTotal)


def run_preflight(facts: Facts, plan: ClusterPlan, btrfs_anyway: bool = False) -> list[Problem]:
    """Every problem found, in a stable order (engine, networks, limits, disk, cgroups).
    `btrfs_anyway` is RUN_ON_BTRFS_ANYWAY: the btrfs storage driver is then let through."""
    rules = (_ipv6, _network_overlaps, _route_overlaps, _inotify, _pids, _memory, _disk, _cgroups,
             _br_netfilter)
    problems = [] if btrfs_anyway else list(_btrfs(facts))
    return problems + [problem for rule in rules for problem in rule(facts, plan)]


def _btrfs(facts: Facts) -> Iterator[Problem]:
    """The original refuses btrfs (the kubelet's disk stats and the nodes' /var volumes on it);
    the nodes pick containerd's snapshotter for their /var themselves (dind-snapshotter)."""
    if facts.storage_driver == "btrfs":
        yield Problem("Docker is using btrfs storage driver which is unsupported by dind-cluster",
                      "set RUN_ON_BTRFS_ANYWAY to a non-empty string to continue anyway")


def _ipv6(facts: Facts, plan: ClusterPlan) -> Iterator[Problem]:
    if plan.network.ipv6 and facts.kernel_ipv6 is False:
        yield Problem(f"IP_MODE={plan.ip_mode} needs IPv6, but it is disabled on the Docker host",
                      "enable IPv6: drop ipv6.disable=1 from the kernel command line, or "
                      "'sudo sysctl -w net.ipv6.conf.all.disable_ipv6=0'")
    if plan.ip_mode == "ipv6" and facts.tun_device is False:
        yield Problem("the Docker host has no /dev/net/tun, which the NAT64 helper (tayga) needs",
                      "load the tun module: 'sudo modprobe tun'")


def planned_subnets(plan: ClusterPlan, routed: bool = False) -> list[tuple[str, str]]:
    """(variable, CIDR) of what the cluster puts on the Docker network; with `routed`, also
    the pod, service and DNS64 networks the nodes route."""
    named = [("NAT64_V4_SUBNET_PREFIX" if s == plan.nat64_v4_subnet else "MGMT_CIDRS", s)
             for s in plan.network.subnets]
    if routed:
        named += [("POD_NETWORK_CIDR", p) for p in plan.pod_network_cidrs]
        named.append(("SERVICE_CIDR", plan.service_cidr))
        if plan.dns64_prefix_cidr:
            named.append(("DNS64_PREFIX", plan.dns64_prefix_cidr))
    return named


def taken_by_another_cluster(facts: Facts, plan: ClusterPlan) -> bool:
    """Does another of our clusters' network hold one of the plan's management subnets?"""
    return any(net.cluster_key not in (None, plan.cluster_key) and any(overlap(mine, s) for s in net.subnets)
               for net in facts.networks for _, mine in planned_subnets(plan))


def overlap(a: str, b: str) -> bool:
    x, y = ipaddress.ip_network(a, strict=False), ipaddress.ip_network(b, strict=False)
    return x.version == y.version and x.overlaps(y)


def _network_overlaps(facts: Facts, plan: ClusterPlan) -> Iterator[Problem]:
    for net in facts.networks:
        if net.name == plan.network.name and net.cluster_key == plan.cluster_key:
            continue          # our own network, reused by `up`
        for variable, mine in planned_subnets(plan):
            theirs = next((s for s in net.subnets if overlap(mine, s)), None)
            if theirs:
                yield Problem(f"{variable}: {mine} overlaps {theirs} of Docker network "
                              f"{net.name}", f"remove it ('docker network rm {net.name}') or "
                              f"choose another CLUSTER_ID or {variable}")


def foreign_routes(facts: Facts) -> list[HostRoute]:
    """Host routes that aren't Docker's own: default, link-local, multicast, loopback and
    bridge/veth routes are left out (Docker networks are checked as networks)."""
    bridges = {n.bridge for n in facts.networks if n.bridge} | {"docker0"}
    keep = []
    for route in facts.routes or ():
        net = ipaddress.ip_network(route.cidr, strict=False)
        if (net.prefixlen == 0 or net.is_link_local or net.is_multicast or route.dev == "lo"
                or route.dev in bridges or route.dev.startswith("veth")):
            continue
        keep.append(route)
    return keep


def _route_overlaps(facts: Facts, plan: ClusterPlan) -> Iterator[Problem]:
    for route in foreign_routes(facts):
        for variable, mine in planned_subnets(plan, routed=True):
            if overlap(mine, route.cidr):
                yield Problem(f"{variable}: {mine} overlaps the host route {route.cidr} dev "
                              f"{route.dev} (a LAN or VPN uses it)",
                              f"choose another {variable} (or CLUSTER_ID) outside {route.cidr}")


def _inotify(facts: Facts, plan: ClusterPlan) -> Iterator[Problem]:
    nodes = _node_count(facts, plan)
    for name, have, per_node, recommended in (
            ("max_user_instances", facts.max_user_instances, INSTANCES_PER_NODE,
             RECOMMENDED_INSTANCES),
            ("max_user_watches", facts.max_user_watches, WATCHES_PER_NODE, RECOMMENDED_WATCHES)):
        need = per_node * nodes
        if have is not None and have < need:
            yield Problem(f"fs.inotify.{name} is {have}; {nodes} nodes on this host need "
                          f"{need} (else 'too many open files' and nodes that never boot)",
                          f"sudo sysctl -w fs.inotify.{name}={max(need, recommended)} "
                          "(and put it in /etc/sysctl.d/ to keep it)", warning=True)


def _node_count(facts: Facts, plan: ClusterPlan) -> int:
    """This cluster's nodes plus the running nodes of other clusters on the same host."""
    return len(plan.nodes) + sum(1 for key in facts.node_clusters if key != plan.cluster_key)


def _pids(facts: Facts, plan: ClusterPlan) -> Iterator[Problem]:
    nodes = _node_count(facts, plan)
    need = PIDS_PER_NODE * nodes
    if facts.pid_max is not None and facts.pid_max < need:
        yield Problem(f"kernel.pid_max is {facts.pid_max}; {nodes} nodes on this host need about {need} "
                      "process ids (else fork failures in the nodes)",
                      "sudo sysctl -w kernel.pid_max=4194304 (and put it in /etc/sysctl.d/ to keep it)",
                      warning=True)


def _memory(facts: Facts, plan: ClusterPlan) -> Iterator[Problem]:
    """Memory the nodes may take: their limits where set, else a working node's typical need."""
    if not facts.host_memory:
        return
    need = sum(node.limits.memory or MEMORY_PER_NODE for node in plan.nodes)
    if need > facts.host_memory:
        yield Problem(f"{len(plan.nodes)} nodes may need {need / GIB:.1f} GiB of memory; the Docker host has "
                      f"{facts.host_memory / GIB:.1f} GiB", "use fewer nodes (NUM_NODES), smaller "
                      "DIND_NODE_MEMORY limits, or a host with more memory", warning=True)


def disk_needed(plan: ClusterPlan) -> int:
    return DISK_BASE + DISK_PER_NODE * len(plan.nodes)


def _disk(facts: Facts, plan: ClusterPlan) -> Iterator[Problem]:
    need = disk_needed(plan)
    if facts.free_disk is not None and facts.free_disk < need:
        yield Problem(f"only {facts.free_disk / GIB:.1f} GiB free under {facts.data_root}; "
                      f"images and {len(plan.nodes)} node volumes need about {need / GIB:.1f} GiB",
                      "free space ('docker system prune', 'docker image prune -a') or move "
                      "Docker's data-root to a bigger disk")


def _cgroups(facts: Facts, plan: ClusterPlan) -> Iterator[Problem]:
    api = tuple(int(x) for x in facts.api_version.split(".")[:2])
    if api < CGROUPNS_API:
        yield Problem(f"cgroup v{facts.cgroup_version} host, but Docker API {facts.api_version} can't "
                      "give nodes a private cgroup namespace", "upgrade Docker to 20.10 or newer")
    if facts.cgroup_version != 2:
        return            # cgroup v1: no delegation of controllers to check
    missing = [c for c in CGROUP_CONTROLLERS if c not in facts.cgroup_controllers]
    if missing:
        who = "rootless Docker" if facts.rootless else "the Docker engine"
        yield Problem(f"cgroup v2 controllers {', '.join(missing)} are not delegated to {who}",
                      "set 'Delegate=cpu cpuset io memory pids' in "
                      "/etc/systemd/system/user@.service.d/delegate.conf, then "
                      "'sudo systemctl daemon-reload' and log in again")


def _br_netfilter(facts: Facts, plan: ClusterPlan) -> Iterator[Problem]:
    """The bridge CNI needs bridged traffic through iptables; a node loads br_netfilter itself only
    when the host has the module (it mounts /lib/modules)."""
    if plan.cni_plugin == "bridge" and facts.bridge_netfilter is False and not facts.netfilter_module:
        yield Problem("br_netfilter is not loaded on the Docker host and nodes can't load it: with "
                      "CNI_PLUGIN=bridge a Service would not answer pods on its endpoint's node",
                      BR_NETFILTER_FIX)
