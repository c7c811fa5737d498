"""Readiness rules of `up`: which nodes and kube-system pods still hold the cluster back."""
import pytest
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


@pytest.fixture
def _master_answering(monkeypatch):
    """A node container (autospec of the SDK's Container) whose execs answer kubectl."""
    from unittest.mock import create_autospec

    from docker.models.containers import Container

    from dind_cluster.backend import containers

    def answering(outputs: dict):
        master = create_autospec(Container, instance=True)
        master.name = "kube-master"

        def run_exec(container, argv, env=None, stdin=None):
            code, out = outputs[argv[3]]
            return code, [(containers.STDOUT, out)]
        monkeypatch.setattr(containers, "run_exec", run_exec)
        return master
    return answering


def test_kubectl_warnings_before_the_json_do_not_break_the_wait(_master_answering):
    """exec merges stderr: a kubectl warning line ahead of the JSON is skipped, not a traceback."""
    import json

    from dind_cluster.actions.kube import _not_ready

    warn = b"Warning: v1 ComponentStatus is deprecated\n"
    master = _master_answering({
        "nodes": (0, warn + json.dumps({"items": [node("kube-master", "True")]}).encode()),
        "pods": (0, warn + b'{"items": []}')})
    assert _not_ready(master, ["kube-master"]) == []


def test_kubectl_output_that_is_not_json_is_a_problem_line(_master_answering):
    from dind_cluster.actions.kube import _not_ready

    master = _master_answering({"nodes": (0, b"garbage"), "pods": (0, b'{"items": []}')})
    assert _not_ready(master, ["kube-master"]) == ["the apiserver doesn't answer: garbage"]


def test_a_node_is_booted_once_systemd_has_finished_and_containerd_answers():
    from dind_cluster.backend.containers import parse_boot_report

    booted = parse_boot_report("systemd=degraded\ncontainerd=up\nbr_netfilter=yes\n"
                               "unit:dind-node-setup.service=failed\nunit:dind-pod-dns.service=active\n")
    assert booted.state == "ready" and booted.br_netfilter
    assert booted.units == {"dind-node-setup.service": "failed", "dind-pod-dns.service": "active"}
    assert parse_boot_report("systemd=starting\ncontainerd=up\n").state == "systemd starting"
    assert parse_boot_report("systemd=running\ncontainerd=down\n").state == "containerd not answering"
    # a node that answers nothing the report knows (e.g. no shell yet) is not booted
    assert parse_boot_report("OCI runtime exec failed").state == "systemd not answering"
