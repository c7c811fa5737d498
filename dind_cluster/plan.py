"""Pure: the whole cluster (names, addresses, pod networks, labels) before any Docker call.

`make_plan(values)` takes the resolved settings as plain strings and returns a `ClusterPlan`,
or raises `ConfigError` naming the first bad variable. Nothing here imports docker or reads
os.environ.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Optional

from netaddr import IPAddress, IPNetwork

from .errors import ConfigError
from .resources import NodeLimits, limits_for

from . import naming, validation as check, versions
from .network import (DUAL, check_ipv6_pod_cidr, host, inject_cluster_id, nat64_prefix,
                      parse_cidr, pick_cidrs, pod_subnet, same_family)


@dataclass(frozen=True)
class NodePlan:
    name: str                 # container name and hostname: kube-master<sfx>, kube-node-<k><sfx>
    role: str                 # "master" | "worker"
    node_id: int              # 1 for the master, k+1 for kube-node-k (the original's node_id);
                              # extra masters: their host number - 1 (see _extra_master)
    ips: tuple[str, ...]      # management addresses, IPv4 first
    pod_cidrs: tuple[str, ...]      # this node's pod subnets, IPv4 first
    pod_gateways: tuple[str, ...]   # bridge / CNI gateway address in each pod subnet
    volume: str               # kubeadm-dind-<name>, mounted on /var
    limits: NodeLimits = NodeLimits()   # Docker CPU/memory limits (DIND_NODE_*, DIND_MASTER_*, DIND_WORKER_*)


@dataclass(frozen=True)
class NetworkPlan:
    name: str                      # kubeadm-dind-net<sfx>
    subnets: tuple[str, ...]       # management CIDRs, IPv4 first; IPv6 mode adds the NAT64 /16 last
    gateways: tuple[str, ...]      # one per management CIDR (not for the NAT64 /16)
    ipv6: bool                     # enable IPv6 on the Docker network


@dataclass(frozen=True)
class HelperPlan:
    """A DNS64 (bind9) or NAT64 (tayga) helper of an IPv6-only cluster, or the load balancer
    of an HA control plane."""
    name: str                      # bind9<sfx> / tayga<sfx> / kube-lb<sfx>
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
    dns_server: Optional[str]      # nodes' upstream (docker --dns): the DNS64 helper in IPv6 mode,
                                   # else DIND_DNS_SERVER or None (the engine's own resolvers)
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
    warnings: tuple[str, ...] = ()         # for the CLI to print (pure code can't)
    balancer: Optional[HelperPlan] = None  # HA control plane only: haproxy in front of the masters

    @property
    def master(self) -> NodePlan:
        """The first master: kubeadm init runs there."""
        return self.nodes[0]

    @property
    def masters(self) -> tuple[NodePlan, ...]:
        return tuple(n for n in self.nodes if n.role == "master")

    @property
    def workers(self) -> tuple[NodePlan, ...]:
        return tuple(n for n in self.nodes if n.role == "worker")

    @property
    def endpoint_address(self) -> str:
        """Where kubeadm, the nodes and the host reach the API: the balancer, else the master."""
        if self.balancer is None:
            return self.advertise_address
        return same_family(self.balancer.ips, self.advertise_address)

    @property
    def shape(self) -> "Shape":
        return Shape(tuple(_index(n, self.suffix) for n in self.masters),
                     tuple(_index(n, self.suffix) for n in self.workers), self.balancer is not None)


@dataclass(frozen=True)
class Shape:
    """Which nodes a cluster has: master numbers (1 = kube-master, m = kube-master-m), worker
    numbers (k = kube-node-k) and whether a balancer fronts the masters. A new cluster's shape
    comes from NUM_MASTERS and NUM_NODES; a running one's from its containers (join, remove-node)."""
    masters: tuple[int, ...]
    workers: tuple[int, ...]
    balanced: bool

    @classmethod
    def of_counts(cls, masters: int, workers: int) -> "Shape":
        return cls(tuple(range(1, masters + 1)), tuple(range(1, workers + 1)), masters > 1)

    def with_worker(self, k: int) -> "Shape":
        return Shape(self.masters, tuple(sorted({*self.workers, k})), self.balanced)

    def without(self, role: str, index: int) -> "Shape":
        if role == "master":
            return Shape(tuple(m for m in self.masters if m != index), self.workers, self.balanced)
        return Shape(self.masters, tuple(k for k in self.workers if k != index), self.balanced)

    def next_worker(self) -> int:
        """The lowest free worker number (a removed node's name comes back first)."""
        return next(k for k in range(1, len(self.workers) + 2) if k not in self.workers)


