"""The load-balancer container of an HA control plane: Debian's haproxy on the cluster network at
the plan's address, publishing the apiserver port on loopback (the kubeconfig points there).

It keeps no state: `up` and restore create it from the plan, `down` removes it with the nodes,
`clean` with everything else of the cluster; `remove-node` of a master rewrites its configuration
and reloads it (SIGUSR2 to haproxy's master process).
"""
from __future__ import annotations

from typing import Mapping, Optional

from dind_cluster import balancer as pure
from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import exec_in, put_files, wait_until
from dind_cluster.backend.helper_containers import base_options, start_helper
from dind_cluster.backend.helpers64 import ensure_helper_image
from dind_cluster.backend.nodes import APISERVER_CONTAINER_PORT, Created, _remove_stale_container, existing_ours
from dind_cluster.plan import ClusterPlan

BOOT_TIMEOUT = 30.0


def balancer_options(client, plan: ClusterPlan, image: str, apiserver_port: Optional[int]) -> dict:
    """containers.create arguments: a helper's, with the apiserver port published."""
    lb = plan.balancer
    opts = base_options(client, plan, lb.name, lb.ips, pure.ROLE, image)
    opts["ports"] = {APISERVER_CONTAINER_PORT: (plan.apiserver_host, apiserver_port)}
    if plan.network.ipv6:
        opts["sysctls"] = {"net.ipv6.conf.all.disable_ipv6": "0"}
    return opts


def ensure_balancer(client, plan: ClusterPlan, environ: Mapping[str, str], *, created: Created,
                    apiserver_port: Optional[int] = None, progress=None):
    """(Re)create and start the balancer; returns its container, serving. None for one master."""
    if plan.balancer is None:
        return None
    image = ensure_helper_image(client, pure.ROLE, environ, progress)   # apt through the proxy settings too
    _remove_stale_container(client, plan, plan.balancer.name)
    container = start_helper(client, balancer_options(client, plan, image, apiserver_port),
                             {pure.CONFIG_PATH: pure.render_config(plan)}, created,
                             f"the load balancer {plan.balancer.name}")
    wait_until(container, _serving, what="load balancer", timeout=BOOT_TIMEOUT)
    return container


def reconfigure(client, plan: ClusterPlan) -> None:
    """New configuration (e.g. a master removed), reloaded without dropping connections."""
    container = existing_ours(client, plan, plan.balancer.name)
    if container is None or container.status != "running":
        return
    put_files(container, {pure.CONFIG_PATH: pure.render_config(plan)})
    with docker_errors(f"reloading the load balancer {plan.balancer.name}"):
        container.kill(signal="SIGUSR2")


def config_and_logs(container) -> tuple[bytes, bytes]:
    """For dumps: the configuration it runs and its log."""
    _, config = exec_in(container, ["cat", pure.CONFIG_PATH], check=False)
    with docker_errors(f"reading the log of {container.name}"):
        logs = container.logs(stdout=True, stderr=True, tail=500)
    return config.encode(), logs


def _serving(container) -> str:
    code, _ = exec_in(container, ["test", "-S", pure.ADMIN_SOCKET], check=False)
    return "ready" if code == 0 else "haproxy starting"
