"""DNS64 (bind9) and NAT64 (tayga) helper containers of an IPv6-only cluster (reference §8).

Their images are built offline FROM the node's base image (content-hashed tags); the containers
sit on the cluster network at the plan's addresses, carry the cluster's labels plus
dind-cluster.io/role=dns64|nat64, survive `down` (which removes only masters and workers) and go
with `clean` (which removes everything with the cluster label).
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional

import docker

from dind_cluster import helpers64 as pure, registries, registry_plan
from dind_cluster.backend import helper_images
from dind_cluster.balancer import ROLE as BALANCER_ROLE
from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import exec_in, run_once, wait_until
from dind_cluster.backend.helper_containers import base_options, start_helper
from dind_cluster.backend.network import bridge_of
from dind_cluster.backend.nodes import Created, _remove, existing_ours
from dind_cluster.naming import CLUSTER_LABEL, ROLE_LABEL
from dind_cluster.plan import ClusterPlan
from dind_cluster.settings import DEFAULT_BASE_IMAGE

DNS64, NAT64 = pure.DNS64_ROLE, pure.NAT64_ROLE
# The HA load balancer's image is built the same way (backend/balancer.py).
REPOSITORIES = {DNS64: "dind-cluster-bind9", NAT64: "dind-cluster-tayga", BALANCER_ROLE: "dind-cluster-haproxy"}
CONTEXT_DIRS = {DNS64: "bind9", NAT64: "tayga", BALANCER_ROLE: "haproxy"}
DIGEST_LABEL = "dind-cluster.io/helper-digest"
Progress = Optional[Callable[[str], None]]


def ensure_helpers(client: docker.DockerClient, plan: ClusterPlan, environ: Mapping[str, str],
                   created: Optional[Created] = None, progress: Progress = None) -> list:
    """Build the helper images if needed, then reuse or (re)create tayga and bind9, wait until
    they serve, and add the host route to the NAT64 pool. Returns [tayga, bind9]; [] outside
    IPv6 mode. `environ` gives DOCKER_HOST and DIND_BASE_IMAGE."""
    if plan.ip_mode != "ipv6":
        return []
    created = created if created is not None else Created()
    tags = {role: ensure_helper_image(client, role, environ, progress) for role in (NAT64, DNS64)}
    helpers = [_ensure_helper(client, plan, role, tags[role], created) for role in tags]
    for container in helpers:
        wait_for_helper(container)
    add_pool_route(client, plan, environ, tags[NAT64], progress)
    return helpers


def remove_helpers(client: docker.DockerClient, plan: ClusterPlan) -> int:
    """Remove the cluster's helpers (`clean` already does, by the cluster label)."""
    found = helper_containers(client, plan.cluster_key)
    for container in found:
        _remove(container, "container")
    return len(found)


def helper_containers(client: docker.DockerClient, cluster_key: str) -> list:
    flt = {"label": [f"{CLUSTER_LABEL}={cluster_key}", ROLE_LABEL]}
    with docker_errors("listing DNS64/NAT64 helpers"):
        found = client.containers.list(all=True, filters=flt)
    return [c for c in found if c.labels.get(ROLE_LABEL) in (DNS64, NAT64)]


# ---- images ----

def helper_image_tag(client: docker.DockerClient, role: str, base: str) -> str:
    """dind-cluster-<bind9|tayga>:<12 hex>, from the base image's ID and the context files."""
    return helper_images.image_tag(client, CONTEXT_DIRS[role], REPOSITORIES[role], base)


def ensure_helper_image(client: docker.DockerClient, role: str, environ: Mapping[str, str],
                        progress: Progress = None) -> str:
    """The helper image's tag, built when missing FROM DIND_BASE_IMAGE (Debian packages via apt,
    through the proxy settings of `environ`)."""
    base = (environ.get("DIND_BASE_IMAGE") or "").strip() or DEFAULT_BASE_IMAGE
    build_env = registry_plan.proxy_env(registries.parse_proxy(environ))
    return helper_images.ensure_image(client, CONTEXT_DIRS[role], REPOSITORIES[role], base, progress, build_env)


# ---- containers ----

