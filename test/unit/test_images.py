"""The node image's pure helpers (tag, URLs, build context) and the release binary download."""
from __future__ import annotations

import dataclasses
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from dind_cluster.backend.images import IMAGE_DIR, image_files
from dind_cluster.k8s_binaries import binaries_from_dir, download_binaries
from dind_cluster.errors import ConfigError, DindError
from dind_cluster.images import (ImageInputs, archive_names, binary_url, checksum_url,
                                 content_hash, context_plan, import_argv, node_image_settings,
                                 node_image_tag, parse_sha256, pause_image, release_arch)
from dind_cluster.settings import DEFAULT_K8S_VERSION

BASE = ImageInputs(
    k8s_version="v1.31.4", base_image_id="sha256:" + "a" * 64,
    context_files={"Dockerfile": "644:" + "1" * 64, "setup.sh": "755:" + "2" * 64},
    binaries={"kubeadm": "3" * 64, "kubelet": "4" * 64, "kubectl": "5" * 64},
    archives={"etcd.tar": "6" * 64}, pull=False)


@pytest.mark.parametrize("change", [
    {"k8s_version": "v1.31.5"},
    {"base_image_id": "sha256:" + "b" * 64},
    {"context_files": {**BASE.context_files, "Dockerfile": "644:" + "9" * 64}},
    {"context_files": {**BASE.context_files, "setup.sh": "644:" + "2" * 64}},  # mode only
    {"context_files": {**BASE.context_files, "new-file": "644:" + "0" * 64}},
    {"binaries": {**BASE.binaries, "kubelet": "9" * 64}},
    {"archives": {**BASE.archives, "etcd.tar": "9" * 64}},
    {"archives": {}},
    {"pull": True},
])
def test_content_hash_changes_when_any_input_changes(change):
    assert content_hash(dataclasses.replace(BASE, **change)) != content_hash(BASE)


def test_content_hash_is_stable_and_ignores_mapping_order():
    shuffled = dataclasses.replace(
        BASE, binaries=dict(reversed(list(BASE.binaries.items()))),
        context_files=dict(reversed(list(BASE.context_files.items()))))
    assert content_hash(shuffled) == content_hash(BASE)
    assert len(content_hash(BASE)) == 12


@pytest.mark.parametrize("version, digest, tag", [
    ("v1.31.4", "0123456789ab", "dind-cluster-node:v1.31.4-0123456789ab"),
    ("v1.32.0-rc.1", "ba9876543210", "dind-cluster-node:v1.32.0-rc.1-ba9876543210"),
])
def test_node_image_tag_says_version_and_content(version, digest, tag):
    assert node_image_tag(version, digest) == tag


def test_release_urls_follow_dl_k8s_io_layout():
    assert binary_url("v1.31.4", "amd64", "kubeadm") == \
        "https://dl.k8s.io/release/v1.31.4/bin/linux/amd64/kubeadm"
    assert checksum_url("v1.31.4", "arm64", "kubelet") == \
        "https://dl.k8s.io/release/v1.31.4/bin/linux/arm64/kubelet.sha256"


@pytest.mark.parametrize("machine, arch", [("x86_64", "amd64"), ("aarch64", "arm64"),
                                           ("arm64", "arm64"), ("ppc64le", "ppc64le")])
def test_release_arch_maps_engine_architecture(machine, arch):
    assert release_arch(machine) == arch


def test_an_unset_version_means_the_default_release():
    assert node_image_settings({}).k8s_version == DEFAULT_K8S_VERSION


def test_release_arch_rejects_unknown_architecture():
    with pytest.raises(ConfigError, match="mips"):
        release_arch("mips")


@pytest.mark.parametrize("version", ["1.31.4", "v1.31", "latest", "v1.31.4; rm -rf /"])
def test_settings_reject_a_version_that_is_not_a_release(version):
    with pytest.raises(ConfigError, match="DIND_K8S_VERSION"):
        node_image_settings({"DIND_K8S_VERSION": version})


def test_settings_default_base_image_and_empty_dirs_mean_unset():
    settings = node_image_settings({"DIND_K8S_VERSION": "v1.31.4", "DIND_K8S_BIN_DIR": "",
                                    "DIND_K8S_IMAGES_DIR": " "})
    assert (settings.base_image, settings.bin_dir, settings.images_dir) == \
        ("debian:trixie-slim", None, None)


