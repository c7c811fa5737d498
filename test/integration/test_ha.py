"""An HA control plane: 3 masters and a worker behind the haproxy balancer, on the real engine with the
stand-in Kubernetes binaries. The host's kubectl goes through the balancer; it keeps answering when the
first master's container stops; `down` and `up` bring every master and the balancer back."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import clusters
from clusters import cli, free_cluster_id, kubectl as kubectl_in, remove_cluster
from dind_cluster.backend.containers import exec_in

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def ha(engine, tmp_path_factory):
    with clusters.running_cluster(engine, tmp_path_factory.mktemp("home"), 140, 149,
                                  NUM_MASTERS="3", NUM_NODES="1") as env:
        yield env


def names(env):
    sfx = f"-cluster-{env['CLUSTER_ID']}"
    return [f"kube-master{sfx}", f"kube-master-2{sfx}", f"kube-master-3{sfx}", f"kube-node-1{sfx}"]


def listed(env, timeout=0.0):
    """Node names the host's kubectl lists through the kubeconfig; retried up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = kubectl_in(env, f"dind-cluster-{env['CLUSTER_ID']}", "get", "nodes", "-o", "json")
        if result.returncode == 0 or time.monotonic() > deadline:
            assert result.returncode == 0, result.stderr
            return sorted(item["metadata"]["name"] for item in json.loads(result.stdout)["items"])
        time.sleep(0.5)


def test_kubectl_through_the_balancer_lists_all_four(engine, ha):
    assert listed(ha) == sorted(names(ha))
    lb = engine.containers.get(f"kube-lb-cluster-{ha['CLUSTER_ID']}")
    port = lb.attrs["NetworkSettings"]["Ports"]["6443/tcp"][0]["HostPort"]
    assert f"https://127.0.0.1:{port}" in Path(ha["KUBECONFIG"]).read_text()
    assert cli(ha, "apiserver-port").stdout.strip() == port
    master = engine.containers.get(names(ha)[0])
    assert not master.attrs["NetworkSettings"]["Ports"]      # only the balancer publishes the apiserver
    _, init = exec_in(master, ["cat", "/var/log/standin/calls.log"])
    assert "--upload-certs" in init
    for other in names(ha)[1:3]:                              # control-plane joins with the certificate key
        _, join = exec_in(engine.containers.get(other), ["cat", "/etc/kubeadm/join.yaml"])
        assert "controlPlane:" in join and "certificateKey:" in join


def test_get_kubeconfig_and_list_name_the_balancers_published_port(engine, ha):
    """In an HA control plane only the balancer publishes the apiserver: what `up` merged into the
    kubeconfig, `get kubeconfig` and `list` must say the same."""
    lb = engine.containers.get(f"kube-lb-cluster-{ha['CLUSTER_ID']}")
    server = f"https://127.0.0.1:{lb.attrs['NetworkSettings']['Ports']['6443/tcp'][0]['HostPort']}"
    assert f"server: {server}" in cli(ha, "get", "kubeconfig").stdout
    listing = json.loads(cli(ha, "list", "--json").stdout)
    assert [c["apiserver"] for c in listing if c["context"] == f"dind-cluster-{ha['CLUSTER_ID']}"] == [server]


def test_every_master_serves_the_whole_node_list(engine, ha):
    for master in names(ha)[:3]:
        _, out = exec_in(engine.containers.get(master), ["kubectl", "get", "nodes", "-o", "name"])
        assert sorted(out.split()) == sorted(f"node/{n}" for n in names(ha))


def test_dump_and_export_logs_cover_every_master_and_the_balancer(ha, tmp_path):
    files = clusters.split_dump64_both_ways(ha, tmp_path)
    for node in names(ha):
        assert f"psaux-{node}.txt" in files
    lb_section = files[f"haproxy-kube-lb-cluster-{ha['CLUSTER_ID']}.txt"]
    assert all(f"server {m} ".encode() in lb_section for m in names(ha)[:3])
    cli(ha, "export-logs", str(tmp_path / "logs"))
    assert (tmp_path / "logs" / f"kube-lb-cluster-{ha['CLUSTER_ID']}" / "inspect.json").is_file()


def test_losing_the_first_master_keeps_the_api_and_down_up_brings_all_back(engine, ha):
    engine.containers.get(names(ha)[0]).stop(timeout=5)
    assert listed(ha, timeout=20) == sorted(names(ha))        # master-2 or -3 answers through the balancer
    cli(ha, "down")
    assert [c.name for c in engine.containers.list(all=True, filters={"label": f"dind-cluster.io/cluster={ha['_KEY']}"})
            if c.labels.get("dind-cluster.io/role") in ("master", "worker", "load-balancer")] == []
    result = cli(ha, "up")
    assert "Restoring" in result.stderr and "kubeadm init" not in result.stderr
    assert {engine.containers.get(n).status for n in names(ha)} == {"running"}
    assert engine.containers.get(f"kube-lb-cluster-{ha['CLUSTER_ID']}").status == "running"
    assert listed(ha, timeout=20) == sorted(names(ha))


def test_removing_an_extra_master_takes_it_out_of_the_balancer(engine, ha):
    third = names(ha)[2]
    cli(ha, "remove-node", third)
    assert listed(ha) == sorted(n for n in names(ha) if n != third)
    _, config = exec_in(engine.containers.get(f"kube-lb-cluster-{ha['CLUSTER_ID']}"),
                        ["cat", "/usr/local/etc/haproxy/haproxy.cfg"])
    assert f"server {names(ha)[1]} " in config and f"server {third} " not in config
    _, peers = exec_in(engine.containers.get(names(ha)[0]), ["cat", "/var/lib/standin/peers"])
    assert len(peers.split()) == 2                       # kubeadm reset took it out of the control plane


@pytest.mark.parametrize("mode", ["dual-stack", "ipv6"])
def test_ha_in_ipv6_and_dual_stack_survives_the_first_master(engine, tmp_path, mode):
    from test_ipv6_clusters import with_local_dns   # IPv6 mode: a DNS64 upstream inside the cluster's own NAT64 /16

    env = clusters.cluster_env(tmp_path, CLUSTER_ID=free_cluster_id(engine, 140, 149), IP_MODE=mode,
                               NUM_MASTERS="2", NUM_NODES="0")
    if mode == "ipv6":   # the NAT64 /16 takes the cluster ID on its second octet: 172.(18+id) leaves 172.16/12
        env = with_local_dns({**env, "NAT64_V4_SUBNET_PREFIX": "10.0"})
    try:
        cli(env, "up")
        sfx = f"-cluster-{env['CLUSTER_ID']}"
        assert "https://[::1]:" in Path(env["KUBECONFIG"]).read_text()   # the service family is IPv6
        assert listed(env) == [f"kube-master-2{sfx}", f"kube-master{sfx}"]
        engine.containers.get(f"kube-master{sfx}").stop(timeout=5)
        assert listed(env, timeout=20) == [f"kube-master-2{sfx}", f"kube-master{sfx}"]
    finally:
        remove_cluster(engine, f"cluster-{env['CLUSTER_ID']}")
