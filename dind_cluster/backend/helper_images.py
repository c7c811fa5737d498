"""Small helper images (image/<folder>/: bind9, tayga, registry) built offline FROM the node's base
image with Debian packages; their tags come from the base image's ID and the folder's files, so a
change of either builds a new image and nothing else does."""
from __future__ import annotations

import hashlib
import io
from typing import Callable, Mapping, Optional

import docker
import docker.errors

from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import tar_of
from dind_cluster.backend.images import IMAGE_DIR as IMAGE_ROOT, base_image_id
from dind_cluster.errors import DockerError
from dind_cluster.images import HASH_LABEL, IMAGE_LABEL

Progress = Optional[Callable[[str], None]]


def context_files(folder: str) -> dict:
    """{name in the build context: bytes} of image/<folder>."""
    path = IMAGE_ROOT / folder
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def image_tag(client: docker.DockerClient, folder: str, repository: str, base: str,
              progress: Progress = None) -> str:
    """<repository>:<12 hex>, from the base image's ID and the context files."""
    base_id = base_image_id(client, base, progress)    # pulled when missing, like the node image's
    digest = hashlib.sha256(base_id.encode())
    for name, data in context_files(folder).items():
        digest.update(f"\0{name}\0".encode() + data)
    return f"{repository}:{digest.hexdigest()[:12]}"


def ensure_image(client: docker.DockerClient, folder: str, repository: str, base: str,
                 progress: Progress = None, build_env: Optional[Mapping[str, str]] = None) -> str:
    """The image's tag, built FROM `base` when missing. `build_env` (the proxy variables) reaches
    apt as build arguments, which Docker keeps out of the image."""
    tag = image_tag(client, folder, repository, base, progress)
    try:
        with docker_errors(f"inspecting image {tag}", keep=(docker.errors.ImageNotFound,)):
            client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    if progress:
        progress(f"building the {folder} image {tag} from {base}")
    context = tar_of({f"/{name}": data for name, data in context_files(folder).items()}, 0o755)
    labels = {IMAGE_LABEL: folder, HASH_LABEL: tag.split(":")[1]}
    try:
        with docker_errors(f"building {tag}"):
            client.images.build(fileobj=io.BytesIO(context), custom_context=True, tag=tag,
                                buildargs={"BASE_IMAGE": base, **(build_env or {})}, labels=labels,
                                rm=True, forcerm=True, pull=False)
    except docker.errors.BuildError as exc:
        log = "".join(str(x.get("stream") or x.get("error") or "") for x in exc.build_log)
        raise DockerError(f"building {tag} failed: {exc.msg}", log[-1500:]) from None
    return tag