@pytest.mark.parametrize("text, digest", [
    ("a" * 64, "a" * 64),
    ("A" * 64 + "  kubeadm\n", "a" * 64),
    ("<html>not found</html>", None),
    ("", None),
])
def test_parse_sha256_reads_bare_and_sha256sum_formats(text, digest):
    assert parse_sha256(text) == digest


def test_archive_names_keeps_tar_files_in_order():
    assert archive_names(["b.tar", "notes.txt", "a.tar", ".hidden.tar", "c.tar.gz"]) == \
        ("a.tar", "b.tar")


def test_context_plan_puts_binaries_under_bin_executable():
    plan = context_plan({"Dockerfile": ("/src/Dockerfile", 0o644)},
                        {"kubeadm": "/b/kubeadm", "kubelet": "/b/kubelet", "kubectl": "/b/kubectl"})
    assert [(e.arcname, e.mode) for e in plan] == [
        ("Dockerfile", 0o644), ("bin/kubeadm", 0o755), ("bin/kubelet", 0o755), ("bin/kubectl", 0o755)]


def test_context_plan_requires_all_three_binaries():
    with pytest.raises(ConfigError, match="kubectl"):
        context_plan({}, {"kubeadm": "/b/kubeadm", "kubelet": "/b/kubelet"})


def test_pause_image_is_found_among_kubeadm_images():
    refs = ["registry.k8s.io/kube-apiserver:v1.31.4", "registry.k8s.io/pause:3.10",
            "registry.k8s.io/etcd:3.5.15-0"]
    assert pause_image(refs) == "registry.k8s.io/pause:3.10"
    assert pause_image(refs[:1]) is None


def test_import_does_not_unpack_into_the_build_containers_overlay():
    assert import_argv("/x/a.tar") == ["ctr", "--namespace", "k8s.io", "images", "import",
                                       "--no-unpack", "/x/a.tar"]


def test_image_dir_holds_an_executable_entrypoint_and_the_kubelet_units():
    files = image_files(IMAGE_DIR)
    assert files["rootfs/usr/local/sbin/dind-entrypoint"][1] & 0o111
    assert {"Dockerfile", "rootfs/etc/systemd/system/kubelet.service",
            "rootfs/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
            "rootfs/etc/containerd/config.toml"} <= set(files)


