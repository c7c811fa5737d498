"""Per-node CPU and memory limits on the real engine: the node container's cgroup carries them, and the
kubelet's patch (applied by kubeadm) reserves the host's capacity beyond them; a value the host can't
give is refused before anything exists."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import clusters
from clusters import cli, free_cluster_id, owned
from dind_cluster.backend.containers import exec_in

pytestmark = pytest.mark.docker
GIB = 1024 ** 3


@pytest.fixture(scope="module")
def limited(engine, tmp_path_factory):
    with clusters.running_cluster(engine, tmp_path_factory.mktemp("home"), 239, 245, NUM_NODES="1",
                                  DIND_NODE_CPUS="1", DIND_NODE_MEMORY="1g", DIND_WORKER_MEMORY="768m") as env:
        yield env


def cgroup_file(container, controller: str, v1_name: str, v2_name: str) -> str:
    """A file of the container's own cgroup as the host sees it (cgroup v1 or v2): the cgroup of its
    init process, up to the directory named after the container (systemd in the node makes children)."""
    for line in Path(f"/proc/{container.attrs['State']['Pid']}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        v1 = controller in controllers.split(",")
        if not v1 and controllers != "":
            continue
        parts = path.strip("/").split("/")
        mine = next((i for i, part in enumerate(parts) if container.id in part), None)
        if mine is not None:
            base = Path("/sys/fs/cgroup", *([controller] if v1 else []), *parts[:mine + 1])
            return (base / (v1_name if v1 else v2_name)).read_text().strip()
    pytest.fail(f"no {controller} cgroup named after {container.name}")


@pytest.mark.parametrize("node, memory", [("kube-master", GIB), ("kube-node-1", 768 * 2**20)])
def test_the_node_cgroup_has_the_limits(engine, limited, node, memory):
    container = engine.containers.get(f"{node}-cluster-{limited['CLUSTER_ID']}")
    assert container.attrs["HostConfig"]["NanoCpus"] == 10**9
    assert container.attrs["HostConfig"]["Memory"] == memory
    assert int(cgroup_file(container, "memory", "memory.limit_in_bytes", "memory.max")) == memory
    quota = cgroup_file(container, "cpu", "cpu.cfs_quota_us", "cpu.max").split()[0]
    period = cgroup_file(container, "cpu", "cpu.cfs_period_us", "cpu.max").split()[-1]
    assert int(quota) == int(period)                    # one CPU


@pytest.mark.parametrize("node, memory", [("kube-master", GIB), ("kube-node-1", 768 * 2**20)])
def test_kubeadm_gets_a_kubelet_patch_reserving_the_rest_of_the_host(engine, limited, node, memory):
    info = engine.info()
    container = engine.containers.get(f"{node}-cluster-{limited['CLUSTER_ID']}")
    config = "/etc/kubeadm/kubeadm.yaml" if node == "kube-master" else "/etc/kubeadm/join.yaml"
    _, text = exec_in(container, ["cat", config])
    assert 'directory: "/etc/kubeadm/patches"' in text
    _, patch = exec_in(container, ["cat", "/etc/kubeadm/patches/kubeletconfiguration+merge.yaml"])
    reserved = yaml.safe_load(patch)["systemReserved"]
    assert reserved["cpu"] == f"{(info['NCPU'] - 1) * 1000}m"
    assert int(reserved["memory"].removesuffix("Ki")) * 1024 == info["MemTotal"] - memory


def test_more_cpus_than_the_host_has_fail_before_anything_is_created(engine, limited):
    env = {**limited, "CLUSTER_ID": free_cluster_id(engine, 239, 245), "DIND_MASTER_CPUS": "4096"}
    result = cli(env, "up", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("ERROR: DIND_MASTER_CPUS: 4096 CPUs is more than")
    assert owned(engine, f"cluster-{env['CLUSTER_ID']}") == ([], [], [])


def test_a_restore_keeps_the_limits_the_nodes_were_made_with_and_says_so(engine, limited):
    # The kubelet's reservation in each node's /var was computed for the old limits: new Docker
    # limits under it would make allocatable wrong. As minikube, keep them and tell how to change.
    cli(limited, "down")
    changed = {**limited, "DIND_NODE_MEMORY": "2g", "DIND_WORKER_MEMORY": "", "DIND_NODE_CPUS": ""}
    result = cli(changed, "up")
    assert "Restoring" in result.stderr
    for node, memory in (("kube-master", GIB), ("kube-node-1", 768 * 2**20)):
        container = engine.containers.get(f"{node}-cluster-{limited['CLUSTER_ID']}")
        assert container.attrs["HostConfig"]["Memory"] == memory
        assert container.attrs["HostConfig"]["NanoCpus"] == 10**9
    warning = [line for line in result.stderr.splitlines() if line.startswith("WARNING:")]
    assert len(warning) == 1, result.stderr
    assert f"kube-node-1-cluster-{limited['CLUSTER_ID']}" in warning[0] and "768 MiB" in warning[0]
    assert "clean" in warning[0]
