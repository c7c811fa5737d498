"""The node image built from the offline base image boots on this engine with the fallback run
options: systemd runs, containerd 2.x answers over its API and the CRI runs a nested pod with the
runtime options and snapshotter we chose, the preloaded archive is in k8s.io and pinned, the given
binaries are in /usr/bin. The build asks the image's kubeadm what to preload and checks the
archives first."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
import time

import docker.errors
import pytest

from dind_cluster.backend.client import docker_client
from dind_cluster.backend.images import ensure_node_image, node_image_recipe
from dind_cluster.errors import ConfigError
from dind_cluster.images import HASH_LABEL, IMAGE_LABEL, VAR_SEED_LABEL, node_image_settings

from conftest import base_image
from cri import CRI

pytestmark = pytest.mark.docker


def fake_bin_dir(path, token: str, images=(), version: str = "v1.31.9"):
    """Three tiny scripts standing for kubeadm, kubelet and kubectl (unique per test). kubeadm
    answers `version -o short` and lists `images` for its own version only, with a warning on
    stderr as real kubeadm may print."""
    path.mkdir()
    for name in ("kubeadm", "kubelet", "kubectl"):
        (path / name).write_text(f"#!/bin/sh\necho '{name} {token}' \"$@\"\n")
        (path / name).chmod(0o755)
    (path / "kubeadm").write_text(f"""#!/bin/sh
case "$*" in
  "version -o short") echo {version} ;;
  "config images list --kubernetes-version {version}")
    echo "W1201 a warning kubeadm writes to stderr" >&2; printf '%s\\n' {' '.join(images)} ;;
  *) echo 'kubeadm {token}' "$@" ;;
esac
""")
    return path


def pause_archive(engine, scope, folder, base: str) -> str:
    """`docker save` of a runnable stand-in for the pause image, made here (no registry): the
    base image's sleep and the libraries it loads, FROM scratch. Returns its containerd name."""
    ref = f"dind-cluster-test/pause:{scope.value}"
    script = ("mkdir /out && cp --parents /usr/bin/sleep $(ldd /usr/bin/sleep | grep -o '/[^ ]*') /out/"
              " && printf 'FROM scratch\\nCOPY out/ /\\nENTRYPOINT [\"/usr/bin/sleep\", \"infinity\"]\\n'"
              " > /out/Dockerfile")
    maker = engine.containers.create(base, ["sh", "-c", script], labels=scope.labels,
                                     network_mode="none")
    maker.start()
    assert maker.wait()["StatusCode"] == 0, maker.logs().decode(errors="replace")
    stream, _ = maker.get_archive("/out")
    engine.images.build(fileobj=io.BytesIO(b"".join(stream)), custom_context=True,
                        dockerfile="out/Dockerfile", tag=ref, labels=scope.labels, rm=True)
    folder.mkdir()
    with open(folder / "pause.tar", "wb") as f:
        for chunk in engine.images.get(ref).save(named=True):
            f.write(chunk)
    return f"docker.io/{ref}"


