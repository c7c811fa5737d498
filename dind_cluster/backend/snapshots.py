"""Snapshots (docs/snapshots.md): a node's state is its /var volume plus its root filesystem
diff; `docker commit` keeps the diff as a labelled image, the volume stays where it is, and a
restore creates the containers from those images with the same volumes and addresses."""
from __future__ import annotations

from typing import Optional

import docker
import docker.errors

from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.nodes import (SNAPSHOT_LABEL, _owned, create_nodes,
                                        node_containers)
from dind_cluster.backend.runmode import RunMode
from dind_cluster.errors import DockerError
from dind_cluster.parallel import run_all
from dind_cluster.plan import ClusterPlan, NodePlan
from dind_cluster.resources import LIMITS_LABEL, parse_limits_label

SNAPSHOT_REPO = "dind-cluster-snapshot"


def snapshot_ref(node_name: str) -> str:
    return f"{SNAPSHOT_REPO}:{node_name}"


def snapshot_nodes(client: docker.DockerClient, plan: ClusterPlan, only: Optional[tuple] = None) -> list:
    """Commit every node of the plan (or `only` these) into dind-cluster-snapshot:<node>; returns the images.

    `docker commit` pauses the container while it copies the diff, so files under /etc are
    consistent; /var (the volume), /run and /tmp (tmpfs) are not part of the image.
    """
    by_name = {c.name: c for c in node_containers(client, plan.cluster_key)}
    todo = only if only is not None else plan.nodes
    missing = [n.name for n in todo if n.name not in by_name]
    if missing:
        raise DockerError(f"can't snapshot cluster '{plan.cluster_key}': no container for "
                          f"{', '.join(missing)}", "run 'dind-cluster up' first")
    return run_all(lambda n: _commit(client, by_name[n.name], n), todo)


def _commit(client, container, node: NodePlan):
    ref = snapshot_ref(node.name)
    old = _image(client, ref)
    with docker_errors(f"taking a snapshot of {node.name}"):
        image = container.commit(repository=SNAPSHOT_REPO, tag=node.name,
                                 changes=[f'LABEL "{SNAPSHOT_LABEL}"="{node.name}"'],
                                 message=f"dind-cluster snapshot of {node.name}")
    if old is not None and old.id != image.id:
        try:  # the previous snapshot is now untagged; drop it unless something still uses it
            client.images.remove(old.id)
        except docker.errors.APIError:
            pass
    return image


def _image(client, ref: str):
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        raise DockerError(f"inspecting image {ref}: {exc.explanation or exc}") from None


def remove_snapshot(client: docker.DockerClient, plan: ClusterPlan, node_name: str) -> None:
    """Drop a node's snapshot image (remove-node), if it is this cluster's."""
    image = _image(client, snapshot_ref(node_name))
    if image is not None and _owned(image.labels, plan):
        with docker_errors(f"removing the snapshot of {node_name}"):
            client.images.remove(image.id, force=True)


def _volume_labels(client, name: str) -> Optional[dict]:
    try:
        return client.volumes.get(name).attrs.get("Labels") or {}
    except docker.errors.NotFound:
        return None


def missing_snapshot_parts(client: docker.DockerClient, plan: ClusterPlan) -> list:
    """What a restore would lack: 'image <ref>' / 'volume <name>' entries, empty when complete."""
    missing = []
    with docker_errors("looking for the cluster's snapshot"):
        for node in plan.nodes:
            image = _image(client, snapshot_ref(node.name))
            if image is None or not _owned(image.labels, plan):
                missing.append(f"image {snapshot_ref(node.name)}")
            labels = _volume_labels(client, node.volume)
            if labels is None or not _owned(labels, plan):
                missing.append(f"volume {node.volume}")
    return missing


def has_snapshot(client: docker.DockerClient, plan: ClusterPlan) -> bool:
    """True only when every node has both its snapshot image and its volume."""
    return not missing_snapshot_parts(client, plan)


def recorded_limits(client: docker.DockerClient, plan: ClusterPlan) -> dict:
    """{node name: the NodeLimits its snapshot says it was made with}, for the nodes whose snapshot
    records them (an older dind-cluster's doesn't)."""
    found = {}
    for node in plan.nodes:
        image = _image(client, snapshot_ref(node.name))
        text = (image.labels or {}).get(LIMITS_LABEL) if image is not None else None
        limits = parse_limits_label(text) if text is not None else None
        if limits is not None:
            found[node.name] = limits
    return found


def restore_nodes(client: docker.DockerClient, plan: ClusterPlan, run_mode: RunMode,
                  **create_options) -> list:
    """Create the nodes from their snapshot images on their kept volumes (no kubeadm needed)."""
    missing = missing_snapshot_parts(client, plan)
    if missing:
        raise DockerError(f"cluster '{plan.cluster_key}' has no complete snapshot (missing "
                          f"{', '.join(missing)})", "run 'dind-cluster up' for a fresh cluster")
    images = {n.name: snapshot_ref(n.name) for n in plan.nodes}
    return create_nodes(client, plan, images, run_mode, **create_options)