def shape_from_names(names, suffix: str, balanced: bool) -> Optional[Shape]:
    """The shape of nodes named as this suffix names them (others are ignored); None if none."""
    parsed = [p for p in (naming.parse_node_name(n, suffix) for n in names) if p]
    if not any(role == "master" for role, _ in parsed):
        return None
    return Shape(tuple(sorted({i for role, i in parsed if role == "master"})),
                 tuple(sorted({i for role, i in parsed if role == "worker"})), balanced)


def _index(node: NodePlan, suffix: str) -> int:
    parsed = naming.parse_node_name(node.name, suffix)
    return parsed[1] if parsed else 0




MGMT_DEFAULTS = {"ipv4": ("10.192.0.0/24",), "ipv6": ("fd00:20::/64",),
                 DUAL: ("10.192.0.0/24", "fd00:20::/64")}
POD_DEFAULTS = {"ipv4": ("10.244.0.0/16",), "ipv6": ("fd00:40::/72",),
                DUAL: ("10.244.0.0/16", "fd00:40::/72")}
CALICO_POD_DEFAULT = ("192.168.0.0/16",)
SERVICE_DEFAULTS = {"ipv4": "10.96.0.0/12", "ipv6": "fd00:30::/110", DUAL: "fd00:30::/110"}
GATEWAY_HOST, MASTER_HOST = 1, 2
_NETWORK_VARIABLES = ("MGMT_CIDRS", "DIND_SUBNET", "POD_NETWORK_CIDR", "SERVICE_CIDR", "NAT64_V4_SUBNET_PREFIX",
                      "DNS64_PREFIX")
BIND9_HOST, TAYGA_HOST = check.HELPER_HOSTS


