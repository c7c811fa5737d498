"""The node image on the Docker engine: build it from image/ (docker SDK), preload the
control-plane images into its containerd, tag it by content. `ensure_node_image` builds only
when the tag for the current inputs is missing (or when forced)."""
from __future__ import annotations

import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Tuple

import docker.errors

from dind_cluster import registries, registry_plan
from dind_cluster.backend.client import docker_client, docker_errors
from dind_cluster.k8s_binaries import binaries_from_dir, download_binaries, sha256_file
from dind_cluster.backend.kubeadm_probe import check_archives, probe_kubeadm
from dind_cluster.backend.preload import preload_and_commit
from dind_cluster.errors import ConfigError, DindError, DockerError
from dind_cluster.paths import image_dir
from dind_cluster.versions import pause_image
from dind_cluster.images import (IMAGE_LABEL, NO_IMAGES, ImageInputs, KubeadmImages, NodeImageSettings,
                                 archive_names, content_hash, context_plan, image_labels,
                                 node_image_settings, node_image_tag, release_arch)

IMAGE_DIR = image_dir()
NODE_FILES = ("Dockerfile", "packages.txt", "install-packages.sh", "debian-mirror.sh", "setup.sh")
Progress = Optional[Callable[[str], None]]


@dataclass(frozen=True)
class Recipe:
    """Everything a build needs, gathered before any build starts."""

    settings: NodeImageSettings
    arch: str
    image_files: Mapping[str, Tuple[str, int]]  # path in image/ -> (source, mode)
    binaries: Mapping[str, Path]
    archives: Tuple[Path, ...]
    digest: str
    tag: str

    @property
    def preload(self) -> bool:
        """Pull (no images dir) or import (archives present); nothing for 'none' or an empty dir."""
        return self.settings.images_dir is None or bool(self.archives)


def ensure_node_image(values: Mapping[str, str], environ: Mapping[str, str],
                      progress: Progress = None, force: bool = False) -> str:
    """The tag of the node image for these settings; builds it when missing or when `force`."""
    settings = node_image_settings(values)
    proxy = registries.parse(values).proxy      # proxies don't change the content, so not the tag
    client = docker_client(environ)
    recipe = node_image_recipe(client, settings, environ, progress, registry_plan.urllib_proxies(proxy))
    if not force and _image_exists(client, recipe.tag):
        return recipe.tag
    return build_node_image(client, recipe, progress, registry_plan.proxy_env(proxy))


def any_node_image(client) -> Optional[str]:
    """The id of a node image already on the engine (any version), for host-side helper commands."""
    with docker_errors("listing node images"):
        found = client.images.list(filters={"label": f"{IMAGE_LABEL}=node"})
    return found[0].id if found else None


def node_image_recipe(client, settings: NodeImageSettings, environ: Mapping[str, str],
                      progress: Progress = None, proxies: Optional[Mapping[str, str]] = None) -> Recipe:
    """Collect the inputs (base image id, binaries, archives, image/ files) and the tag they make."""
    with docker_errors("asking the engine for its architecture"):
        arch = release_arch(client.info().get("Architecture", ""))
    base_id = base_image_id(client, settings.base_image, progress)
    if settings.bin_dir:
        binaries = binaries_from_dir(settings.bin_dir)
    else:
        binaries = download_binaries(settings.k8s_version, arch, environ, progress, proxies=proxies)
    archives = _archives(settings.images_dir)
    files = image_files(IMAGE_DIR)
    inputs = ImageInputs(
        k8s_version=settings.k8s_version, base_image_id=base_id,
        context_files={rel: f"{mode:o}:{sha256_file(Path(src))}" for rel, (src, mode) in files.items()},
        binaries={name: sha256_file(path) for name, path in binaries.items()},
        archives={path.name: sha256_file(path) for path in archives},
        pull=settings.images_dir is None)
    digest = content_hash(inputs)
    return Recipe(settings, arch, files, binaries, archives, digest,
                  node_image_tag(settings.k8s_version, digest))


def build_node_image(client, recipe: Recipe, progress: Progress = None,
                     build_env: Optional[Mapping[str, str]] = None) -> str:
    """Build image/ with the binaries, preload control-plane images, tag; returns the tag.
    `build_env` (the proxy variables) reaches apt as build arguments and the preload's containerd."""
    listed = _kubeadm_images(client, recipe, progress)
    labels = image_labels(recipe.settings.k8s_version, recipe.digest)
    if recipe.preload:
        labels[IMAGE_LABEL] = "node-build"  # the intermediate; the commit relabels it "node"
    sandbox = listed.pause or pause_image(listed.version)
    image_id = _docker_build(client, recipe, labels, sandbox, progress, build_env or {})
    repository, tag = recipe.tag.split(":", 1)
    if recipe.preload:
        preload_and_commit(client, image_id, recipe, listed, progress, build_env or {})
    else:
        with docker_errors(f"tagging {recipe.tag}"):
            client.images.get(image_id).tag(repository, tag)
    return recipe.tag


