"""The cluster's management network: created with our labels, reused when it is ours."""
from __future__ import annotations

import ipaddress
import time
from typing import Optional

import docker
from docker.types import IPAMConfig, IPAMPool

from dind_cluster.backend.client import docker_errors
from dind_cluster.errors import DockerError
from dind_cluster.naming import CLUSTER_LABEL
from dind_cluster.plan import ClusterPlan
from dind_cluster.preflight import overlap


BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
# How long a network refused for active endpoints, with none attached, gets before the second try:
# the engine may still be releasing the endpoint of a container whose removal has just returned.
ENDPOINTS_SETTLE = 0.5   # seconds


def static_endpoint(client, ips) -> dict:
    """Endpoint settings giving a container its planned addresses (first IPv4 and first IPv6)."""
    v4 = [ip for ip in ips if ":" not in ip]
    v6 = [ip for ip in ips if ":" in ip]
    return client.api.create_endpoint_config(ipv4_address=v4[0] if v4 else None,
                                             ipv6_address=v6[0] if v6 else None)


def bridge_of(attrs) -> Optional[str]:
    """The host interface of a bridge network (its configured name, else br-<id12>), from its attrs."""
    if attrs.get("Driver") != "bridge":
        return None
    return (attrs.get("Options") or {}).get(BRIDGE_NAME_OPTION) or f"br-{attrs['Id'][:12]}"


def network_subnets(network) -> list:
    return [c["Subnet"] for c in (network.attrs.get("IPAM") or {}).get("Config") or []
            if c.get("Subnet")]


def overlapping(ours: tuple, theirs: list) -> Optional[tuple]:
    """Pure: the first (our subnet, their subnet) pair that overlaps, else None."""
    return next(((mine, other) for mine in ours for other in theirs if overlap(mine, other)), None)


def ensure_network(client: docker.DockerClient, plan: ClusterPlan, created=None):
    """Return the cluster's network, creating it if needed (recorded in `created`)."""
    want = plan.network
    with docker_errors("listing Docker networks"):
        networks = client.networks.list()
    for net in networks:
        if net.name == want.name:
            return _reuse(net, plan)
    for net in networks:
        clash = overlapping(want.subnets, network_subnets(net))
        if clash:
            raise DockerError(
                f"subnet {clash[0]} of network {want.name} overlaps {clash[1]} of "
                f"existing network {net.name}",
                f"remove network {net.name} or pick another CLUSTER_ID / DIND_SUBNET")
    pools = [IPAMPool(subnet=s, gateway=g) for s, g in zip(want.subnets, want.gateways)]
    pools += [IPAMPool(subnet=s) for s in want.subnets[len(want.gateways):]]
    with docker_errors(f"creating network {want.name}"):
        net = client.networks.create(want.name, driver="bridge", ipam=IPAMConfig(
            pool_configs=pools), enable_ipv6=want.ipv6, labels=dict(plan.labels))
    if created is not None:
        created.networks.append(net)
    return net


def _reuse(net, plan: ClusterPlan):
    with docker_errors(f"inspecting network {net.name}"):
        net.reload()
    labels = net.attrs.get("Labels") or {}
    if labels.get(CLUSTER_LABEL) != plan.cluster_key:
        raise DockerError(f"network {net.name} exists but was not made for cluster "
                          f"'{plan.cluster_key}' (label {CLUSTER_LABEL} is "
                          f"{labels.get(CLUSTER_LABEL)!r})",
                          f"remove it with 'docker network rm {net.name}' or choose another "
                          "CLUSTER_ID / DIND_LABEL")
    have = sorted(str(ipaddress.ip_network(s, strict=False)) for s in network_subnets(net))
    want = sorted(str(ipaddress.ip_network(s, strict=False)) for s in plan.network.subnets)
    if have != want:
        raise DockerError(f"network {net.name} has subnets {', '.join(have)}, the plan wants "
                          f"{', '.join(want)}",
                          "run 'dind-cluster clean' for this cluster to remove it first")
    return net


def remove_network(net) -> None:
    """Remove one network of ours; when the engine refuses it as in use, say by what.

    Docker Engine before 28.1 can go on counting endpoints on a network whose containers were removed
    at the same time, with none attached (moby/moby#42119); only a dockerd restart recounts them."""
    if _removed_or_in_use(net):
        return
    time.sleep(ENDPOINTS_SETTLE)
    with docker_errors(f"inspecting network {net.name}"):
        net.reload()
    attached = sorted(info.get("Name") or cid[:12] for cid, info in (net.attrs.get("Containers") or {}).items())
    if attached:
        raise DockerError(f"removing network {net.name}: still attached: {', '.join(attached)}",
                          f"remove those containers or 'docker network disconnect {net.name} <container>', "
                          "then run clean again")
    if not _removed_or_in_use(net):
        raise DockerError(f"removing network {net.name}: the Docker engine counts endpoints on it though no "
                          "container is attached (an engine bug fixed in Docker 28.1, moby/moby#42119)",
                          "restart dockerd (it recounts them when it starts), then run clean again")


def _removed_or_in_use(net) -> bool:
    """True when the network went; False when the engine refused it for active endpoints."""
    with docker_errors(f"removing network {net.name}"):
        try:
            net.remove()
        except docker.errors.APIError as exc:
            if "active endpoints" in str(exc.explanation or exc):
                return False
            raise
    return True
