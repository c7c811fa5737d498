"""The node image built from the offline base image boots on this engine with the fallback run
options: systemd runs, containerd answers, the preloaded archive is in k8s.io, the given
binaries are in /usr/bin."""
from __future__ import annotations

import io
import os
import tarfile
import time

import docker.errors
import pytest

from dind_cluster.backend.client import docker_client
from dind_cluster.backend.images import ensure_node_image, node_image_recipe
from dind_cluster.images import IMAGE_LABEL, node_image_settings

from conftest import base_image

pytestmark = pytest.mark.docker


def fake_bin_dir(path, token: str):
    """Three tiny scripts standing for kubeadm, kubelet and kubectl (unique per test)."""
    path.mkdir()
    for name in ("kubeadm", "kubelet", "kubectl"):
        (path / name).write_text(f"#!/bin/sh\necho '{name} {token}' \"$@\"\n")
        (path / name).chmod(0o755)
    return path


def tiny_archive(engine, scope, folder) -> str:
    """`docker save` of a one-file image made here (no registry); returns its reference."""
    ref = f"dind-cluster-test/tiny:{scope.value}"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY hello /hello\n"), ("hello", b"hi\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    engine.images.build(fileobj=context, custom_context=True, tag=ref, labels=scope.labels, rm=True)
    folder.mkdir()
    with open(folder / "tiny.tar", "wb") as f:
        for chunk in engine.images.get(ref).save(named=True):
            f.write(chunk)
    return ref


def run_fallback_node(engine, scope, image: str):
    """A node as nodes.py runs it where --privileged is refused (this project's CI)."""
    volume = engine.volumes.create(f"dind-test-var-{scope.value}", labels=scope.labels)
    mounts = {"/lib/modules": {"bind": "/lib/modules", "mode": "ro"},
              volume.name: {"bind": "/var", "mode": "rw"}}
    return engine.containers.run(
        image, detach=True, name=f"dind-test-node-{scope.value}", hostname="node", labels=scope.labels,
        cap_add=["ALL"], cap_drop=["SYS_RESOURCE"], device_cgroup_rules=["a *:* rwm"],
        security_opt=["seccomp=unconfined", "apparmor=unconfined"],
        cgroupns="private", init=False,
        tmpfs={"/run": "", "/run/lock": "", "/tmp": ""}, volumes=mounts, stop_signal="SIGRTMIN+3")


def wait_for_systemd(container, timeout: float = 60.0) -> str:
    state = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = container.exec_run(["systemctl", "is-system-running"]).output.decode().strip()
        if state in ("running", "degraded"):
            return state
        time.sleep(0.5)
    logs = container.logs(tail=20).decode(errors="replace")
    pytest.fail(f"systemd is {state!r} after {timeout:.0f}s; container log:\n{logs}")


@pytest.fixture
def built(engine, scope, tmp_path):
    """Build (forced) from the offline base image with fake binaries and one image archive."""
    bins = fake_bin_dir(tmp_path / "bin", scope.value)
    ref = tiny_archive(engine, scope, tmp_path / "images")
    values = {"DIND_K8S_VERSION": "v1.31.4", "DIND_K8S_BIN_DIR": str(bins),
              "DIND_K8S_IMAGES_DIR": str(tmp_path / "images"), "DIND_BASE_IMAGE": base_image()}
    started = time.monotonic()
    tag = ensure_node_image(values, os.environ, force=True)
    print(f"node image {tag} built in {time.monotonic() - started:.1f}s")
    yield tag, values, bins, ref
    scope.cleanup()  # the node container first, else removing the image only untags it
    try:
        engine.images.remove(tag, force=True)
    except docker.errors.NotFound:
        pass


def test_node_boots_with_fallback_options_and_has_preloaded_image(engine, scope, built):
    tag, _, bins, ref = built
    node = run_fallback_node(engine, scope, tag)
    assert wait_for_systemd(node) in ("running", "degraded")
    assert node.exec_run(["ctr", "version"]).exit_code == 0
    listed = node.exec_run(["ctr", "-n", "k8s.io", "images", "ls", "-q"]).output.decode().split()
    assert f"docker.io/{ref}" in listed
    assert node.exec_run(["cat", "/usr/bin/kubeadm"]).output == (bins / "kubeadm").read_bytes()


def test_node_image_is_reused_until_its_content_changes(engine, built):
    tag, values, bins, _ = built
    first_id = engine.images.get(tag).id
    assert ensure_node_image(values, os.environ) == tag
    assert engine.images.get(tag).id == first_id
    (bins / "kubelet").write_text("#!/bin/sh\necho changed\n")
    # The tag is known before any build: a changed binary names a different image.
    recipe = node_image_recipe(docker_client(os.environ), node_image_settings(values), os.environ)
    assert recipe.tag != tag and recipe.tag.startswith("dind-cluster-node:v1.31.4-")


def test_build_without_preload_is_labelled_and_leaves_no_build_container(engine, scope, tmp_path):
    bins = fake_bin_dir(tmp_path / "bin", scope.value + "-nopreload")
    values = {"DIND_K8S_VERSION": "v1.31.4", "DIND_K8S_BIN_DIR": str(bins),
              "DIND_K8S_IMAGES_DIR": "none", "DIND_BASE_IMAGE": base_image()}
    tag = ensure_node_image(values, os.environ, force=True)
    try:
        image = engine.images.get(tag)
        assert image.labels[IMAGE_LABEL] == "node"
        assert image.attrs["Config"]["Entrypoint"] == ["/usr/local/sbin/dind-entrypoint"]
        assert image.attrs["Config"]["StopSignal"] == "SIGRTMIN+3"
        assert not engine.containers.list(all=True, filters={"label": f"{IMAGE_LABEL}=node-build"})
    finally:
        engine.images.remove(tag, force=True)
