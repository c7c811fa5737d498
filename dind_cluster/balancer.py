"""Pure: the load balancer of an HA control plane — haproxy's configuration for a plan.

Every master's apiserver (its address of the service family, port 6443) is a server; haproxy
passes TCP through and health-checks each on /healthz over TLS, so a stopped master drops out
within two seconds and kubectl through the balancer keeps answering.
"""
from __future__ import annotations

from dind_cluster.kubeadm import API_PORT, host_port
from dind_cluster.network import same_family
from dind_cluster.plan import ClusterPlan
from dind_cluster.templates import render

CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"
ADMIN_SOCKET = "/run/haproxy-admin.sock"
ROLE = "load-balancer"


def servers(plan: ClusterPlan) -> list[tuple[str, str]]:
    """(server name, address:port) of every master, in plan order."""
    return [(node.name, host_port(same_family(node.ips, plan.advertise_address), API_PORT))
            for node in plan.masters]


def healthz_probe(endpoint: str) -> list[str]:
    """argv run in a node: GET /healthz through `endpoint` (host:port); the status line comes first."""
    request = "GET /healthz HTTP/1.0\\r\\n\\r\\n"
    return ["sh", "-c", f"printf '{request}' | timeout 5 openssl s_client -quiet -connect {endpoint} 2>/dev/null"]


def render_config(plan: ClusterPlan) -> str:
    if plan.balancer is None:
        raise ValueError(f"cluster {plan.context} has one master and no load balancer")
    return render("haproxy.cfg.j2", balancer=plan.balancer.name, context=plan.context,
                  admin_socket=ADMIN_SOCKET, port=API_PORT, ipv6=plan.network.ipv6,
                  servers=servers(plan))
