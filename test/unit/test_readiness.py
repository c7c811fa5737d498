"""Readiness rules of `up`: which nodes and kube-system pods still hold the cluster back."""
from dind_cluster.actions.kube import nodes_not_ready, pods_not_ready


def node(name, status, message=""):
    return {"metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": status, "message": message}]}}


def pod(name, phase, ready=True, reason=None):
    state = {"waiting": {"reason": reason}} if reason else {"running": {}}
    return {"metadata": {"name": name},
            "status": {"phase": phase, "containerStatuses": [{"ready": ready, "state": state}]}}


def test_every_expected_node_must_be_registered_and_ready():
    listed = {"items": [node("kube-master", "True"), node("kube-node-1", "False", "CNI not ready")]}
    problems = nodes_not_ready(listed, ["kube-master", "kube-node-1", "kube-node-2"])
    assert problems == ["node kube-node-1 is not Ready: CNI not ready", "node kube-node-2 has not registered"]
    assert nodes_not_ready({"items": [node("kube-master", "True")]}, ["kube-master"]) == []


def test_pods_must_run_with_every_container_ready_or_have_succeeded():
    listed = {"items": [pod("coredns-1", "Running"), pod("job-1", "Succeeded", ready=False),
                        pod("kube-proxy-x", "Pending", ready=False, reason="ContainerCreating"),
                        pod("etcd", "Running", ready=False)]}
    assert pods_not_ready(listed) == ["pod kube-system/kube-proxy-x is Pending (ContainerCreating)",
                                      "pod kube-system/etcd is Running but not ready"]
    assert pods_not_ready({"items": []}) == []
