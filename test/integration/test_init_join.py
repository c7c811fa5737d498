"""`init` turns kubeadm arguments into config fields or kubeadm's --config-compatible flags, and refuses
the rest before creating anything; DIND_KUBEADM_PATCHES reaches every node; `join` adds one more node to a running cluster, routes and all;
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


def test_init_passes_kubeadm_args_and_join_adds_a_routed_node(engine, env, tmp_path):
    suffix = f"-cluster-{env['CLUSTER_ID']}"
    patches = tmp_path / "patches"
    patches.mkdir()
    (patches / "kubeletconfiguration+merge.yaml").write_text("maxPods: 50\n")
    env = {**env, "DIND_KUBEADM_PATCHES": str(patches)}
    cli(env, "init", "--skip-token-print", "--v=5", "--apiserver-cert-extra-sans=kube.example", "--token-ttl", "2h")
    master = engine.containers.get(f"kube-master{suffix}")
    init_line = [line for line in calls(master).splitlines() if " init " in f" {line} "][-1]
    assert "--skip-token-print" in init_line and "--v=5" in init_line and "kube.example" not in init_line
    _, config = exec_in(master, ["cat", "/etc/kubeadm/kubeadm.yaml"])
    assert '- "kube.example"' in config and 'ttl: "2h"' in config and "/etc/kubeadm/patches" in config
    assert [c.name for c in owned(engine, f"cluster-{env['CLUSTER_ID']}")[0]] == [f"kube-master{suffix}"]

    for expected in ("kube-node-1", "kube-node-2"):
        assert cli(env, "join").stdout.strip() == f"{expected}{suffix}"
    listed = kubectl(env, f"dind-cluster-{env['CLUSTER_ID']}", "get", "nodes", "-o", "name")
    assert sorted(listed.stdout.split()) == [f"node/kube-master{suffix}", f"node/kube-node-1{suffix}",
                                             f"node/kube-node-2{suffix}"]
    nodes = [engine.containers.get(n) for n in (f"kube-master{suffix}", f"kube-node-1{suffix}",
                                                f"kube-node-2{suffix}")]
    for node in nodes:
        assert exec_in(node, ["cat", "/etc/kubeadm/patches/kubeletconfiguration+merge.yaml"])[1] == "maxPods: 50\n"
    ping_between_test_pods(nodes)  # the joined nodes got CNI config and every node the new routes


def test_init_refuses_a_flag_kubeadm_would_refuse_beside_config_and_creates_nothing(engine, env):
    result = cli(env, "init", "--pod-network-cidr=10.1.0.0/16", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "ERROR: kubeadm init --pod-network-cidr: can't be passed to kubeadm beside the config dind-cluster "
        "writes; set POD_NETWORK_CIDR"]
    assert owned(engine, f"cluster-{env['CLUSTER_ID']}") == ([], [], [])


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
    result = cli(env, "init", "--token=not-a-token", check=False)  # kubeadm refuses the bootstrap token
    assert result.returncode == 1
    assert "kubeadm init" in result.stderr and "exited with" in result.stderr
    assert owned(engine, f"cluster-{env['CLUSTER_ID']}") == ([], [], [])
