"""Pure: the whole cluster (names, addresses, pod networks, labels) before any Docker call.

`make_plan(values)` takes the resolved settings as plain strings and returns a `ClusterPlan`,
or raises `ConfigError` naming the first bad variable. Nothing here imports docker or reads
os.environ.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional


@dataclass(frozen=True)
class NodePlan:
    name: str                 # container name and hostname: kube-master<sfx>, kube-node-<k><sfx>
    role: str                 # "master" | "worker"
    node_id: int              # 1 for the master, k+1 for kube-node-k (the original's node_id)
    ips: tuple[str, ...]      # management addresses, IPv4 first
    pod_cidrs: tuple[str, ...]      # this node's pod subnets, IPv4 first
    pod_gateways: tuple[str, ...]   # bridge / CNI gateway address in each pod subnet
    volume: str               # kubeadm-dind-<name>, mounted on /var


@dataclass(frozen=True)
class NetworkPlan:
    name: str                      # kubeadm-dind-net<sfx>
    subnets: tuple[str, ...]       # management CIDRs, IPv4 first; IPv6 mode adds the NAT64 /16 last
    gateways: tuple[str, ...]      # one per management CIDR (not for the NAT64 /16)
    ipv6: bool                     # enable IPv6 on the Docker network


@dataclass(frozen=True)
class HelperPlan:
    """A DNS64 (bind9) or NAT64 (tayga) helper container of an IPv6-only cluster."""
    name: str                      # bind9<sfx> / tayga<sfx>
    ips: tuple[str, ...]           # static addresses on the cluster network


@dataclass(frozen=True)
class ClusterPlan:
    ip_mode: str                   # ipv4 | ipv6 | dual-stack
    cluster_id: str                # decimal string, "0" for the default cluster
    dind_label: str                # final DIND_LABEL (original label key)
    suffix: str                    # "" | "-cluster-10" | "-foo" | "-foo-3"
    cluster_key: str               # value of dind-cluster.io/cluster: default | cluster-10 | foo | foo-3
    context: str                   # kubectl context/cluster name: dind<sfx>
    network: NetworkPlan
    nodes: tuple[NodePlan, ...]    # master first
    service_cidr: str
    service_net_mode: str          # ipv4 | ipv6 (family of SERVICE_CIDR)
    dns_svc_ip: str                # SERVICE_CIDR host 10
    dns_server: Optional[str]      # resolver nodes use: the DNS64 helper in IPv6 mode, else None
    dns64_prefix_cidr: Optional[str]       # IPv6 mode only
    local_nat64_server: Optional[str]      # tayga's IPv6 address, IPv6 mode only
    nat64_v4_subnet_prefix: Optional[str]  # "172.18" after the cluster-ID offset; IPv6 mode only
    nat64_v4_subnet: Optional[str]         # "<prefix>.0.0/16"
    nat64_pool: Optional[str]              # "<prefix>.0.128/25"
    dns64: Optional[HelperPlan]
    nat64: Optional[HelperPlan]
    remote_dns64_v4server: str
    allow_aaaa_use: bool
    use_hairpin: bool
    cni_plugin: str
    pod_network_cidrs: tuple[str, ...]     # the supernets as given (normalised), IPv4 first
    kubeadm_pod_subnet: Optional[str]      # first pod CIDR for non-bridge/ptp CNIs, else None
    advertise_address: str                 # master address kubeadm advertises
    apiserver_host: str                    # "127.0.0.1" or "::1" (by service family)
    labels: Mapping[str, str] = field(default_factory=dict)  # put on every object we create

    @property
    def master(self) -> NodePlan:
        return self.nodes[0]

    @property
    def workers(self) -> tuple[NodePlan, ...]:
        return self.nodes[1:]