def _kubeadm_images(client, recipe: Recipe, progress: Progress) -> KubeadmImages:
    """What the image's own kubeadm lists (not DIND_K8S_VERSION's); archives checked against it."""
    if progress:
        progress("asking kubeadm for its version and control-plane images")
    source = "DIND_K8S_BIN_DIR" if recipe.settings.bin_dir else "DIND_K8S_VERSION"
    listed = probe_kubeadm(client, recipe.settings.base_image, recipe.binaries["kubeadm"], source)
    if recipe.archives:
        check_archives(recipe.archives, listed)
    return listed


def image_files(root: Path) -> Dict[str, Tuple[str, int]]:
    """The node's files under image/ as (source path, permission bits), keyed by relative path.
    Only NODE_FILES and rootfs/: helper images living in image/<name>/ don't change the tag."""
    missing = [name for name in NODE_FILES if not (root / name).is_file()]
    if missing:
        raise DindError(f"the node image's {', '.join(missing)} missing in {root}",
                        "reinstall dind-cluster (its wheel carries image/) or run it from a full checkout")
    paths = [root / name for name in NODE_FILES] + sorted((root / "rootfs").rglob("*"))
    return {p.relative_to(root).as_posix(): (str(p), p.stat().st_mode & 0o777)
            for p in paths if p.is_file()}


def _archives(images_dir: Optional[str]) -> Tuple[Path, ...]:
    if images_dir is None or images_dir == NO_IMAGES:
        return ()
    root = Path(images_dir).expanduser()
    if not root.is_dir():
        raise ConfigError("DIND_K8S_IMAGES_DIR", f"{images_dir} is not a directory",
                          f"expected a directory of image .tar archives, or '{NO_IMAGES}'")
    return tuple(root / name for name in archive_names([p.name for p in root.iterdir()]))


def _image_exists(client, tag: str) -> bool:
    with docker_errors(f"looking for {tag}"):
        try:
            client.images.get(tag)
            return True
        except docker.errors.ImageNotFound:
            return False


def base_image_id(client, name: str, progress: Progress = None) -> str:
    """The base image's id; pulled when missing (which needs a registry)."""
    with docker_errors(f"looking for the base image {name}"):
        try:
            return client.images.get(name).id
        except docker.errors.ImageNotFound:
            pass
    if progress:
        progress(f"pulling the base image {name}")
    try:
        with docker_errors(f"pulling the base image {name}"):
            return client.images.pull(name).id
    except (DockerError, docker.errors.DockerException) as exc:
        detail = exc.message if isinstance(exc, DindError) else str(exc)
        raise DindError(f"the base image {name} is not here and couldn't be pulled ({detail})",
                        "set DIND_BASE_IMAGE to a local image, e.g. the one build/base-image.sh "
                        "prints") from None


def _docker_build(client, recipe: Recipe, labels: Mapping[str, str], sandbox: str,
                  progress: Progress, build_env: Mapping[str, str]) -> str:
    with tempfile.TemporaryFile() as context:
        _write_context(context, recipe)
        context.seek(0)
        with docker_errors("building the node image"):
            stream = client.api.build(
                fileobj=context, custom_context=True, rm=True, forcerm=True, decode=True,
                buildargs={"BASE_IMAGE": recipe.settings.base_image, "SANDBOX_IMAGE": sandbox, **build_env},
                labels=dict(labels))
            return _follow_build(stream, progress)


def _write_context(fileobj, recipe: Recipe) -> None:
    """The build context as one tar: image/ plus bin/<binary>, owned by root."""
    entries = context_plan(recipe.image_files, {k: str(v) for k, v in recipe.binaries.items()})
    with tarfile.open(fileobj=fileobj, mode="w") as tar:
        for entry in entries:
            info = tar.gettarinfo(entry.source, arcname=entry.arcname)
            info.mode, info.uid, info.gid, info.uname, info.gname = entry.mode, 0, 0, "root", "root"
            with open(entry.source, "rb") as f:
                tar.addfile(info, f)


def _follow_build(stream, progress: Progress) -> str:
    """Report the Dockerfile steps; return the image id, or fail with the build's last lines."""
    lines, image_id = [], None
    for chunk in stream:
        text = chunk.get("stream", "")
        if text.strip():
            lines.append(text.rstrip())
            if progress and text.startswith("Step "):
                progress(text.strip())
        if "error" in chunk:
            tail = "\n".join(lines[-15:] + [chunk["error"].strip()])
            raise DockerError(f"building the node image failed: {chunk['error'].strip()}", tail)
        image_id = (chunk.get("aux") or {}).get("ID", image_id)
    if not image_id:
        raise DockerError("building the node image gave no image id", "\n".join(lines[-15:]))
    return image_id
