"""Gathering the facts preflight checks: the engine's info, its networks and running nodes, and,
when the engine runs on this machine, the host's (host_facts.py).

Host files are read only for a local engine (DOCKER_HOST unset or unix://); for a remote engine
those facts stay None and their checks are skipped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.network import bridge_of
from dind_cluster.helpers64 import engine_is_local
from dind_cluster.host_facts import host_facts
from dind_cluster.naming import CLUSTER_LABEL, ROLE_LABEL
from dind_cluster.preflight import DockerNetwork, Facts


def gather_facts(client, environ: Mapping[str, str], root: str = "/") -> Facts:
    """Facts about the engine (always) and its host (local engines only). `root` lets tests
    point the host reads at a fake /proc and /sys tree."""
    with docker_errors("reading the Docker engine's info"):
        info = client.info()
        api = client.version().get("ApiVersion", "1.41")
        networks = tuple(docker_network(n.attrs) for n in client.networks.list())
        # Summaries, not containers.list(): that inspects each one, and fails when another run
        # removes a container in between.
        running = [c.get("Labels") or {} for c in client.api.containers(filters={"label": ROLE_LABEL})]
    nodes = tuple(labels.get(CLUSTER_LABEL, "") for labels in running
                  if labels.get(ROLE_LABEL) in ("master", "worker"))
    engine = dict(api_version=api, networks=networks, node_clusters=nodes,
                  cgroup_version=2 if str(info.get("CgroupVersion", "1")) == "2" else 1,
                  cgroup_controllers=engine_controllers(info),
                  data_root=info.get("DockerRootDir") or "/var/lib/docker",
                  rootless=any("rootless" in str(o) for o in info.get("SecurityOptions") or ()),
                  storage_driver=str(info.get("Driver") or ""),
                  host_memory=int(info.get("MemTotal") or 0) or None)
    if not engine_is_local(environ.get("DOCKER_HOST") or ""):
        return Facts(**engine)
    return Facts(**engine, **host_facts(Path(root), engine["data_root"]))


def engine_size(client) -> tuple[int, int]:
    """(CPUs, bytes of memory) of the engine's host, as `docker info` reports them."""
    with docker_errors("reading the Docker engine's info"):
        info = client.info()
    return int(info.get("NCPU") or 0), int(info.get("MemTotal") or 0)


def engine_controllers(info: Mapping) -> frozenset:
    """cgroup controllers the engine can use, from `docker info`'s capability flags."""
    flags = {"cpu": "CpuCfsQuota", "memory": "MemoryLimit", "pids": "PidsLimit"}
    return frozenset(c for c, flag in flags.items() if info.get(flag))


def docker_network(attrs: Mapping) -> DockerNetwork:
    subnets = tuple(c["Subnet"] for c in (attrs.get("IPAM") or {}).get("Config") or []
                    if c.get("Subnet"))
    return DockerNetwork(attrs.get("Name", ""), subnets,
                         (attrs.get("Labels") or {}).get(CLUSTER_LABEL), bridge_of(attrs))
