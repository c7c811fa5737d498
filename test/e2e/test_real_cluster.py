"""End-to-end with REAL Kubernetes binaries: `pytest -m e2e` with DIND_K8S_BIN_DIR holding kubeadm, kubelet,
kubectl (and DIND_K8S_IMAGES_DIR the control-plane image archives when offline).

Without real binaries every test here is skipped with "no real Kubernetes binaries" — never a pass.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
BINARIES = ("kubeadm", "kubelet", "kubectl")
BUSYBOX = os.environ.get("E2E_BUSYBOX_IMAGE", "registry.k8s.io/e2e-test-images/busybox:1.36.1-1")


def real_bin_dir():
    bin_dir = os.environ.get("DIND_K8S_BIN_DIR")
    if not bin_dir or not all((Path(bin_dir) / b).is_file() for b in BINARIES):
        return None
    head = (Path(bin_dir) / "kubeadm").read_bytes()[:200]
    if b"STAND-IN" in head.upper() or head.startswith(b"#!"):
        return None  # the test stand-in (or any script) is not Kubernetes
    return Path(bin_dir)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if real_bin_dir() is None:
        pytest.skip("skipped: no real Kubernetes binaries (set DIND_K8S_BIN_DIR to kubeadm, kubelet, kubectl)")
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / "kubeconfig"),
           "CLUSTER_ID": os.environ.get("E2E_CLUSTER_ID", "77"), "NUM_NODES": "2", "SKIP_SNAPSHOT": "y"}
    cli = [sys.executable, "-m", "dind_cluster"]
    subprocess.run(cli + ["up"], env=env, check=True)
    try:
        yield env
    finally:
        subprocess.run(cli + ["clean"], env=env, check=False)


def kubectl(env, *args, check=True):
    kubectl_bin = shutil.which("kubectl") or str(real_bin_dir() / "kubectl")
    return subprocess.run([kubectl_bin, "--context", "dind-cluster-77", *args], env=env, check=check,
                          capture_output=True, text=True).stdout


def test_every_node_is_ready(cluster):
    nodes = json.loads(kubectl(cluster, "get", "nodes", "-o", "json"))["items"]
    assert len(nodes) == 3
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", node["metadata"]["name"]


def test_pods_on_different_workers_reach_each_other_and_cluster_dns(cluster):
    names = []
    for k in (1, 2):
        name = f"e2e-{k}-{uuid.uuid4().hex[:6]}"
        overrides = json.dumps({"spec": {"nodeName": f"kube-node-{k}-cluster-77"}})
        kubectl(cluster, "run", name, f"--image={BUSYBOX}", f"--overrides={overrides}", "--", "sleep", "3600")
        names.append(name)
    kubectl(cluster, "wait", "--for=condition=Ready", "--timeout=180s", *[f"pod/{n}" for n in names])
    target_ip = kubectl(cluster, "get", "pod", names[1], "-o", "jsonpath={.status.podIP}")
    kubectl(cluster, "exec", names[0], "--", "ping", "-c", "3", target_ip)
    deadline = time.time() + 60
    while True:
        out = kubectl(cluster, "exec", names[0], "--", "nslookup", "kubernetes.default.svc.cluster.local",
                      check=False)
        if "Address" in out or time.time() > deadline:
            break
        time.sleep(3)
    assert "Address" in out, out
