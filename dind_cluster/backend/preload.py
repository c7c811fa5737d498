"""Preload control-plane images into a freshly built node image: a temporary container from it
runs containerd directly (no systemd), imports the archives (or pulls what kubeadm lists) into the
k8s.io namespace, labels them pinned (image GC never drops them), and is committed as the node
image, then removed."""
from __future__ import annotations

import time
from typing import Callable, List, Mapping, Optional

from docker.types import Mount

from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import STDOUT, run_exec
from dind_cluster.errors import CommandFailed, DindError, Timeout
from dind_cluster.images import (CTR, IMAGE_LABEL, OFFLINE_HINT, KubeadmImages, fetch_argv,
                                 import_argv, pinned_label_argv)

Progress = Optional[Callable[[str], None]]
ARCHIVES_MOUNT = "/var/tmp/dind-images"
LOG = "/run/dind-build-containerd.log"
PID = "/run/dind-build-containerd.pid"
ENTRYPOINT = '["/usr/local/sbin/dind-entrypoint"]'


def preload_and_commit(client, image_id: str, recipe, listed: KubeadmImages,
                       progress: Progress = None, env: Optional[Mapping[str, str]] = None) -> None:
    """Run `image_id`, fill its containerd with the images (archives, else pulled as `listed`),
    pin them, commit it as recipe.tag; always remove the container. `env` (the proxy variables)
    is given to containerd and to ctr, which pulls itself."""
    container = _start_build_container(client, image_id, recipe)
    try:
        _start_containerd(container, env=env or {})
        if recipe.archives:
            refs = _import_archives(container, recipe.archives, progress)
        else:
            refs = _pull_images(container, listed.refs, recipe.arch, progress, env or {})
        for ref in refs:
            _run(container, pinned_label_argv(ref))
        _stop_containerd(container)
        repository, tag = recipe.tag.split(":", 1)
        with docker_errors(f"committing {recipe.tag}"):
            container.commit(repository=repository, tag=tag, changes=[
                f"ENTRYPOINT {ENTRYPOINT}", "CMD []", f"LABEL {IMAGE_LABEL}=node"])
    finally:
        with docker_errors("removing the image build container"):
            container.remove(force=True, v=True)


def _start_build_container(client, image_id: str, recipe):
    mounts = []
    if recipe.archives:
        # Bind-mounted, not copied: archives can be large (needs a local engine). A Mount, not
        # `volumes=`: that also declares a VOLUME, which the commit would keep, giving every node
        # an anonymous volume (and a mount point in its fresh /var).
        folder = str(recipe.archives[0].parent.resolve())
        mounts.append(Mount(ARCHIVES_MOUNT, folder, type="bind", read_only=True))
    with docker_errors("starting the image build container"):
        return client.containers.run(
            image_id, entrypoint=["sleep", "infinity"], command=[], detach=True, init=True,
            labels={IMAGE_LABEL: "node-build"}, mounts=mounts,
            network_mode="none" if recipe.archives else None)


def _run(container, argv: List[str], where: str = "image build container",
         env: Optional[Mapping[str, str]] = None, check: bool = True) -> tuple:
    """(exit code, stdout, stdout and stderr): read as backend.containers does, since the SDK's
    exec_run loses output that comes in with the engine's response headers."""
    with docker_errors(f"running {argv[0]} in the {where}"):
        code, frames = run_exec(container, list(argv), env)
    stdout = b"".join(data for stream, data in frames if stream == STDOUT).decode(errors="replace")
    both = b"".join(data for _, data in frames).decode(errors="replace")
    if check and code != 0:
        raise CommandFailed(where, list(argv), code, both)
    return code, stdout, both


def _start_containerd(container, timeout: float = 30.0, env: Optional[Mapping[str, str]] = None) -> None:
    _run(container, ["sh", "-c", f"containerd >{LOG} 2>&1 & echo $! >{PID}"], env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _run(container, [*CTR, "version"], check=False)[0] == 0:
            return
        time.sleep(0.2)
    raise Timeout(f"containerd didn't answer within {timeout:.0f}s in the image build container",
                  _run(container, ["tail", "-n", "15", LOG], check=False)[2])


def _import_archives(container, archives, progress: Progress) -> List[str]:
    for path in archives:
        if progress:
            progress(f"importing {path.name} into containerd")
        _run(container, import_argv(f"{ARCHIVES_MOUNT}/{path.name}"))
    return _image_refs(container)


def _pull_images(container, refs, arch: str, progress: Progress,
                 env: Optional[Mapping[str, str]] = None) -> List[str]:
    for ref in refs:
        if progress:
            progress(f"pulling {ref}")
        try:
            _run(container, fetch_argv(ref, arch), env=env)
        except CommandFailed as exc:
            raise DindError(f"couldn't pull {ref} for the node image ({exc.output.strip()[-200:]})",
                            OFFLINE_HINT) from None
    return list(refs)


def _image_refs(container) -> List[str]:
    return _run(container, [*CTR, "images", "ls", "-q"])[1].split()


def _stop_containerd(container) -> None:
    """Stop containerd cleanly so its database is consistent in the commit; drop its traces."""
    _run(container, ["sh", "-c",
                     f'pid=$(cat {PID}); kill -TERM "$pid"; n=0; '
                     f'while kill -0 "$pid" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done; '
                     f'rm -rf {PID} {LOG} /run/containerd'])
