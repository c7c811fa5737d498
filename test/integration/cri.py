"""A CRI client for tests on real nodes, so that checks go through the API the kubelet uses.

The part of the CRI API the tests use (test/cri/cri_subset.proto, our own subset with the real
runtime.v1 names and field numbers) is compiled with grpcio-tools at first use. The node's
containerd socket is reached through /proc/<pid>/root, which needs the tests to run as root beside
the engine (as they do here and in CI); otherwise the test skips.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

PROTO_DIR = Path(__file__).resolve().parents[1] / "cri"
PROTO = "cri_subset.proto"
SOCKET = "run/containerd/containerd.sock"
_api: tuple = ()


def api():
    """(messages module, services module) of runtime.v1, compiled once per test session."""
    global _api
    if not _api:
        protoc = pytest.importorskip("grpc_tools.protoc")
        out = tempfile.mkdtemp(prefix="dind-cri-")
        code = protoc.main(["protoc", f"-I{PROTO_DIR}", f"--python_out={out}",
                            f"--grpc_python_out={out}", str(PROTO_DIR / PROTO)])
        assert code == 0, f"grpcio-tools could not compile test/cri/{PROTO}"
        sys.path.insert(0, out)
        name = PROTO.removesuffix(".proto")
        _api = (importlib.import_module(f"{name}_pb2"), importlib.import_module(f"{name}_pb2_grpc"))
    return _api


class CRI:
    """The CRI services of one node container's containerd."""

    def __init__(self, container) -> None:
        import grpc

        container.reload()
        self.node = container
        path = f"/proc/{container.attrs['State']['Pid']}/root/{SOCKET}"
        if not os.access(path, os.R_OK | os.W_OK):
            pytest.skip(f"the node's containerd socket is not reachable from here ({path})")
        self.pb, services = api()
        self.channel = grpc.insecure_channel(f"unix://{path}")
        self.runtime = services.RuntimeServiceStub(self.channel)
        self.images = services.ImageServiceStub(self.channel)

    def version(self):
        return self.runtime.Version(self.pb.VersionRequest(), timeout=10)

    def runtime_config(self) -> dict:
        """The CRI runtime configuration containerd runs with (Status, verbose)."""
        status = self.runtime.Status(self.pb.StatusRequest(verbose=True), timeout=10)
        return json.loads(status.info["config"])

    def image_fs_mountpoints(self) -> list:
        """Where the CRI keeps unpacked images: the directory of the snapshotter it uses."""
        info = self.images.ImageFsInfo(self.pb.ImageFsInfoRequest(), timeout=10)
        return [fs.fs_id.mountpoint for fs in info.image_filesystems]

    def pinned(self, ref: str) -> bool:
        found = self.images.ImageStatus(
            self.pb.ImageStatusRequest(image=self.pb.ImageSpec(image=ref)), timeout=10)
        assert found.image.id, f"the CRI doesn't know the image {ref}"
        return found.image.pinned

    def pull_image(self, ref: str, timeout: float = 120) -> tuple:
        """The kubelet's own call, ImageService/PullImage, after removing the image so it is fetched
        again: containerd resolves through its config_path and pulls with its own (proxy) environment.
        Returns (0, the image_ref containerd pulled) or (1, "<gRPC code>: <containerd's error>")."""
        import grpc

        self.node.exec_run(["ctr", "-n", "k8s.io", "images", "rm", ref])
        request = self.pb.PullImageRequest(image=self.pb.ImageSpec(image=ref))
        try:
            return 0, self.images.PullImage(request, timeout=timeout).image_ref
        except grpc.RpcError as exc:
            return 1, f"{exc.code()}: {exc.details()}"

    def run_host_network_sandbox(self, name: str, cgroup_parent: str) -> str:
        """A pod sandbox (its pause container) in the node's network: no CNI needed."""
        pb = self.pb
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=name, namespace="dind-test"),
            log_directory=f"/var/log/pods/{name}",  # no hostname: the node's UTS namespace
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(network=pb.NODE))))
        return self.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config),
                                          timeout=60).pod_sandbox_id

    def remove_sandbox(self, sandbox_id: str) -> None:
        self.runtime.StopPodSandbox(self.pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id),
                                    timeout=30)
        self.runtime.RemovePodSandbox(self.pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id),
                                      timeout=30)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "CRI":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
