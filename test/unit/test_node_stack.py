"""The node's runtime stack without Docker: containerd's config (version 3 for containerd 2.x),
the snapshotter chosen for the filesystem under /var, and the preload's reading of kubeadm and of
image archives."""
from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

from dind_cluster.backend.images import IMAGE_DIR
from dind_cluster.backend.kubeadm_probe import check_archives
from dind_cluster.errors import ConfigError
from dind_cluster.images import (KubeadmImages, archive_image_names, kubeadm_images,
                                 missing_archive_images, pinned_label_argv)

ROOTFS = IMAGE_DIR / "rootfs"
CONFIG_IN_NODE = "/etc/containerd/config.toml"
CONFIG = ROOTFS / CONFIG_IN_NODE.lstrip("/")
ENTRYPOINT = ROOTFS / "usr/local/sbin/dind-entrypoint"
SETUP = IMAGE_DIR / "setup.sh"
IMAGES = "io.containerd.cri.v1.images"
RUNTIME = "io.containerd.cri.v1.runtime"


def containerd_config() -> dict:
    return tomllib.loads(CONFIG.read_text())


def test_containerd_config_is_version_3_with_runc_v2_and_systemd_cgroups():
    config = containerd_config()
    assert config["version"] == 3
    runtime = config["plugins"][RUNTIME]["containerd"]
    runc = runtime["runtimes"][runtime["default_runtime_name"]]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is True
    assert config["plugins"][RUNTIME]["cni"]["bin_dirs"] == ["/opt/cni/bin"]


