"""`copy-image`: host images into every node's containerd (k8s.io namespace, where the kubelet
looks), streamed from `docker save` into `ctr images import -`; a node already holding the same
image ID is skipped."""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import docker
import docker.errors

from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import exec_in
from dind_cluster.backend.nodes import node_containers
from dind_cluster.errors import ConfigError, DockerError
from dind_cluster.images import CTR, normalize_ref
from dind_cluster.parallel import run_all
from dind_cluster.plan import ClusterPlan

IMAGE_ID_LABEL = "dind-cluster.io/image-id"


def parse_ctr_images(text: str) -> dict:
    """Pure: `ctr images ls` output → {ref: {label: value}} (LABELS is the last column)."""
    images = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        labels = {}
        if len(fields) > 1 and fields[-1] != "-":
            for pair in fields[-1].split(","):
                key, _, value = pair.partition("=")
                labels[key] = value
        images[fields[0]] = labels
    return images


def copy_image(client: docker.DockerClient, plan_or_key: Union[ClusterPlan, str],
               image_refs: Sequence[str],
               progress: Optional[Callable[[str, str, bool], None]] = None,
               only: Sequence[str] = ()) -> dict:
    """Copy images into every running node (or those named in `only`); returns {node name: [refs imported]}.

    `progress(node, ref, imported)` is called per node and image (imported False = skipped).
    """
    key = plan_or_key if isinstance(plan_or_key, str) else plan_or_key.cluster_key
    ids = {ref: _image_id(client, ref) for ref in image_refs}
    nodes = [c for c in node_containers(client, key) if c.status == "running"]
    unknown = sorted(set(only) - {c.name for c in nodes})
    if unknown:
        raise ConfigError("--node", f"{', '.join(unknown)} is not a running node of cluster '{key}'",
                          f"running nodes: {', '.join(c.name for c in nodes) or 'none'}")
    nodes = [c for c in nodes if not only or c.name in only]
    if not nodes:
        raise DockerError(f"cluster '{key}' has no running node to copy images into",
                          "run 'dind-cluster up' first")

    def one(container):
        done = []
        for ref, image_id in ids.items():
            imported = _copy_one(client, container, ref, image_id)
            if imported:
                done.append(ref)
            if progress:
                progress(container.name, ref, imported)
        return container.name, done

    return dict(run_all(one, nodes))


def _image_id(client, ref: str) -> str:
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        raise DockerError(f"image {ref} is not on the host", "build or load it first") from None
    except docker.errors.APIError as exc:
        raise DockerError(f"inspecting image {ref}: {exc.explanation or exc}") from None
    if not image.tags:
        raise DockerError(f"image {ref} has no name", "tag it ('docker tag') and copy the name")
    return image.id


def _copy_one(client, container, ref: str, image_id: str) -> bool:
    """Import unless the node holds `ref` with the same image ID; True when imported."""
    name = normalize_ref(ref)
    _, listing = exec_in(container, [*CTR, "images", "ls"])
    if parse_ctr_images(listing).get(name, {}).get(IMAGE_ID_LABEL) == image_id:
        return False
    with docker_errors(f"saving image {ref}"):
        stream = client.api.get_image(ref)
    exec_in(container, [*CTR, "images", "import", "-"], stdin=stream)
    exec_in(container, [*CTR, "images", "label", name, f"{IMAGE_ID_LABEL}={image_id}"])
    return True