def run_fallback_node(engine, scope, image: str, var_volume: bool = True, suffix: str = ""):
    """A node as nodes.py runs it where --privileged is refused (this project's CI): its volume
    mounted nocopy when the image seeds /var itself (so the preloaded images reach a node only
    through that seed). Without `var_volume`, /var stays on the container's own overlay filesystem."""
    mounts = {"/lib/modules": {"bind": "/lib/modules", "mode": "ro"}}
    if var_volume:
        volume = engine.volumes.create(f"dind-test-var-{scope.value}{suffix}", labels=scope.labels)
        seeds = VAR_SEED_LABEL in engine.images.get(image).labels
        mounts[volume.name] = {"bind": "/var", "mode": "rw,nocopy" if seeds else "rw"}
    return engine.containers.run(
        image, detach=True, name=f"dind-test-node-{scope.value}{suffix}", hostname="node", labels=scope.labels,
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


@pytest.fixture(scope="module")
def built(engine, module_scope, tmp_path_factory):
    """Build (forced) from the offline base image with fake binaries whose kubeadm (another
    version than DIND_K8S_VERSION) lists one image, a runnable pause stand-in, given as an archive."""
    tmp = tmp_path_factory.mktemp("built")
    ref = pause_archive(engine, module_scope, tmp / "images", base_image())
    bins = fake_bin_dir(tmp / "bin", module_scope.value, images=(ref,))
    values = {"DIND_K8S_VERSION": "v1.31.4", "DIND_K8S_BIN_DIR": str(bins),
              "DIND_K8S_IMAGES_DIR": str(tmp / "images"), "DIND_BASE_IMAGE": base_image()}
    started = time.monotonic()
    tag = ensure_node_image(values, os.environ, force=True)
    print(f"node image {tag} built in {time.monotonic() - started:.1f}s")
    yield tag, values, bins, ref
    module_scope.cleanup()  # the node container first, else removing the image only untags it
    try:
        engine.images.remove(tag, force=True)
    except docker.errors.NotFound:
        pass


@pytest.fixture(scope="module")
def node(engine, module_scope, built):
    """A node of the built image, booted with the fallback run options."""
    container = run_fallback_node(engine, module_scope, built[0])
    wait_for_systemd(container)
    return container


def test_node_boots_with_fallback_options_and_has_preloaded_image(engine, node, built):
    _, _, bins, ref = built
    # The preload's commit keeps the label: the node's volume was mounted nocopy and seeded.
    assert engine.images.get(built[0]).labels[VAR_SEED_LABEL] == "/var"
    # ...and declares no volume (the archives' bind mount must not become one in every node).
    assert not engine.images.get(built[0]).attrs["Config"].get("Volumes")
    assert node.exec_run(["ctr", "version"]).exit_code == 0
    listed = node.exec_run(["ctr", "-n", "k8s.io", "images", "ls", "-q"]).output.decode().split()
    assert ref in listed
    assert node.exec_run(["cat", "/usr/bin/kubeadm"]).output == (bins / "kubeadm").read_bytes()


def config_toml(engine, scope, image: str) -> str:
    """containerd's config.toml as the image holds it (a created, never started container)."""
    holder = engine.containers.create(image, labels=scope.labels)
    stream, _ = holder.get_archive("/etc/containerd/config.toml")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return tar.extractfile("config.toml").read().decode()


@pytest.fixture(scope="module")
def cri(node):
    client = CRI(node)
    yield client
    client.close()


@pytest.fixture(scope="module")
def sandbox(node, cri):
    """A pod sandbox run through the CRI: its pause container nested in the node."""
    sandbox_id = cri.run_host_network_sandbox("dind-test-pod", "dindtest.slice")
    yield sandbox_id
    cri.remove_sandbox(sandbox_id)


def in_node(node, *argv) -> str:
    done = node.exec_run(list(argv))
    assert done.exit_code == 0, f"{' '.join(argv)}: {done.output.decode(errors='replace')}"
    return done.output.decode().strip()


def test_containerd_in_a_node_reports_2x_over_its_api(node, cri):
    server = in_node(node, "ctr", "version")
    assert re.search(r"Server:\s+Version:\s+v?2\.", server), server
    version = cri.version()
    assert version.runtime_name == "containerd" and re.match(r"v?2\.", version.runtime_version)


def test_the_cri_runs_a_nested_pod_with_runc_v2_and_the_systemd_cgroup_driver(node, cri, sandbox):
    runc = cri.runtime_config()["containerd"]["runtimes"]["runc"]
    assert runc["runtimeType"] == "io.containerd.runc.v2" and runc["options"]["SystemdCgroup"] is True
    # The systemd driver: runc asked the node's systemd for a scope in the pod's slice.
    unit = f"cri-containerd-{sandbox}.scope"
    assert in_node(node, "systemctl", "is-active", unit) == "active"
    group = in_node(node, "systemctl", "show", "-p", "ControlGroup", "--value", unit)
    assert group.endswith(f"dindtest.slice/{unit}"), group


def test_restrict_oom_score_adj_follows_what_the_node_may_do(node, cri):
    may_lower = node.exec_run(["sh", "-c", "echo -999 > /proc/self/oom_score_adj"]).exit_code == 0
    assert cri.runtime_config()["restrictOOMScoreAdj"] is (not may_lower)


def test_the_cri_uses_the_snapshotter_chosen_for_var(node, cri, sandbox):
    chosen = in_node(node, "/usr/local/sbin/dind-snapshotter")
    assert chosen in ("overlayfs", "native")
    assert cri.image_fs_mountpoints() == [f"/var/lib/containerd/io.containerd.snapshotter.v1.{chosen}"]
    # The pause container's root is a snapshot of that snapshotter, unpacked from the preload.
    in_node(node, "ctr", "-n", "k8s.io", "snapshots", "--snapshotter", chosen, "info", sandbox)


def test_on_a_filesystem_overlayfs_cannot_use_the_cri_runs_pods_with_the_native_snapshotter(
        engine, module_scope, built):
    """/var without its volume is overlay on overlay, as unusable as zfs for the overlayfs snapshotter."""
    node = run_fallback_node(engine, module_scope, built[0], var_volume=False, suffix="-overlay")
    wait_for_systemd(node)
    assert in_node(node, "stat", "-f", "-c", "%T", "/var") == "overlayfs"
    cri = CRI(node)
    try:
        assert cri.image_fs_mountpoints() == ["/var/lib/containerd/io.containerd.snapshotter.v1.native"]
        sandbox_id = cri.run_host_network_sandbox("dind-test-native", "dindtest.slice")
        in_node(node, "ctr", "-n", "k8s.io", "snapshots", "--snapshotter", "native", "info", sandbox_id)
        cri.remove_sandbox(sandbox_id)
    finally:
        cri.close()
        node.remove(force=True, v=True)


def test_the_sandbox_image_is_the_pause_image_kubeadm_lists_and_preloads_are_pinned(
        engine, module_scope, built, cri, sandbox):
    tag, _, _, ref = built
    assert f'sandbox = "{ref}"' in config_toml(engine, module_scope, tag)
    assert cri.pinned(ref)


def test_node_image_is_reused_until_its_content_changes(engine, built, tmp_path):
    tag, values, bins, _ = built
    first_id = engine.images.get(tag).id
    assert ensure_node_image(values, os.environ) == tag
    assert engine.images.get(tag).id == first_id
    changed = tmp_path / "bin"
    shutil.copytree(bins, changed)
    (changed / "kubelet").write_text("#!/bin/sh\necho changed\n")
    # The tag is known before any build: a changed binary names a different image.
    settings = node_image_settings({**values, "DIND_K8S_BIN_DIR": str(changed)})
    recipe = node_image_recipe(docker_client(os.environ), settings, os.environ)
    assert recipe.tag != tag and recipe.tag.startswith("dind-cluster-node:v1.31.4-")


def test_build_without_preload_is_labelled_and_leaves_no_build_container(engine, scope, tmp_path):
    bins = fake_bin_dir(tmp_path / "bin", scope.value + "-nopreload",
                        images=("registry.k8s.io/pause:3.10.1", "registry.k8s.io/etcd:3.5.21-0"))
    values = {"DIND_K8S_VERSION": "v1.31.4", "DIND_K8S_BIN_DIR": str(bins),
              "DIND_K8S_IMAGES_DIR": "none", "DIND_BASE_IMAGE": base_image()}
    tag = ensure_node_image(values, os.environ, force=True)
    try:
        image = engine.images.get(tag)
        assert image.labels[IMAGE_LABEL] == "node"
        assert image.attrs["Config"]["Entrypoint"] == ["/usr/local/sbin/dind-entrypoint"]
        assert image.attrs["Config"]["StopSignal"] == "SIGRTMIN+3"
        for role in ("node-build", "kubeadm-probe"):
            assert not engine.containers.list(all=True, filters={"label": f"{IMAGE_LABEL}={role}"})
        # Without preloaded images the sandbox image is still the one this kubeadm lists.
        assert 'sandbox = "registry.k8s.io/pause:3.10.1"' in config_toml(engine, scope, tag)
    finally:
        scope.cleanup()
        engine.images.remove(tag, force=True)


def test_an_image_kubeadm_lists_but_no_archive_holds_fails_before_the_build(engine, tmp_path, scope):
    listed = ("registry.k8s.io/pause:3.10", "registry.k8s.io/etcd:3.5.15-0")
    bins = fake_bin_dir(tmp_path / "bin", scope.value + "-missing", images=listed)
    (tmp_path / "images").mkdir()
    manifest = json.dumps([{"RepoTags": [listed[0]], "Layers": []}]).encode()
    with tarfile.open(tmp_path / "images" / "pause.tar", "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    values = {"DIND_K8S_VERSION": "v1.31.4", "DIND_K8S_BIN_DIR": str(bins),
              "DIND_K8S_IMAGES_DIR": str(tmp_path / "images"), "DIND_BASE_IMAGE": base_image()}
    recipe = node_image_recipe(engine, node_image_settings(values), os.environ)
    with pytest.raises(ConfigError) as err:
        ensure_node_image(values, os.environ, force=True)
    assert str(err.value).startswith("DIND_K8S_IMAGES_DIR: ")
    assert "registry.k8s.io/etcd:3.5.15-0" in str(err.value) and "pause" not in str(err.value)
    # Nothing was built: no image carries this recipe's content hash, no probe is left.
    assert not engine.images.list(filters={"label": f"{HASH_LABEL}={recipe.digest}"})
    assert not engine.containers.list(all=True, filters={"label": f"{IMAGE_LABEL}=kubeadm-probe"})