def test_containerd_config_pins_a_sandbox_image_and_reads_registry_host_files():
    images = containerd_config()["plugins"][IMAGES]
    assert re.fullmatch(r"registry\.k8s\.io/pause:[0-9.]+", images["pinned_images"]["sandbox"])
    assert images["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert images["snapshotter"] == "overlayfs"
    # No key of the 1.x schema survives (containerd 2.x would migrate them with a warning).
    assert "io.containerd.grpc.v1.cri" not in containerd_config()["plugins"]


def config_edits(script_text: str, key: str) -> list:
    """The `sed -i` lines of a build or boot script that edit config.toml's `key` line."""
    return [line.strip().replace(str(CONFIG_IN_NODE), '"$CONFIG"') for line in script_text.splitlines()
            if "sed -i" in line and key in line and str(CONFIG_IN_NODE) in line]


@pytest.mark.parametrize("script, key, env, table, want", [
    (ENTRYPOINT, "restrict_oom_score_adj", {}, (RUNTIME,), True),
    (ENTRYPOINT, "snapshotter", {"snapshotter": "native"}, (IMAGES,), "native"),
    (SETUP, "sandbox", {"sandbox": "registry.k8s.io/pause:3.10.1"}, (IMAGES, "pinned_images"),
     "registry.k8s.io/pause:3.10.1"),
])
def test_the_line_edits_of_the_build_and_boot_scripts_still_match_config_toml(
        tmp_path, script, key, env, table, want):
    """The entrypoint and setup.sh edit config.toml by line: a schema change must not leave
    their sed expressions matching nothing."""
    edits = config_edits(script.read_text(), key)
    assert edits, f"no sed of {key} found in {script.name}"
    copy = tmp_path / "config.toml"
    copy.write_text(CONFIG.read_text())
    for line in edits:
        subprocess.run(["sh", "-c", line], check=True, env={**env, "CONFIG": str(copy)})
    section = tomllib.loads(copy.read_text())["plugins"]
    for name in table:
        section = section[name]
    assert section[key] == want


@pytest.mark.parametrize("fs, snapshotter", [
    ("ext2/ext3", "overlayfs"), ("xfs", "overlayfs"), ("btrfs", "overlayfs"),
    ("tmpfs", "overlayfs"), ("zfs", "native"), ("overlayfs", "native"), ("fuseblk", "native"),
    ("nfs", "native"), ("UNKNOWN (0x2fc12fc1)", "native"),
])
def test_snapshotter_for_the_filesystem_under_var(fs, snapshotter):
    done = subprocess.run(["sh", str(ROOTFS / "usr/local/sbin/dind-snapshotter"), fs],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == snapshotter


LIST = ("registry.k8s.io/kube-apiserver:v1.33.2\nregistry.k8s.io/coredns/coredns:v1.12.0\n"
        "registry.k8s.io/pause:3.10\nregistry.k8s.io/etcd:3.5.21-0\n")


def test_kubeadm_images_reads_the_version_and_the_listed_images():
    listed = kubeadm_images("v1.33.2\n", LIST, "DIND_K8S_BIN_DIR")
    assert listed.version == "v1.33.2"
    assert listed.refs[0] == "registry.k8s.io/kube-apiserver:v1.33.2" and len(listed.refs) == 4
    assert listed.pause == "registry.k8s.io/pause:3.10"


@pytest.mark.parametrize("version, images, problem", [
    ("kubeadm version: &version.Info{...}", LIST, "reports version"),
    ("v1.33.2", "", "lists no control-plane images"),
])
def test_kubeadm_images_rejects_output_that_is_not_kubeadm_s(version, images, problem):
    with pytest.raises(ConfigError, match=f"DIND_K8S_BIN_DIR: .*{problem}"):
        kubeadm_images(version, images, "DIND_K8S_BIN_DIR")


def test_archive_image_names_reads_docker_save_and_oci_indexes():
    docker_save = {"manifest.json": [{"RepoTags": ["registry.k8s.io/etcd:3.5.21-0"]},
                                     {"RepoTags": None}]}
    oci = {"index.json": {"manifests": [
        {"annotations": {"io.containerd.image.name": "registry.k8s.io/pause:3.10"}},
        {"annotations": {"org.opencontainers.image.ref.name": "v1.33.2"}}]}}
    assert archive_image_names(docker_save) == ("registry.k8s.io/etcd:3.5.21-0",)
    assert archive_image_names(oci) == ("registry.k8s.io/pause:3.10",)


def test_missing_archive_images_keeps_kubeadm_s_order():
    assert missing_archive_images(["a:1", "b:1", "c:1"], ["b:1"]) == ("a:1", "c:1")
    assert missing_archive_images(["a:1"], ["a:1", "x:2"]) == ()


def docker_save_tar(path, *tags):
    data = json.dumps([{"Config": "c.json", "RepoTags": list(tags), "Layers": []}]).encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_an_archive_directory_missing_a_listed_image_is_an_error_naming_it(tmp_path):
    archives = [docker_save_tar(tmp_path / "cp.tar", "registry.k8s.io/kube-apiserver:v1.33.2",
                                "registry.k8s.io/etcd:3.5.21-0"),
                docker_save_tar(tmp_path / "pause.tar", "registry.k8s.io/pause:3.10")]
    listed = kubeadm_images("v1.33.2", LIST, "DIND_K8S_BIN_DIR")
    with pytest.raises(ConfigError) as err:
        check_archives(archives, listed)
    assert str(err.value).startswith("DIND_K8S_IMAGES_DIR: no archive in")
    assert "registry.k8s.io/coredns/coredns:v1.12.0" in str(err.value)
    assert "etcd" not in str(err.value) and "kubeadm v1.33.2" in str(err.value)
    archives.append(docker_save_tar(tmp_path / "dns.tar", "registry.k8s.io/coredns/coredns:v1.12.0"))
    check_archives(archives, listed)  # complete now: no error


def test_docker_hub_short_names_in_archives_match_kubeadm_s_full_names(tmp_path):
    listed = KubeadmImages("v1.33.2", ("docker.io/library/busybox:latest",))
    check_archives([docker_save_tar(tmp_path / "b.tar", "busybox:latest")], listed)


def test_an_unreadable_archive_is_a_config_error(tmp_path):
    (tmp_path / "x.tar").write_text("not a tar")
    with pytest.raises(ConfigError, match="DIND_K8S_IMAGES_DIR: .*x.tar is not a readable"):
        check_archives([tmp_path / "x.tar"], KubeadmImages("v1.33.2", ("a:1",)))


def test_preloaded_images_are_labelled_pinned_for_the_cri():
    assert pinned_label_argv("registry.k8s.io/pause:3.10") == [
        "ctr", "--namespace", "k8s.io", "images", "label", "registry.k8s.io/pause:3.10",
        "io.cri-containerd.pinned=pinned"]