class _Values:
    """The settings as given; a missing or blank value means "the default"."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        value = (self._values.get(name) or "").strip()
        return value or default


@dataclass(frozen=True)
class _Ipv6Extras:
    """DNS64 and NAT64 of an IPv6-only cluster (reference §3.5, §8)."""
    dns64_prefix: IPNetwork
    nat64_prefix: str
    dns64: HelperPlan
    nat64: HelperPlan

    @property
    def nat64_subnet(self) -> str:
        return f"{self.nat64_prefix}.0.0/16"


def make_plan(values: Mapping[str, str], label_ids: Optional[Mapping[str, int]] = None,
              shape: Optional[Shape] = None) -> ClusterPlan:
    """Resolve every name and address of a cluster, or raise the first ConfigError.
    `label_ids`: IDs remembered for labels given without CLUSTER_ID (naming.resolve_identity);
    `shape` replaces NUM_MASTERS/NUM_NODES for a cluster that exists (grown or shrunk)."""
    v = _Values(values)
    versions.parse(v.get("DIND_K8S_VERSION") or versions.DEFAULT_K8S_VERSION)
    mode = check.choice("IP_MODE", v.get("IP_MODE"), check.IP_MODES, "ipv4")
    ident = naming.resolve_identity(v.get("DIND_LABEL"), v.get("CLUSTER_ID"), label_ids)
    num_nodes = check.parse_num_nodes(v.get("NUM_NODES"))
    cni = check.choice("CNI_PLUGIN", v.get("CNI_PLUGIN"), check.CNI_PLUGINS, "bridge")
    check.check_ipv6_cni(cni, mode)
    mgmt_var, mgmt = _management(v, mode, ident.cluster_id)
    pods = _pod_networks(v, mode, cni)
    service = check.service_network(v.get("SERVICE_CIDR", SERVICE_DEFAULTS[mode]), mode)
    extras = _ipv6_extras(v, ident, mgmt[-1]) if mode == "ipv6" else None
    allow_aaaa, warnings = _aaaa_use(v, mode)
    given = {name for name in _NETWORK_VARIABLES if v.get(name)}
    check.check_overlaps(_named_networks(mgmt_var, mgmt, pods, service, extras), given)
    check.check_management_room(mgmt_var, mgmt, mode)
    num_masters = check.parse_num_masters(v.get("NUM_MASTERS"))
    shape = shape or Shape.of_counts(num_masters, num_nodes)
    check.check_num_nodes(max(shape.workers, default=0), mgmt_var, mgmt, mode)
    check.check_ha_room(max(shape.masters, default=1) if shape.balanced else 1,
                        max(shape.workers, default=0), mgmt_var, mgmt, mode)
    nodes, balancer = _nodes(ident.suffix, shape, mgmt, pods, mode)
    nodes = tuple(replace(n, limits=limits_for(values, n.role)) for n in nodes)
    master_ip = next(ip for ip in nodes[0].ips if IPAddress(ip).version == service.version)
    return ClusterPlan(
        ip_mode=mode, cluster_id=str(ident.cluster_id), dind_label=ident.dind_label,
        suffix=ident.suffix, cluster_key=ident.cluster_key,
        context=naming.context_name(ident.suffix),
        network=_network_plan(ident.suffix, mgmt, extras), nodes=nodes,
        service_cidr=str(service), service_net_mode=f"ipv{service.version}",
        dns_svc_ip=check.dns_service_ip(service), **_ipv6_fields(extras, v.get("DIND_DNS_SERVER")),
        remote_dns64_v4server=v.get("REMOTE_DNS64_V4SERVER", "8.8.8.8"),
        allow_aaaa_use=allow_aaaa,
        use_hairpin=check.parse_bool("USE_HAIRPIN", v.get("USE_HAIRPIN"), mode != "ipv4"),
        cni_plugin=cni, pod_network_cidrs=tuple(str(p) for p in pods),
        kubeadm_pod_subnet=None if cni in check.IPV6_CNI_PLUGINS else str(pods[0]),
        advertise_address=master_ip,
        apiserver_host="127.0.0.1" if service.version == 4 else "::1",
        labels={**naming.cluster_labels(ident), naming.IP_MODE_LABEL: mode}, warnings=warnings,
        balancer=balancer)


def _management(v: _Values, mode: str, cluster_id: int) -> tuple[str, list[IPNetwork]]:
    """MGMT_CIDRS, else the legacy DIND_SUBNET/DIND_SUBNET_SIZE pair, else the default."""
    variable, text = "MGMT_CIDRS", v.get("MGMT_CIDRS")
    if not text and v.get("DIND_SUBNET") and v.get("DIND_SUBNET_SIZE"):
        variable, text = "DIND_SUBNET", f"{v.get('DIND_SUBNET')}/{v.get('DIND_SUBNET_SIZE')}"
    texts = pick_cidrs(variable, text, mode, MGMT_DEFAULTS[mode])
    return variable, [inject_cluster_id(variable, t, cluster_id) for t in texts]


def _pod_networks(v: _Values, mode: str, cni: str) -> list[IPNetwork]:
    defaults = POD_DEFAULTS[mode]
    if mode == "ipv4" and cni in ("calico", "calico-kdd"):
        defaults = CALICO_POD_DEFAULT
    texts = pick_cidrs("POD_NETWORK_CIDR", v.get("POD_NETWORK_CIDR"), mode, defaults)
    nets = []
    for text in texts:
        net = parse_cidr("POD_NETWORK_CIDR", text)
        if net.version == 4:
            check.check_ipv4_pod_cidr(net, text)
        else:
            check_ipv6_pod_cidr(net, text)
        nets.append(net.cidr)
    return nets


def _ipv6_extras(v: _Values, ident: naming.Identity, v6_mgmt: IPNetwork) -> _Ipv6Extras:
    dns64_prefix = check.dns64_network(v.get("DNS64_PREFIX", "fd00:10:64:ff9b::"),
                                       v.get("DNS64_PREFIX_SIZE", "96"))
    prefix = nat64_prefix(v.get("NAT64_V4_SUBNET_PREFIX", "172.18"), ident.cluster_id)
    check.remote_dns64_server(v.get("REMOTE_DNS64_V4SERVER", "8.8.8.8"))
    bind9 = HelperPlan(naming.dns64_name(ident.suffix), (str(host(v6_mgmt, BIND9_HOST)),))
    tayga = HelperPlan(naming.nat64_name(ident.suffix),
                       (f"{prefix}.0.200", str(host(v6_mgmt, TAYGA_HOST))))
    return _Ipv6Extras(dns64_prefix, prefix, bind9, tayga)


def _ipv6_fields(extras: Optional[_Ipv6Extras], dns_server: Optional[str]) -> dict:
    """The ClusterPlan fields that only IPv6-only clusters fill (and dns_server, which IPv6 mode
    takes from its DNS64 helper and other modes from DIND_DNS_SERVER)."""
    if extras is None:
        fields = dict.fromkeys(("dns64_prefix_cidr", "local_nat64_server", "nat64_v4_subnet_prefix",
                                "nat64_v4_subnet", "nat64_pool", "dns64", "nat64"))
        return {**fields, "dns_server": check.node_dns_server(dns_server) if dns_server else None}
    if dns_server:
        raise ConfigError("DIND_DNS_SERVER", "is not used in IPv6 mode (nodes resolve through the DNS64 helper)",
                          "leave it empty and set REMOTE_DNS64_V4SERVER for the helper's upstream")
    return dict(dns_server=extras.dns64.ips[0], dns64_prefix_cidr=str(extras.dns64_prefix),
                local_nat64_server=extras.nat64.ips[-1],
                nat64_v4_subnet_prefix=extras.nat64_prefix,
                nat64_v4_subnet=extras.nat64_subnet,
                nat64_pool=f"{extras.nat64_prefix}.0.128/25",
                dns64=extras.dns64, nat64=extras.nat64)


def _aaaa_use(v: _Values, mode: str) -> tuple[bool, tuple[str, ...]]:
    """Dual-stack always uses real AAAA records; IPv4 ignores the setting with a warning.
    GCE can't give IPv6 external addresses, so AAAA use there is an error."""
    wanted = check.is_set(v.get("DIND_ALLOW_AAAA_USE"))
    if mode == "ipv4":
        warning = "DIND_ALLOW_AAAA_USE is for IPv6 mode; ignoring it"
        return False, (warning,) if wanted else ()
    allow = True if mode == DUAL else wanted
    if allow and check.is_set(v.get("GCE_HOSTED")):
        raise ConfigError("GCE_HOSTED", "GCE does not support IPv6 for external addresses",
                          "unset GCE_HOSTED, or use IP_MODE=ipv6 without DIND_ALLOW_AAAA_USE")
    return allow, ()


