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


# --- what a real kubelet, kubeadm, CoreDNS and kube-proxy need from a node (docs/real-kubernetes.md) ---

MASTER = "kube-master-cluster-77"


def run_pod(env, name, node, *command):
    overrides = json.dumps({"spec": {"nodeName": node}})
    kubectl(env, "run", name, f"--image={BUSYBOX}", f"--overrides={overrides}", "--labels", f"app={name}",
            "--", *(command or ("sleep", "3600")))
    kubectl(env, "wait", "--for=condition=Ready", "--timeout=180s", f"pod/{name}")


def eventually(env, *args, want: str, timeout: float = 60) -> str:
    deadline = time.time() + timeout
    while True:
        out = kubectl(env, *args, check=False)
        if want in out or time.time() > deadline:
            return out
        time.sleep(3)


def test_coredns_is_ready_and_resolves_the_cluster_and_a_node_name_from_a_pod(cluster):
    kubectl(cluster, "wait", "-n", "kube-system", "--for=condition=Ready", "--timeout=180s", "pod", "-l", "k8s-app=kube-dns")
    name = f"e2e-dns-{uuid.uuid4().hex[:6]}"
    run_pod(cluster, name, "kube-node-1-cluster-77")
    out = eventually(cluster, "exec", name, "--", "nslookup", "kubernetes.default", want="Address")
    assert "10.96.0.1" in out, out
    out = eventually(cluster, "exec", name, "--", "nslookup", MASTER, want="10.192.")
    assert "10.192." in out, out       # Docker's DNS answer, through our resolver and CoreDNS


@pytest.mark.parametrize("client_node", ["kube-node-1-cluster-77", "kube-node-2-cluster-77"])
def test_a_service_answers_from_its_endpoints_node_and_from_another(cluster, client_node):
    server = "e2e-web"
    if "e2e-web" not in kubectl(cluster, "get", "svc", check=False):
        run_pod(cluster, server, "kube-node-1-cluster-77", "httpd", "-f", "-p", "8080", "-h", "/etc")
        kubectl(cluster, "expose", "pod", server, "--port=80", "--target-port=8080")
    client = f"e2e-client-{uuid.uuid4().hex[:6]}"
    run_pod(cluster, client, client_node)
    out = eventually(cluster, "exec", client, "--", "wget", "-q", "-T", "5", "-O", "-", f"http://{server}/hostname",
                     want="e2e-web")
    assert "e2e-web" in out, f"from {client_node}: {out}"


def test_every_pod_still_runs_after_five_minutes(cluster):
    """The kubelet kills pods whose cgroups it can't find (cgroup v1 without a private cgroupns)."""
    time.sleep(float(os.environ.get("E2E_SETTLE_SECONDS", "300")))
    pods = json.loads(kubectl(cluster, "get", "pods", "-A", "-o", "json"))["items"]
    restarted = [(p["metadata"]["name"], c["restartCount"]) for p in pods
                 for c in p["status"].get("containerStatuses", []) if c["restartCount"]]
    not_running = [p["metadata"]["name"] for p in pods if p["status"].get("phase") != "Running"]
    assert not restarted and not not_running, (restarted, not_running)


def test_nodes_come_back_after_docker_restart_of_a_node(cluster):
    subprocess.run(["docker", "restart", "kube-node-2-cluster-77"], check=True, capture_output=True)
    out = eventually(cluster, "get", "node", "kube-node-2-cluster-77", "-o",
                     "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}", want="True", timeout=180)
    assert out == "True"
    test_coredns_is_ready_and_resolves_the_cluster_and_a_node_name_from_a_pod(cluster)