def helper_options(client, plan: ClusterPlan, role: str, image: str) -> dict:
    """containers.create arguments of one helper: static addresses, NET_ADMIN, tun for tayga."""
    helper = plan.dns64 if role == DNS64 else plan.nat64
    sysctls = {"net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.all.forwarding": "1"}
    opts = {**base_options(client, plan, helper.name, helper.ips, role, image),
            "cap_add": ["NET_ADMIN"], "sysctls": sysctls}
    if role == NAT64:
        sysctls["net.ipv4.ip_forward"] = "1"
        opts["devices"] = ["/dev/net/tun:/dev/net/tun:rwm"]
    else:
        opts["dns"] = [plan.dns_server]   # the original points bind9's resolver at itself
    return opts


def _ensure_helper(client, plan: ClusterPlan, role: str, image: str, created: Created):
    files = pure.helper_files(plan, role)
    opts = helper_options(client, plan, role, image)
    helper = plan.dns64 if role == DNS64 else plan.nat64
    digest = pure.config_digest(image, files, {"role": role, "ips": helper.ips,
                                               "network": plan.network.name})
    opts["labels"][DIGEST_LABEL] = digest
    old = existing_ours(client, plan, helper.name)
    if old is not None:
        if old.status == "running" and old.labels.get(DIGEST_LABEL) == digest:
            return old
        _remove(old, "container")   # stopped, or made from another config or image
    return start_helper(client, opts, files, created, f"the {role} helper {helper.name}")


def wait_for_helper(container, timeout: float = 60) -> None:
    """Ready when the entrypoint finished its set-up (and, for bind9, port 53 listens)."""
    is_dns = container.labels.get(ROLE_LABEL) == DNS64
    wait_until(container, lambda c: "ready" if _helper_serves(c, is_dns) else "setting up",
               what="helper", timeout=timeout)


def _helper_serves(container, is_dns: bool) -> bool:
    code, _ = exec_in(container, ["test", "-e", pure.READY_MARKER], check=False)
    if code != 0 or not is_dns:
        return code == 0
    _, out = exec_in(container, ["ss", "-Hlnu", "sport = :53"], check=False)
    return bool(out.strip())


# ---- host side ----

def add_pool_route(client, plan: ClusterPlan, environ: Mapping[str, str], image: str,
                   progress: Progress = None) -> bool:
    """`ip route replace <pool> via <tayga v4>` on the engine's host. Skipped for remote engines."""
    if not _engine_here(environ, progress, f"adding the host route to the NAT64 pool {plan.nat64_pool}"):
        return False
    _run_on_host(client, image, pure.pool_route_argv(plan), {**plan.labels, ROLE_LABEL: "nat64-route"},
                 f"adding the host route to {plan.nat64_pool}")
    return True


def set_aaaa_rules(client, plan: ClusterPlan, environ: Mapping[str, str], image: str,
                   add: bool = True, progress: Progress = None) -> bool:
    """Add (up, restore) or remove (down, clean) the host's ip6tables rules for real IPv6
    (reference §8.4), with `image` (any image with iproute2 and ip6tables: the node image or
    the tayga image). Skipped for remote engines."""
    if not _engine_here(environ, progress, "changing the host's ip6tables rules"):
        return False
    bridge = bridge_name(client, plan.network.name) if plan.ip_mode == "ipv6" else None
    _run_on_host(client, image, ["/bin/sh", "-c", pure.aaaa_rules_script(bridge, add)],
                 {**plan.labels, ROLE_LABEL: "ip6tables"}, "setting the host's ip6tables rules for IPv6",
                 volumes={"/lib/modules": {"bind": "/lib/modules", "mode": "ro"}})
    return True


def _engine_here(environ: Mapping[str, str], progress: Progress, doing: str) -> bool:
    """Host-side changes only make sense when the engine runs on this machine."""
    docker_host = environ.get("DOCKER_HOST") or ""
    if pure.engine_is_local(docker_host):
        return True
    if progress:
        progress(f"not {doing}: the Docker engine ({docker_host}) is not on this machine")
    return False


def _run_on_host(client, image: str, entrypoint: list, labels: dict, doing: str, volumes=None) -> None:
    """Run a short-lived host-network container with NET_ADMIN (so no root is needed here)."""
    run_once(client, image, doing, entrypoint=entrypoint, command=[], network_mode="host",
             cap_add=["NET_ADMIN"], labels=labels, volumes=volumes or {})


def bridge_name(client, network_name: str) -> str:
    """The host interface of a bridge network: its configured name, else br-<id12>."""
    with docker_errors(f"inspecting network {network_name}"):
        return bridge_of(client.networks.get(network_name).attrs)
