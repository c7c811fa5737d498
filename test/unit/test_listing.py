"""`list`, `get kubeconfig` and `clean --images` decide from facts read off the engine: tables here."""
from __future__ import annotations

import pytest

from dind_cluster.actions import kubeconfigs, listing
from dind_cluster.actions.prune import human, prunable
from dind_cluster.backend.inventory import ClusterFacts, NodeFacts
from dind_cluster.backend.ourimages import ImageFacts

MASTER = NodeFacts("kube-master-cluster-10", "master", "running", ("10.192.10.2", "fd00::2"), ("127.0.0.1", 32768))
WORKER = NodeFacts("kube-node-1-cluster-10", "worker", "running", ("10.192.10.3",))


def cluster(*nodes, mode="ipv4", key="cluster-10"):
    return ClusterFacts(key, mode, tuple(nodes), volumes=len(nodes), networks=1)


@pytest.mark.parametrize("statuses, want", [
    (("running", "running"), "running"), (("paused", "paused"), "paused"), (("running", "paused"), "paused"),
    (("exited", "running"), "stopped"), (("exited", "exited"), "stopped"), ((), "down")])
def test_a_clusters_state_comes_from_its_node_containers(statuses, want):
    nodes = [NodeFacts(f"n{i}", "worker", s, ()) for i, s in enumerate(statuses)]
    assert listing.state(cluster(*nodes)) == want


def test_json_names_the_context_state_mode_nodes_and_apiserver():
    doc = listing.as_json(cluster(MASTER, WORKER))
    assert doc == {"context": "dind-cluster-10", "cluster_key": "cluster-10", "state": "running", "ip_mode": "ipv4",
                   "apiserver": "https://127.0.0.1:32768",
                   "nodes": [{"name": MASTER.name, "role": "master", "state": "running", "ips": list(MASTER.ips)},
                             {"name": WORKER.name, "role": "worker", "state": "running", "ips": ["10.192.10.3"]}]}
    assert listing.as_json(cluster(key="default"))["context"] == "dind"


def test_table_has_one_aligned_line_per_cluster():
    down = ClusterFacts("foo", None, (), volumes=2, networks=1)
    lines = listing.table([cluster(MASTER, WORKER), down]).splitlines()
    assert lines[0].split() == list(listing.COLUMNS)
    assert lines[1].split() == ["dind-cluster-10", "running", "ipv4", "2", "https://127.0.0.1:32768"]
    assert lines[2].split() == ["dind-foo", "down", "?", "0", "-"]
    assert len({line.index(line.split()[1]) for line in lines}) == 1  # the STATE column lines up
    assert listing.table([]) == "No dind-cluster clusters on this engine."


@pytest.mark.parametrize("mode, want", [("ipv4", "https://10.192.10.2:6443"), ("dual-stack", "https://10.192.10.2:6443"),
                                        ("ipv6", "https://[fd00::2]:6443")])
def test_internal_kubeconfig_points_at_the_masters_address_in_the_clusters_family(mode, want):
    assert kubeconfigs.internal_server(cluster(MASTER, mode=mode), MASTER) == want


def test_loopback_kubeconfig_points_at_the_published_port():
    assert kubeconfigs.loopback_server(MASTER) == "https://127.0.0.1:32768"
    v6 = NodeFacts("m", "master", "running", (), ("::1", 40000))
    assert kubeconfigs.loopback_server(v6) == "https://[::1]:40000"


def image(ident, kind, key=None, tags=None):
    return ImageFacts(ident, tuple(tags or [f"{kind}:{ident}"]), kind, key, size=100)


def test_prune_keeps_images_in_use_base_images_and_snapshots_of_remaining_clusters():
    images = [image("n1", "node"), image("n2", "node"), image("b", "base"), image("t", "tayga"),
              image("s-gone", "snapshot", "gone"), image("s-kept", "snapshot", "cluster-10"),
              image("x", "node-build", tags=[])]
    removed = prunable(images, used={"n2"}, remaining={"cluster-10"})
    assert [i.id for i in removed] == ["s-gone", "x", "n1", "t"]  # snapshots first, then by tag


@pytest.mark.parametrize("size, text", [(999, "999 B"), (1500, "1.5 KB"), (287_249_067, "287.2 MB"),
                                        (3_200_000_000, "3.2 GB"), (5_000_000_000_000, "5000.0 GB")])
def test_sizes_read_as_people_write_them(size, text):
    assert human(size) == text
