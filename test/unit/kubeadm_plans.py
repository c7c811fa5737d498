"""Hand-built ClusterPlans for the template tests (independent of make_plan): the default
IPv4, IPv6 and dual-stack clusters of reference §3.7, examples 1, 9 and 27."""
from __future__ import annotations

from dataclasses import replace

from dind_cluster.plan import ClusterPlan, HelperPlan, NetworkPlan, NodePlan

NAMES = ("kube-master", "kube-node-1", "kube-node-2")


def _nodes(ips, pods, gateways) -> tuple[NodePlan, ...]:
    return tuple(
        NodePlan(name=name, role="master" if k == 0 else "worker", node_id=k + 1,
                 ips=ips[k], pod_cidrs=pods[k], pod_gateways=gateways[k],
                 volume=f"kubeadm-dind-{name}")
        for k, name in enumerate(NAMES))


def _base(**fields) -> ClusterPlan:
    common = dict(
        cluster_id="0", dind_label="mirantis.kubeadm_dind_cluster_runtime", suffix="",
        cluster_key="default", context="dind", dns_server=None, dns64_prefix_cidr=None,
        local_nat64_server=None, nat64_v4_subnet_prefix=None, nat64_v4_subnet=None,
        nat64_pool=None, dns64=None, nat64=None, remote_dns64_v4server="8.8.8.8",
        allow_aaaa_use=False, cni_plugin="bridge", kubeadm_pod_subnet=None,
        labels={"dind-cluster.io/cluster": "default"})
    common.update(fields)
    return ClusterPlan(**common)


def ipv4() -> ClusterPlan:
    return _base(
        ip_mode="ipv4",
        network=NetworkPlan("kubeadm-dind-net", ("10.192.0.0/24",), ("10.192.0.1",), False),
        nodes=_nodes([("10.192.0.2",), ("10.192.0.3",), ("10.192.0.4",)],
                     [(f"10.244.{i}.0/24",) for i in (1, 2, 3)],
                     [(f"10.244.{i}.1",) for i in (1, 2, 3)]),
        service_cidr="10.96.0.0/12", service_net_mode="ipv4", dns_svc_ip="10.96.0.10",
        use_hairpin=False, pod_network_cidrs=("10.244.0.0/16",),
        advertise_address="10.192.0.2", apiserver_host="127.0.0.1")


def ipv6() -> ClusterPlan:
    return _base(
        ip_mode="ipv6",
        network=NetworkPlan("kubeadm-dind-net", ("fd00:20::/64", "172.18.0.0/16"),
                            ("fd00:20::1",), True),
        nodes=_nodes([("fd00:20::2",), ("fd00:20::3",), ("fd00:20::4",)],
                     [(f"fd00:40:0:0:{i}::/80",) for i in (1, 2, 3)],
                     [(f"fd00:40:0:0:{i}::1",) for i in (1, 2, 3)]),
        service_cidr="fd00:30::/110", service_net_mode="ipv6", dns_svc_ip="fd00:30::a",
        dns_server="fd00:20::100", dns64_prefix_cidr="fd00:10:64:ff9b::/96",
        local_nat64_server="fd00:20::200", nat64_v4_subnet_prefix="172.18",
        nat64_v4_subnet="172.18.0.0/16", nat64_pool="172.18.0.128/25",
        dns64=HelperPlan("bind9", ("fd00:20::100",)),
        nat64=HelperPlan("tayga", ("172.18.0.200", "fd00:20::200")),
        use_hairpin=True, pod_network_cidrs=("fd00:40::/72",),
        advertise_address="fd00:20::2", apiserver_host="::1")


def dual_stack() -> ClusterPlan:
    return _base(
        ip_mode="dual-stack",
        network=NetworkPlan("kubeadm-dind-net", ("10.192.0.0/24", "fd00:20::/64"),
                            ("10.192.0.1", "fd00:20::1"), True),
        nodes=_nodes([(f"10.192.0.{i}", f"fd00:20::{i}") for i in (2, 3, 4)],
                     [(f"10.244.{i}.0/24", f"fd00:40:0:0:{i}::/80") for i in (1, 2, 3)],
                     [(f"10.244.{i}.1", f"fd00:40:0:0:{i}::1") for i in (1, 2, 3)]),
        service_cidr="fd00:30::/110", service_net_mode="ipv6", dns_svc_ip="fd00:30::a",
        allow_aaaa_use=True, use_hairpin=True,
        pod_network_cidrs=("10.244.0.0/16", "fd00:40::/72"),
        advertise_address="fd00:20::2", apiserver_host="::1")


PLANS = {"ipv4": ipv4, "ipv6": ipv6, "dual-stack": dual_stack}


def master_only(plan: ClusterPlan) -> ClusterPlan:
    """The same cluster with NUM_NODES=0."""
    return replace(plan, nodes=plan.nodes[:1])