def _named_networks(mgmt_var, mgmt, pods, service, extras) -> list[tuple[str, IPNetwork]]:
    named = [(mgmt_var, net) for net in mgmt] + [("POD_NETWORK_CIDR", net) for net in pods]
    named.append(("SERVICE_CIDR", service))
    if extras:
        named.append(("NAT64_V4_SUBNET_PREFIX", IPNetwork(extras.nat64_subnet)))
        named.append(("DNS64_PREFIX", extras.dns64_prefix))
    return named


def _nodes(suffix: str, shape: Shape, mgmt: list[IPNetwork], pods: list[IPNetwork],
           mode: str) -> tuple[tuple[NodePlan, ...], Optional[HelperPlan]]:
    """Masters first (kube-master, then kube-master-2 …), then the workers in number order.
    The original's rule for kube-master and kube-node-k; the balancer and extra masters count
    down from the top (check.ha_top_host), so that joined workers never meet them."""
    top = check.ha_top_host(mgmt, mode)
    masters = [_node(suffix, 0, mgmt, pods) if m == 1 else _extra_master(suffix, m, top, mgmt, pods)
               for m in sorted(shape.masters)]
    workers = [_node(suffix, k, mgmt, pods) for k in sorted(shape.workers)]
    balancer = None
    if shape.balanced:
        balancer = HelperPlan(naming.balancer_name(suffix), tuple(str(host(net, top)) for net in mgmt))
    return tuple(masters + workers), balancer


