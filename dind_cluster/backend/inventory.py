"""What clusters this engine holds, read from our labels only: for `list`, `get kubeconfig` and
the images `clean --images` may remove. Returns plain facts; deciding states is for the callers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import docker

from dind_cluster.backend.nodes import APISERVER_CONTAINER_PORT, list_cluster
from dind_cluster.naming import CLUSTER_LABEL, IP_MODE_LABEL, ROLE_LABEL


@dataclass(frozen=True)
class NodeFacts:
    name: str
    role: str                 # master | worker
    status: str               # Docker's: running, paused, exited, created …
    ips: Tuple[str, ...]      # on the cluster's networks, IPv4 first
    apiserver: Optional[Tuple[str, int]] = None  # (host address, port) published for 6443


@dataclass(frozen=True)
class ClusterFacts:
    key: str
    ip_mode: Optional[str]    # from our label; None on objects made before it existed
    nodes: Tuple[NodeFacts, ...]  # master first
    volumes: int
    networks: int


def clusters_on_engine(client: docker.DockerClient, key: Optional[str] = None) -> List[ClusterFacts]:
    """Every cluster (or the one with `key`) with anything carrying our label, sorted by key."""
    objs = list_cluster(client, key)
    by_key: Dict[str, dict] = {}
    for kind in ("containers", "volumes", "networks"):
        for obj in getattr(objs, kind):
            labels = _labels(obj)
            entry = by_key.setdefault(labels[CLUSTER_LABEL], {"containers": [], "volumes": [], "networks": []})
            entry[kind].append(obj)
    return [_facts(key, entry) for key, entry in sorted(by_key.items())]


def _labels(obj) -> dict:
    return obj.labels if hasattr(obj, "labels") else (obj.attrs.get("Labels") or {})


def _facts(key: str, entry: dict) -> ClusterFacts:
    nodes = [_node(c) for c in entry["containers"] if c.labels.get(ROLE_LABEL) in ("master", "worker")]
    nodes.sort(key=lambda n: (n.role != "master", n.name))
    modes = {_labels(o).get(IP_MODE_LABEL) for kind in entry.values() for o in kind} - {None}
    return ClusterFacts(key, sorted(modes)[0] if modes else None, tuple(nodes),
                        len(entry["volumes"]), len(entry["networks"]))


def _node(container) -> NodeFacts:
    settings = container.attrs.get("NetworkSettings") or {}
    ips = [n.get("IPAddress") for n in (settings.get("Networks") or {}).values()]
    ips += [n.get("GlobalIPv6Address") for n in (settings.get("Networks") or {}).values()]
    bindings = (settings.get("Ports") or {}).get(APISERVER_CONTAINER_PORT) or []
    published = None
    if bindings:
        host = bindings[0].get("HostIp") or "127.0.0.1"
        published = ("127.0.0.1" if host == "0.0.0.0" else host, int(bindings[0]["HostPort"]))
    return NodeFacts(container.name, container.labels[ROLE_LABEL], container.status,
                     tuple(ip for ip in ips if ip), published)
