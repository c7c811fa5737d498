"""Growing and shrinking a running cluster: `join` adds a worker that `down`/`up` bring back;
`remove-node` drains, deletes and resets a node, removes its container, volume and snapshot, and the
pods of the nodes left still reach each other; it refuses strangers and the only master."""
from __future__ import annotations

import time

import pytest

import clusters
from clusters import cli, kubectl as kubectl_in, owned, ping_between_test_pods
from dind_cluster.backend.containers import exec_in

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster(engine, tmp_path_factory):
    with clusters.running_cluster(engine, tmp_path_factory.mktemp("home"), 231, 238, NUM_NODES="1") as env:
        yield env


def archives_put(engine, since, names):
    """The nodes among `names` that got a put_archive (dockerd re-executes itself for each)."""
    events = engine.events(since=since, until=int(time.time()) + 1, decode=True, filters={"type": "container"})
    return {e["Actor"]["Attributes"].get("name") for e in events if e["Action"] == "extract-to-dir"} & set(names)


def node_list(env):
    result = kubectl_in(env, f"dind-cluster-{env['CLUSTER_ID']}", "get", "nodes", "-o", "name")
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def test_a_joined_worker_comes_back_after_down_and_up(engine, cluster):
    sfx = cluster["_SFX"]
    since = int(time.time()) - 1
    assert cli(cluster, "join").stdout.strip() == f"kube-node-2{sfx}"
    # the others' routes to it (and their routes files) go in with the exec that adds the routes
    master = engine.containers.get(f"kube-master{sfx}")
    assert "10.244.3.0/24" in exec_in(master, ["ip", "route"])[1]
    assert "-4 10.244.3.0/24 " in exec_in(master, ["cat", "/etc/dind/routes"])[1]
    assert not archives_put(engine, since, [f"kube-master{sfx}", f"kube-node-1{sfx}"])
    cli(cluster, "down")
    result = cli(cluster, "up")
    assert "Restoring" in result.stderr
    assert node_list(cluster) == [f"node/kube-master{sfx}", f"node/kube-node-1{sfx}", f"node/kube-node-2{sfx}"]
    assert engine.containers.get(f"kube-node-2{sfx}").status == "running"


def test_remove_node_leaves_nothing_of_it_and_the_rest_still_route(engine, cluster):
    sfx = cluster["_SFX"]
    removed = f"kube-node-1{sfx}"
    since = int(time.time()) - 1
    assert cli(cluster, "remove-node", removed).stdout.split() == [removed]
    assert not archives_put(engine, since, [f"kube-master{sfx}", f"kube-node-2{sfx}"])
    master = engine.containers.get(f"kube-master{sfx}")
    _, calls = exec_in(master, ["cat", "/var/log/standin/calls.log"])
    assert f"drain --ignore-daemonsets --delete-emptydir-data --timeout=120s {removed}" in calls
    assert node_list(cluster) == [f"node/kube-master{sfx}", f"node/kube-node-2{sfx}"]
    containers, volumes, _ = owned(engine, cluster["_KEY"])
    assert removed not in {c.name for c in containers}
    assert f"kubeadm-dind-{removed}" not in {v.name for v in volumes}
    assert not engine.images.list(name=f"dind-cluster-snapshot:{removed}")
    _, routes = exec_in(master, ["ip", "route"])
    assert "10.244.2.0/24" not in routes and "10.244.3.0/24" in routes   # node-1's pods gone, node-2's kept
    ping_between_test_pods([master, engine.containers.get(f"kube-node-2{sfx}")])


def test_the_shrunk_cluster_stays_shrunk_after_down_and_up_and_join_reuses_the_name(engine, cluster):
    sfx = cluster["_SFX"]
    cli(cluster, "down")
    cli(cluster, "up")
    assert node_list(cluster) == [f"node/kube-master{sfx}", f"node/kube-node-2{sfx}"]
    # restored nodes put back their routes at boot from /etc/dind/routes: the removed node's are gone
    _, routes = exec_in(engine.containers.get(f"kube-master{sfx}"), ["ip", "route"])
    assert "10.244.2.0/24" not in routes and "10.244.3.0/24" in routes
    assert cli(cluster, "join").stdout.strip() == f"kube-node-1{sfx}"


@pytest.mark.parametrize("name, message", [
    ("kube-node-9", "is not a node of cluster"),
    ("kube-master", "would have no master left"),
])
def test_remove_node_refuses_strangers_and_the_only_master(engine, cluster, name, message):
    before = sorted(c.name for c in owned(engine, cluster["_KEY"])[0])
    result = cli(cluster, "remove-node", name + cluster["_SFX"], check=False)
    assert result.returncode == 1 and message in result.stderr
    assert result.stderr.startswith("ERROR: ")
    assert sorted(c.name for c in owned(engine, cluster["_KEY"])[0]) == before


def test_remove_node_force_removes_a_node_that_no_longer_answers(engine, cluster):
    sfx = cluster["_SFX"]
    dead = engine.containers.get(f"kube-node-1{sfx}")
    dead.stop(timeout=5)
    refused = cli(cluster, "remove-node", dead.name, check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    cli(cluster, "remove-node", "--force", dead.name)
    assert dead.name not in {c.name for c in owned(engine, cluster["_KEY"])[0]}
    assert node_list(cluster) == [f"node/kube-master{sfx}", f"node/kube-node-2{sfx}"]