def _node(suffix: str, k: int, mgmt: list[IPNetwork], pods: list[IPNetwork]) -> NodePlan:
    """k = 0 is the master (node_id 1, host 2); k >= 1 is kube-node-k (node_id k+1)."""
    name = naming.master_name(suffix) if k == 0 else naming.worker_name(k, suffix)
    return _node_at(name, "master" if k == 0 else "worker", MASTER_HOST + k, mgmt, pods)


def _extra_master(suffix: str, m: int, top: int, mgmt: list[IPNetwork],
                  pods: list[IPNetwork]) -> NodePlan:
    """kube-master-m: host top-(m-1), right below the balancer at `top`."""
    return _node_at(naming.master_name(suffix, m), "master", top - (m - 1), mgmt, pods)


def _node_at(name: str, role: str, host_number: int, mgmt: list[IPNetwork],
             pods: list[IPNetwork]) -> NodePlan:
    """A node at a host number; its node_id (pod subnet number) is host - 1, as in the original."""
    node_id = host_number - 1
    subnets = [pod_subnet(net, node_id) for net in pods]
    return NodePlan(
        name=name, role=role, node_id=node_id,
        ips=tuple(str(host(net, host_number)) for net in mgmt),
        pod_cidrs=tuple(str(s) for s in subnets),
        pod_gateways=tuple(str(host(s, 1)) for s in subnets),
        volume=naming.volume_name(name))


def _network_plan(suffix: str, mgmt: list[IPNetwork], extras) -> NetworkPlan:
    subnets = [str(net) for net in mgmt] + ([extras.nat64_subnet] if extras else [])
    return NetworkPlan(name=naming.network_name(suffix), subnets=tuple(subnets),
                       gateways=tuple(str(host(net, GATEWAY_HOST)) for net in mgmt),
                       ipv6=any(net.version == 6 for net in mgmt))


def plan_to_json(plan: ClusterPlan) -> dict:
    """The `dind-cluster config --json` document (DESIGN.md, Contracts); an HA control plane
    adds `load_balancer` {name, ips} (one master: the document is the original's, no such key)."""
    doc = {
        "ip_mode": plan.ip_mode, "cluster_id": plan.cluster_id,
        "dind_label": plan.dind_label, "context": plan.context,
        "network": {"name": plan.network.name, "subnets": list(plan.network.subnets),
                    "gateways": list(plan.network.gateways)},
        "service_cidr": plan.service_cidr, "service_net_mode": plan.service_net_mode,
        "dns_svc_ip": plan.dns_svc_ip, "dns_server": plan.dns_server,
        "dns64_prefix_cidr": plan.dns64_prefix_cidr,
        "local_nat64_server": plan.local_nat64_server,
        "nat64_v4_subnet_prefix": plan.nat64_v4_subnet_prefix,
        "use_hairpin": plan.use_hairpin, "cni_plugin": plan.cni_plugin,
        "pod_network_cidrs": list(plan.pod_network_cidrs),
        "nodes": [{"name": n.name, "role": n.role, "ips": list(n.ips),
                   "pod_cidrs": list(n.pod_cidrs)} for n in plan.nodes],
    }
    if plan.balancer is not None:
        doc["load_balancer"] = {"name": plan.balancer.name, "ips": list(plan.balancer.ips)}
    return doc
