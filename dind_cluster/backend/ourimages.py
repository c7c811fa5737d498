"""The images this tool built, found by our labels: node images (and their build intermediates),
helper images and snapshots; which containers use them; removing one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Set, Tuple

import docker
import docker.errors

from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.nodes import SNAPSHOT_LABEL
from dind_cluster.images import IMAGE_LABEL
from dind_cluster.naming import CLUSTER_LABEL

SNAPSHOT_KIND = "snapshot"


@dataclass(frozen=True)
class ImageFacts:
    id: str
    tags: Tuple[str, ...]
    kind: str                  # IMAGE_LABEL's value (node, bind9, base …) or "snapshot"
    cluster_key: Optional[str]  # snapshots only: whose state they keep
    size: int                  # bytes, shared layers included
    unique_size: int = -1      # bytes only this image has (-1: not computed)


def our_images(client: docker.DockerClient, with_sizes: bool = False) -> List[ImageFacts]:
    """Every image with our image or snapshot label; `with_sizes` asks the engine's disk usage
    (slower) for the bytes each image shares with others."""
    with docker_errors("listing the images dind-cluster built"):
        if with_sizes:
            found = client.api.df().get("Images") or []
        else:
            found = (client.api.images(filters={"label": IMAGE_LABEL})
                     + client.api.images(filters={"label": SNAPSHOT_LABEL}))
    facts = {}
    for doc in found:
        labels = doc.get("Labels") or {}
        kind = SNAPSHOT_KIND if SNAPSHOT_LABEL in labels else labels.get(IMAGE_LABEL)
        if kind:
            shared = doc.get("SharedSize", -1)
            facts[doc["Id"]] = ImageFacts(
                doc["Id"], tuple(t for t in doc.get("RepoTags") or () if t != "<none>:<none>"), kind,
                labels.get(CLUSTER_LABEL) if kind == SNAPSHOT_KIND else None, doc.get("Size", 0),
                doc["Size"] - shared if shared >= 0 else -1)
    return list(facts.values())


def images_in_use(client: docker.DockerClient) -> Set[str]:
    """Image ids of every container on the engine, ours or not, running or not."""
    with docker_errors("listing the engine's containers"):
        return {c.get("ImageID") for c in client.api.containers(all=True)} - {None}


def remove_image(client: docker.DockerClient, image: ImageFacts) -> bool:
    """Untag and delete an image (by its tags, so a parent of a kept snapshot only loses its tag);
    False when the engine refuses because something still depends on it."""
    try:
        with docker_errors(f"removing image {image.tags[0] if image.tags else image.id}",
                           keep=(docker.errors.APIError,)):
            for ref in image.tags or (image.id,):
                client.images.remove(ref)
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # conflict: a container or a child image needs it
            return False
        raise
    return True
