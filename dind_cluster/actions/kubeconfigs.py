"""`get kubeconfig` and `export kubeconfig` (kind's verbs): the cluster's admin.conf, read from its
running master, pointed at the apiserver's published loopback port, or with --internal at the
master's address on the cluster network (for a container on that network)."""
from __future__ import annotations

import yaml

from dind_cluster import kubeconfig
from dind_cluster.actions.kube import ADMIN_CONF
from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import exec_in
from dind_cluster.backend.inventory import ClusterFacts, NodeFacts, clusters_on_engine
from dind_cluster.errors import ConfigError, DindError
from dind_cluster.naming import DEFAULT_CLUSTER_KEY, context_name, key_of_context, suffix_of_key

APISERVER_PORT_INSIDE = 6443


def internal_server(cluster: ClusterFacts, master: NodeFacts) -> str:
    """The apiserver as seen from the cluster network: the master's address in the cluster's
    family (IPv6 in ipv6 mode, else IPv4; kubeadm advertises that one) and port 6443."""
    want_v6 = cluster.ip_mode == "ipv6"
    ips = [ip for ip in master.ips if (":" in ip) == want_v6] or list(master.ips)
    if not ips:
        raise DindError(f"{master.name} has no address on the cluster network", "run 'dind-cluster reup'")
    return kubeconfig.server_url(ips[0], APISERVER_PORT_INSIDE)


def loopback_server(master: NodeFacts) -> str:
    if not master.apiserver:
        raise DindError(f"{master.name} publishes no apiserver port", "run 'dind-cluster reup'")
    return kubeconfig.server_url(*master.apiserver)


def running_master(client, context: str, variable: str = "--name") -> tuple:
    """(cluster, master facts, master container) of a running cluster, or a one-line error naming
    `variable`, the setting that chose the context."""
    key = key_of_context(context)
    found = clusters_on_engine(client, key) if key else []
    if not found:
        known = ", ".join(context_name(suffix_of_key(c.key)) for c in clusters_on_engine(client)) or "none"
        raise ConfigError(variable, f"no cluster {context} on this engine",
                          f"clusters here: {known} (see 'dind-cluster list')")
    cluster = found[0]
    masters = [n for n in cluster.nodes if n.role == "master" and n.status == "running"]
    if not masters:
        raise DindError(f"cluster {context} is not running (no running master)",
                        "bring it up with 'dind-cluster up' (or 'unpause')")
    with docker_errors(f"inspecting {masters[0].name}"):
        return cluster, masters[0], client.containers.get(masters[0].name)


def cluster_kubeconfig(client, context: str, internal: bool = False, variable: str = "--name") -> dict:
    """The kubeconfig of one cluster: its cluster, user and context all named `context`."""
    cluster, master, container = running_master(client, context, variable)
    _, admin_conf = exec_in(container, ["cat", ADMIN_CONF])
    server = internal_server(cluster, master) if internal else loopback_server(cluster.apiserver_node() or master)
    return kubeconfig.cluster_entry(admin_conf, context, server)


def as_yaml(entry: dict) -> str:
    return yaml.safe_dump(entry, default_flow_style=False, sort_keys=False)


def is_default(context: str) -> bool:
    """Only the default cluster becomes the current context, as `up` does."""
    return key_of_context(context) == DEFAULT_CLUSTER_KEY

