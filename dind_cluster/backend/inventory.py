"""What clusters this engine holds, read from our labels only: for `list`, `get kubeconfig` and
the images `clean --images` may remove. Returns plain facts; deciding states is for the callers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import docker

from dind_cluster.backend.client import docker_errors
from dind_cluster.balancer import ROLE as BALANCER_ROLE
from dind_cluster.backend.nodes import APISERVER_CONTAINER_PORT
from dind_cluster.naming import CLUSTER_LABEL, IP_MODE_LABEL, ROLE_LABEL


@dataclass(frozen=True)
class NodeFacts:
    name: str
    role: str                 # master | worker (| load-balancer)
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
    balancer: Optional[NodeFacts] = None   # an HA control plane's load balancer

    def apiserver_node(self) -> Optional[NodeFacts]:
        """The container that publishes the apiserver on the host: an HA control plane's balancer,
        else the first master that does."""
        if self.balancer is not None:
            return self.balancer
        return next((n for n in self.nodes if n.role == "master" and n.apiserver), None)


def clusters_on_engine(client: docker.DockerClient, key: Optional[str] = None) -> List[ClusterFacts]:
    """Every cluster (or the one with `key`) with anything carrying our label, sorted by key.

    Reads the engine's summaries (one call per kind, no inspect per container), so containers that
    other runs remove meanwhile can't make the listing fail.
    """
    flt = {"label": CLUSTER_LABEL if key is None else f"{CLUSTER_LABEL}={key}"}
    with docker_errors("listing the clusters on the engine"):
        found = {"containers": client.api.containers(all=True, filters=flt),
                 "volumes": client.api.volumes(filters=flt).get("Volumes") or [],
                 "networks": client.api.networks(filters=flt)}
    by_key: Dict[str, dict] = {}
    for kind, docs in found.items():
        for doc in docs:
            entry = by_key.setdefault(doc["Labels"][CLUSTER_LABEL], {"containers": [], "volumes": [], "networks": []})
            entry[kind].append(doc)
    return [_facts(k, entry) for k, entry in sorted(by_key.items())]


def _facts(key: str, entry: dict) -> ClusterFacts:
    nodes = [_node(c) for c in entry["containers"] if (c.get("Labels") or {}).get(ROLE_LABEL) in ("master", "worker")]
    nodes.sort(key=lambda n: (n.role != "master", n.name))
    balancers = [_node(c) for c in entry["containers"] if (c.get("Labels") or {}).get(ROLE_LABEL) == BALANCER_ROLE]
    modes = {(doc.get("Labels") or {}).get(IP_MODE_LABEL) for docs in entry.values() for doc in docs} - {None}
    return ClusterFacts(key, sorted(modes)[0] if modes else None, tuple(nodes),
                        len(entry["volumes"]), len(entry["networks"]), balancers[0] if balancers else None)


def _node(summary: dict) -> NodeFacts:
    """A node from the engine's container summary (`docker ps` data)."""
    networks = ((summary.get("NetworkSettings") or {}).get("Networks") or {}).values()
    ips = [n.get("IPAddress") for n in networks] + [n.get("GlobalIPv6Address") for n in networks]
    published = None
    for port in summary.get("Ports") or []:
        if f"{port.get('PrivatePort')}/{port.get('Type')}" == APISERVER_CONTAINER_PORT and port.get("PublicPort"):
            host = port.get("IP") or "127.0.0.1"
            published = ("127.0.0.1" if host == "0.0.0.0" else host, int(port["PublicPort"]))
            break
    return NodeFacts(summary["Names"][0].lstrip("/"), summary["Labels"][ROLE_LABEL], summary.get("State", ""),
                     tuple(ip for ip in ips if ip), published)
