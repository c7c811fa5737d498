"""Gathering the facts preflight checks: the engine's info, its networks and running nodes, and,
when the engine runs on this machine, the host's routes, inotify limits, IPv6, tun and free disk.

Host files are read only for a local engine (DOCKER_HOST unset or unix://); for a remote engine
those facts stay None and their checks are skipped.
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Mapping, Optional

from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.network import bridge_of
from dind_cluster.helpers64 import engine_is_local
from dind_cluster.naming import CLUSTER_LABEL, ROLE_LABEL
from dind_cluster.preflight import DockerNetwork, Facts, HostRoute, run_preflight

RTF_UP = 0x1
RTF_LOCAL_OR_ANYCAST = 0x80000000 | 0x00100000   # the host's own addresses, not routes


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


def preflight_problems(ctx) -> list:
    """run_preflight for an ActionContext (its client, environment and plan)."""
    return run_preflight(ctx.facts(), ctx.plan,
                         btrfs_anyway=ctx.flag("RUN_ON_BTRFS_ANYWAY"))


def engine_controllers(info: Mapping) -> frozenset:
    """cgroup controllers the engine can use, from `docker info`'s capability flags."""
    flags = {"cpu": "CpuCfsQuota", "memory": "MemoryLimit", "pids": "PidsLimit"}
    return frozenset(c for c, flag in flags.items() if info.get(flag))


def docker_network(attrs: Mapping) -> DockerNetwork:
    subnets = tuple(c["Subnet"] for c in (attrs.get("IPAM") or {}).get("Config") or []
                    if c.get("Subnet"))
    return DockerNetwork(attrs.get("Name", ""), subnets,
                         (attrs.get("Labels") or {}).get(CLUSTER_LABEL), bridge_of(attrs))


def host_facts(root: Path, data_root: str) -> dict:
    proc = root / "proc"
    routes = (parse_proc_route(_read(proc / "net/route") or "")
              + parse_proc_ipv6_route(_read(proc / "net/ipv6_route") or ""))
    return dict(kernel_ipv6=(proc / "sys/net/ipv6").is_dir(),
                tun_device=(root / "dev/net/tun").exists(), routes=tuple(routes),
                max_user_watches=_int(_read(proc / "sys/fs/inotify/max_user_watches")),
                max_user_instances=_int(_read(proc / "sys/fs/inotify/max_user_instances")),
                pid_max=_int(_read(proc / "sys/kernel/pid_max")),
                free_disk=_free_bytes(root / data_root.lstrip("/")),
                bridge_netfilter=(proc / "sys/net/bridge").is_dir(),
                netfilter_module=_has_module(root, _read(proc / "sys/kernel/osrelease"), "br_netfilter"))


def _has_module(root: Path, release: Optional[str], name: str) -> bool:
    folder = root / "lib/modules" / (release or "").strip()
    return bool(release) and folder.is_dir() and any(folder.rglob(f"{name}.ko*"))


def parse_proc_route(text: str) -> list[HostRoute]:
    """/proc/net/route (IPv4, main table): addresses are little-endian hex."""
    routes = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8 or not int(f[3], 16) & RTF_UP:
            continue
        dest, mask = (ipaddress.IPv4Address(int(x, 16).to_bytes(4, "little")) for x in (f[1], f[7]))
        routes.append(HostRoute(str(ipaddress.ip_network(f"{dest}/{mask}", strict=False)), f[0]))
    return routes


def parse_proc_ipv6_route(text: str) -> list[HostRoute]:
    """/proc/net/ipv6_route: destination (32 hex), prefix length (hex), ..., device last."""
    routes = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10 or not int(f[8], 16) & RTF_UP or int(f[8], 16) & RTF_LOCAL_OR_ANYCAST:
            continue
        dest = ipaddress.IPv6Address(int(f[0], 16))
        net = ipaddress.ip_network(f"{dest}/{int(f[1], 16)}", strict=False)
        routes.append(HostRoute(str(net), f[9]))
    return routes


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text()
    except OSError:
        return None


def _int(text: Optional[str]) -> Optional[int]:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def _free_bytes(path: Path) -> Optional[int]:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize
