"""Before the node image is built: ask the kubeadm going into it for its version and the images it
lists for that version, and check the archives of DIND_K8S_IMAGES_DIR hold them all. A short-lived
container of the base image runs the binary (copied in, no bind mount: a remote engine works
too) with no network; only stdout is read (kubeadm writes its warnings to stderr)."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Sequence, Tuple

from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import exec_demux, put_files
from dind_cluster.images import normalize_ref
from dind_cluster.errors import CommandFailed, ConfigError
from dind_cluster.images import (IMAGE_LABEL, KubeadmImages, archive_image_names,
                                 images_list_argv, kubeadm_images, kubeadm_version_argv,
                                 missing_archive_images)

PROBE_KUBEADM = "/usr/local/bin/kubeadm"


def probe_kubeadm(client, base_image: str, kubeadm: Path, source: str) -> KubeadmImages:
    """Version and image list of `kubeadm`; `source` names the setting it came from."""
    with docker_errors("starting the kubeadm probe container"):
        container = client.containers.create(
            base_image, entrypoint=["sleep", "infinity"], command=[], network_mode="none",
            labels={IMAGE_LABEL: "kubeadm-probe"})
    try:
        put_files(container, {PROBE_KUBEADM: kubeadm.read_bytes()}, mode=0o755)
        with docker_errors("starting the kubeadm probe container"):
            container.start()
        version = _stdout(container, kubeadm_version_argv(PROBE_KUBEADM))
        listed = _stdout(container, images_list_argv(version.strip(), PROBE_KUBEADM))
        return kubeadm_images(version, listed, source)
    finally:
        with docker_errors("removing the kubeadm probe container"):
            container.remove(force=True, v=True)


def _stdout(container, argv: list) -> str:
    with docker_errors(f"running {' '.join(argv)} in the kubeadm probe container"):
        code, out, err = exec_demux(container, argv)
    if code != 0:
        raise CommandFailed("kubeadm probe container", argv, code,
                            (out + err).decode(errors="replace"))
    return out.decode(errors="replace")


def check_archives(archives: Sequence[Path], listed: KubeadmImages) -> None:
    """Fail, naming them, when kubeadm lists images that no archive holds."""
    held = [normalize_ref(name) for path in archives for name in archive_names(path)]
    missing = missing_archive_images([normalize_ref(r) for r in listed.refs], held)
    if missing:
        folder = archives[0].parent if archives else "the directory"
        raise ConfigError("DIND_K8S_IMAGES_DIR",
                          f"no archive in {folder} holds {', '.join(missing)} "
                          f"(listed by kubeadm {listed.version})",
                          "expected a .tar archive (docker save or OCI) of every image "
                          "`kubeadm config images list` prints, or 'none'")


def archive_names(path: Path) -> Tuple[str, ...]:
    """The image names in one archive, from its manifest.json / index.json."""
    found = {}
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.name.lstrip("./") in ("manifest.json", "index.json"):
                    found[member.name.lstrip("./")] = json.load(tar.extractfile(member))
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise ConfigError("DIND_K8S_IMAGES_DIR", f"{path} is not a readable image archive ({exc})",
                          "expected .tar archives made by `docker save` or an OCI layout") from None
    return archive_image_names(found)