def test_files_of_other_images_in_image_dir_do_not_enter_the_node_context(tmp_path):
    for rel in ("Dockerfile", "packages.txt", "install-packages.sh", "debian-mirror.sh", "setup.sh",
                "rootfs/etc/x.conf", "tayga/Dockerfile"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    assert sorted(image_files(tmp_path)) == ["Dockerfile", "debian-mirror.sh", "install-packages.sh",
                                             "packages.txt", "rootfs/etc/x.conf", "setup.sh"]


def test_bin_dir_must_hold_all_three_binaries(tmp_path):
    (tmp_path / "kubeadm").write_text("x")
    with pytest.raises(ConfigError, match="kubelet, kubectl"):
        binaries_from_dir(str(tmp_path))


# --- downloads, served from loopback -------------------------------------------------------------

@pytest.fixture
def release_server(tmp_path):
    """A loopback HTTP server laid out like dl.k8s.io/release; yields (base url, files root)."""
    root = tmp_path / "www"
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root, server
    server.shutdown()
    server.server_close()


def publish(root: Path, version: str, contents: dict, bad_sum_for: str = "") -> None:
    folder = root / version / "bin" / "linux" / "amd64"
    folder.mkdir(parents=True)
    for name, data in contents.items():
        (folder / name).write_bytes(data)
        digest = hashlib.sha256(b"tampered" if name == bad_sum_for else data).hexdigest()
        (folder / f"{name}.sha256").write_text(digest)


def test_download_checks_sha256_and_reuses_the_cache(release_server, tmp_path):
    base, root, server = release_server
    publish(root, "v1.31.4", {n: f"#!/bin/sh\necho {n}\n".encode() for n in ("kubeadm", "kubelet", "kubectl")})
    env = {"HOME": str(tmp_path / "home")}
    got = download_binaries("v1.31.4", "amd64", env, base=base)
    assert got["kubelet"].read_bytes() == b"#!/bin/sh\necho kubelet\n"
    assert got["kubelet"] == tmp_path / "home/.cache/dind-cluster/k8s/v1.31.4/amd64/kubelet"
    server.shutdown()  # the cache must serve the second call
    assert download_binaries("v1.31.4", "amd64", env, base=base) == got


def test_download_rejects_a_binary_whose_sha256_does_not_match(release_server, tmp_path):
    base, root, _ = release_server
    publish(root, "v1.31.4", {n: b"data" for n in ("kubeadm", "kubelet", "kubectl")}, bad_sum_for="kubeadm")
    with pytest.raises(DindError, match="kubeadm: sha256 .* doesn't match"):
        download_binaries("v1.31.4", "amd64", {"HOME": str(tmp_path)}, base=base)
    assert not (tmp_path / ".cache/dind-cluster/k8s/v1.31.4/amd64/kubeadm").exists()


def test_failed_download_names_the_url_and_how_to_build_offline(release_server, tmp_path):
    base, _, _ = release_server  # nothing published: 404
    with pytest.raises(DindError) as err:
        download_binaries("v1.31.4", "amd64", {"HOME": str(tmp_path)}, base=base)
    assert f"{base}/v1.31.4/bin/linux/amd64/kubeadm.sha256" in err.value.message
    assert "DIND_K8S_BIN_DIR" in err.value.hint and "DIND_K8S_IMAGES_DIR" in err.value.hint
    assert "DIND_BASE_IMAGE" in err.value.hint


def test_downloads_go_through_the_dind_proxy(tmp_path):
    """DIND_HTTP_PROXY reaches the host's own downloads: a loopback proxy gets the absolute URLs
    of a release site that doesn't exist (no traffic leaves the machine)."""
    from urllib.parse import urlsplit

    root, seen = tmp_path / "www", []
    publish(root, "v1.31.4", {n: b"data-" + n.encode() for n in ("kubeadm", "kubelet", "kubectl")})

    class Proxy(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def do_GET(self):
            seen.append(self.path)
            self.path = urlsplit(self.path).path
            super().do_GET()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proxies = {"http": f"http://127.0.0.1:{server.server_address[1]}"}
        got = download_binaries("v1.31.4", "amd64", {"HOME": str(tmp_path)}, base="http://release.invalid",
                                proxies=proxies)
    finally:
        server.shutdown()
        server.server_close()
    assert got["kubectl"].read_bytes() == b"data-kubectl"
    assert "http://release.invalid/v1.31.4/bin/linux/amd64/kubeadm.sha256" in seen


def test_proxy_variables_reach_the_node_image_build_as_build_arguments(tmp_path, monkeypatch):
    """apt in the Dockerfile sees DIND_HTTP_PROXY: Docker's predefined proxy build arguments (kept out
    of the image). The engine is a create_autospec fake: only the build call is looked at."""
    from unittest.mock import create_autospec

    import docker

    from dind_cluster import registries, registry_plan
    from dind_cluster.backend import images as backend_images
    from dind_cluster.backend.images import Recipe, build_node_image
    from dind_cluster.images import KubeadmImages, NodeImageSettings

    bins = {}
    for name in ("kubeadm", "kubelet", "kubectl"):
        bins[name] = tmp_path / name
        bins[name].write_text("#!/bin/sh\n")
    client = create_autospec(docker.DockerClient, instance=True)
    client.api = create_autospec(docker.APIClient, instance=True)
    client.api.build.return_value = iter([{"stream": "Step 1/1\n"}, {"aux": {"ID": "sha256:abc"}}])
    settings = NodeImageSettings("v1.31.4", "base:1", str(tmp_path), "none")
    recipe = Recipe(settings, "amd64", image_files(IMAGE_DIR), bins, (), "0" * 12, "dind-cluster-node:v1.31.4-x")
    env = registry_plan.proxy_env(registries.parse_proxy({"DIND_HTTP_PROXY": "http://proxy.local:3128"}))
    # what the image's kubeadm reports (the probe runs a container: not this test's subject)
    listed = KubeadmImages("v1.31.4", ("registry.k8s.io/pause:3.10",))
    monkeypatch.setattr(backend_images, "_kubeadm_images", lambda *_: listed)
    build_node_image(client, recipe, build_env=env)
    args = client.api.build.call_args.kwargs["buildargs"]
    assert args["BASE_IMAGE"] == "base:1"
    assert args["http_proxy"] == args["HTTP_PROXY"] == "http://proxy.local:3128"
    assert "localhost" in args["no_proxy"].split(",")
