"""`init` passes kubeadm arguments through; `join` adds one more node to a running cluster, routes and all;
a lone master takes pods; DIND_PORT_FORWARDER is called with the port; a failed step shows its output and
leaves nothing behind."""
from __future__ import annotations


import pytest

from clusters import (cli, cluster_env, free_cluster_id, kubectl, owned, ping_between_test_pods, remove_cluster,
                      split_dump64_both_ways)
from dind_cluster.backend.containers import exec_in

pytestmark = pytest.mark.docker


@pytest.fixture
def env(engine, tmp_path):
    env = cluster_env(tmp_path, CLUSTER_ID=free_cluster_id(engine, 120, 139))
    del env["NUM_NODES"]  # init makes the master alone whatever NUM_NODES says; join adds the rest
    yield env
    remove_cluster(engine, f"cluster-{env['CLUSTER_ID']}")


def calls(container) -> str:
    return exec_in(container, ["cat", "/var/log/standin/calls.log"])[1]


def test_init_passes_kubeadm_args_and_join_adds_a_routed_node(engine, env):
    suffix = f"-cluster-{env['CLUSTER_ID']}"
    cli(env, "init", "--skip-token-print", "--v=5")
    master = engine.containers.get(f"kube-master{suffix}")
    init_line = [line for line in calls(master).splitlines() if " init " in f" {line} "][-1]
    assert "--skip-token-print" in init_line and "--v=5" in init_line
    assert [c.name for c in owned(engine, f"cluster-{env['CLUSTER_ID']}")[0]] == [f"kube-master{suffix}"]

    for expected in ("kube-node-1", "kube-node-2"):
        assert cli(env, "join").stdout.strip() == f"{expected}{suffix}"
    listed = kubectl(env, f"dind-cluster-{env['CLUSTER_ID']}", "get", "nodes", "-o", "name")
    assert sorted(listed.stdout.split()) == [f"node/kube-master{suffix}", f"node/kube-node-1{suffix}",
                                             f"node/kube-node-2{suffix}"]
    nodes = [engine.containers.get(n) for n in (f"kube-master{suffix}", f"kube-node-1{suffix}",
                                                f"kube-node-2{suffix}")]
    ping_between_test_pods(nodes)  # the joined nodes got CNI config and every node the new routes


def test_lone_master_is_untainted_and_port_forwarder_gets_the_port(engine, env, tmp_path):
    record = tmp_path / "forwarded"
    forwarder = tmp_path / "forwarder.sh"
    forwarder.write_text(f"#!/bin/sh\necho \"$1\" > {record}\n")
    forwarder.chmod(0o755)
    cli({**env, "NUM_NODES": "0", "DIND_PORT_FORWARDER": str(forwarder)}, "up")
    port = cli(env, "apiserver-port").stdout.strip()
    assert record.read_text().strip() == port
    master = engine.containers.get(f"kube-master-cluster-{env['CLUSTER_ID']}")
    _, registered = exec_in(master, ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "get", "nodes",
                                     "-o", "json"])
    assert "NoSchedule" not in registered
    assert (tmp_path / "kubectl" / f"dind-cluster-{env['CLUSTER_ID']}.kubeconfig").exists()
    files = split_dump64_both_ways(env, tmp_path)  # a 1-node cluster's dump, both ways
    assert f"psaux-kube-master-cluster-{env['CLUSTER_ID']}.txt" in files and "nodes.txt" in files


def test_failed_kubeadm_step_shows_its_output_and_removes_what_it_created(engine, env):
    result = cli(env, "init", "--config=/nonexistent.yaml", check=False)
    assert result.returncode == 1
    assert "kubeadm init" in result.stderr and "exited with" in result.stderr
    assert owned(engine, f"cluster-{env['CLUSTER_ID']}") == ([], [], [])
