"""`clean --images` and the images line of `doctor`: the node, helper and snapshot images this tool
built pile up (a node image per Kubernetes version and content change); remove those no remaining
cluster uses. Base images (build/base-image.sh, DIND_BASE_IMAGE) are the user's input: kept."""
from __future__ import annotations

from typing import Iterable, List, Set

from dind_cluster.backend.inventory import clusters_on_engine
from dind_cluster.backend.ourimages import SNAPSHOT_KIND, ImageFacts, images_in_use, our_images, remove_image
from dind_cluster.ui import Progress

KEPT_KINDS = {"base"}


def prunable(images: Iterable[ImageFacts], used: Set[str], remaining: Set[str]) -> List[ImageFacts]:
    """Images no container uses, except base images and the snapshots of clusters that still have
    volumes, a network or containers (a later `up` restores from them); snapshots first, so their
    node image can go too."""
    found = [i for i in images if i.kind not in KEPT_KINDS and i.id not in used
             and not (i.kind == SNAPSHOT_KIND and i.cluster_key in remaining)]
    return sorted(found, key=lambda i: (i.kind != SNAPSHOT_KIND, i.tags, i.id))


def prune_images(client, progress: Progress) -> List[ImageFacts]:
    """Remove the prunable images; returns those removed."""
    remaining = {c.key for c in clusters_on_engine(client)}
    todo = prunable(our_images(client), images_in_use(client), remaining)
    removed = []
    with progress.step(f"Removing {len(todo)} image(s) no cluster uses"):
        for image in todo:
            name = ", ".join(image.tags) or image.id[:19]
            if remove_image(client, image):
                removed.append(image)
                progress.detail(f"removed {image.kind} image {name}")
            else:
                progress.detail(f"kept {image.kind} image {name}: something still depends on it")
    return removed


def human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def space_report(client) -> str:
    """One line for `doctor`: how many images we built and the space they take."""
    images = [i for i in our_images(client, with_sizes=True) if i.kind not in KEPT_KINDS]
    if not images:
        return "no node, helper or snapshot images"
    own = sum(max(i.unique_size, 0) for i in images)
    unused = prunable(images, images_in_use(client), {c.key for c in clusters_on_engine(client)})
    return (f"{len(images)} node, helper and snapshot image(s): {human(sum(i.size for i in images))} "
            f"with shared layers, {human(own)} their own; {len(unused)} unused "
            "('dind-cluster clean --images' removes them)")
