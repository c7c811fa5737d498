"""`dind-cluster list`: every cluster on this engine, as a table or as JSON for scripts."""
from __future__ import annotations

from typing import List, Optional

from dind_cluster.backend.inventory import ClusterFacts, clusters_on_engine
from dind_cluster.kubeconfig import server_url
from dind_cluster.naming import context_name, suffix_of_key

COLUMNS = ("CONTEXT", "STATE", "IP-MODE", "NODES", "APISERVER")


def state(cluster: ClusterFacts) -> str:
    """running: every node runs; paused: one is paused; down: no node containers (volumes,
    network or snapshot kept); stopped: nodes exist but not all run (e.g. after an engine restart)."""
    statuses = {n.status for n in cluster.nodes}
    if not statuses:
        return "down"
    if "paused" in statuses:
        return "paused"
    return "running" if statuses == {"running"} else "stopped"


def apiserver_url(cluster: ClusterFacts) -> Optional[str]:
    node = cluster.apiserver_node()
    return server_url(*node.apiserver) if node is not None and node.apiserver else None


def as_json(cluster: ClusterFacts) -> dict:
    return {
        "context": context_name(suffix_of_key(cluster.key)), "cluster_key": cluster.key,
        "state": state(cluster), "ip_mode": cluster.ip_mode, "apiserver": apiserver_url(cluster),
        "nodes": [{"name": n.name, "role": n.role, "state": n.status, "ips": list(n.ips)}
                  for n in cluster.nodes],
    }


def table(clusters: List[ClusterFacts]) -> str:
    """Aligned columns, one cluster a line; a line saying so when there is none."""
    if not clusters:
        return "No dind-cluster clusters on this engine."
    rows = [COLUMNS] + [(doc["context"], doc["state"], doc["ip_mode"] or "?", str(len(doc["nodes"])),
                         doc["apiserver"] or "-") for doc in map(as_json, clusters)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def list_clusters(client) -> List[ClusterFacts]:
    return clusters_on_engine(client)
