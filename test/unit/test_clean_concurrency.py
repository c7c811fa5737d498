"""`clean` asks the engine for everything at once and removes what doesn't depend on each other at once:
the four listings together, then the containers, then volumes, networks and snapshot images together
(a volume or network is free only once its containers are gone). `down` and the other container
listings take the engine's list answer instead of inspecting each container one after another.
The real engine's part is in test/integration/test_nodes.py; here fakes of the SDK classes record the
order, and a barrier that every call of a phase must reach proves the calls of that phase overlap
(serial calls break it). Last, a network the engine won't let go: one error line that says why.
"""
from __future__ import annotations

import threading
from unittest.mock import create_autospec

import docker
import docker.errors
import pytest
from docker.models.containers import Container, ContainerCollection
from docker.models.images import Image, ImageCollection
from docker.models.networks import Network, NetworkCollection
from docker.models.volumes import Volume, VolumeCollection

from dind_cluster.backend import network, nodes
from dind_cluster.errors import DockerError
from dind_cluster.naming import CLUSTER_LABEL
from dind_cluster.plan import Shape, make_plan

WAIT = 10.0   # only how long a broken run waits before failing; a passing run never waits for it


class Engine:
    """Fakes of the SDK collections and objects `clean` uses, logging each removal."""

    def __init__(self, containers: int, volumes: int, networks: int, images: int, listings: int = 4):
        self.log: list = []
        self.lock = threading.Lock()
        self.client = create_autospec(docker.DockerClient, instance=True)
        self.client.containers = create_autospec(ContainerCollection, instance=True)
        self.client.volumes = create_autospec(VolumeCollection, instance=True)
        self.client.networks = create_autospec(NetworkCollection, instance=True)
        self.client.images = create_autospec(ImageCollection, instance=True)
        self.objects = {
            "container": [self._object(Container, f"c{i}") for i in range(containers)],
            "volume": [self._object(Volume, f"v{i}") for i in range(volumes)],
            "network": [self._object(Network, f"n{i}") for i in range(networks)],
            "image": [self._object(Image, f"sha256:{i}") for i in range(images)],
        }
        self.listed = threading.Barrier(listings, timeout=WAIT)
        self.after_containers = threading.Barrier(1)
        self.client.containers.list.side_effect = self._lister("container")
        self.client.volumes.list.side_effect = self._lister("volume")
        self.client.networks.list.side_effect = self._lister("network")
        self.client.images.list.side_effect = self._lister("image")
        self.client.images.remove.side_effect = lambda image_id, **kw: self._removed(image_id)
        for kind in ("container", "volume", "network"):
            for obj in self.objects[kind]:
                obj.remove.side_effect = lambda *a, name=obj.name, **kw: self._removed(name)
        for network in self.objects["network"]:
            network.attrs = {"Containers": {}}

    def _object(self, cls, name: str):
        obj = create_autospec(cls, instance=True)
        obj.name = obj.id = name
        obj.client = self.client
        return obj

    def _lister(self, kind: str):
        def list_(**kwargs):
            self.listed.wait()   # all four listings are asked for before any answers
            if kind == "container" and not kwargs.get("sparse"):   # as the SDK does: inspect each
                return [self.client.containers.get(c.id) for c in self.objects[kind]]
            return list(self.objects[kind])
        return list_

    def _removed(self, name: str) -> None:
        with self.lock:
            self.log.append(name)
        if not name.startswith("c"):
            self.after_containers.wait()

    def expect_overlap(self, parties: int) -> None:
        self.after_containers = threading.Barrier(parties, timeout=WAIT)


def test_clean_lists_at_once_and_removes_volumes_networks_and_images_together_after_the_containers():
    engine = Engine(containers=3, volumes=3, networks=1, images=3)
    engine.expect_overlap(3 + 1 + 3)
    objs = nodes.clean(engine.client, "cluster-9")
    containers = {f"c{i}" for i in range(3)}
    assert set(engine.log[:3]) == containers
    assert set(engine.log[3:]) == {"v0", "v1", "v2", "n0", "sha256:0", "sha256:1", "sha256:2"}
    assert [c.name for c in objs.containers] == ["c0", "c1", "c2"]
    assert engine.client.images.list.call_args.kwargs["filters"] == {
        "label": ["dind-cluster.io/cluster=cluster-9", nodes.SNAPSHOT_LABEL]}


def test_clean_of_a_cluster_already_gone_removes_nothing():
    engine = Engine(containers=0, volumes=0, networks=0, images=0)
    nodes.clean(engine.client, "cluster-9")
    assert engine.log == []


def gone_meanwhile(engine: Engine, name: str) -> None:
    """The container `name` is removed by another run between our listing and our removal."""
    container = next(c for c in engine.objects["container"] if c.name == name)
    container.remove.side_effect = docker.errors.NotFound("No such container")
    container.reload.side_effect = docker.errors.NotFound("No such container")


def test_clean_lists_containers_without_inspecting_each_so_one_removed_meanwhile_is_no_error():
    engine = Engine(containers=3, volumes=1, networks=0, images=0)
    engine.client.containers.get.side_effect = docker.errors.NotFound("No such container")  # as after c1 went
    gone_meanwhile(engine, "c1")
    nodes.clean(engine.client, "cluster-9")
    assert engine.client.containers.list.call_args.kwargs["sparse"] is True
    assert sorted(engine.log) == ["c0", "c2", "v0"]


def roles(engine: Engine, *roles: str) -> None:
    for container, role in zip(engine.objects["container"], roles):
        container.attrs = {"Id": container.id, "Names": [f"/{container.name}"],
                           "Labels": {nodes.ROLE_LABEL: role, CLUSTER_LABEL: "cluster-9"}}


def test_down_removes_nodes_and_the_balancer_from_one_listing_and_keeps_the_ipv6_helpers():
    engine = Engine(containers=5, volumes=0, networks=0, images=0, listings=1)
    roles(engine, "master", "worker", "load-balancer", "dns64", "nat64")
    engine.client.containers.get.side_effect = AssertionError("down inspects no container")
    assert nodes.remove_nodes(engine.client, "cluster-9") == 3
    assert sorted(engine.log) == ["c0", "c1", "c2"]
    assert engine.client.containers.list.call_count == 1
    assert engine.client.containers.list.call_args.kwargs == {
        "all": True, "sparse": True, "filters": {"label": ["dind-cluster.io/cluster=cluster-9", nodes.ROLE_LABEL]}}


def test_the_live_shape_comes_from_the_listing_alone():
    engine = Engine(containers=3, volumes=0, networks=0, images=0, listings=1)
    roles(engine, "master", "worker", "worker")
    for container, name in zip(engine.objects["container"], ("kube-master-x", "kube-node-1-x", "kube-node-3-x")):
        container.attrs["Labels"][nodes.NODE_LABEL] = name
    engine.client.containers.get.side_effect = AssertionError("no container is inspected")
    plan = make_plan({"NUM_NODES": "2", "DIND_LABEL": "x", "EMBEDDED_CONFIG": "y"})
    assert nodes.cluster_shape(engine.client, plan) == Shape(plan.shape.masters, (1, 3), False)
    assert engine.client.containers.list.call_args.kwargs["sparse"] is True


def test_containers_go_while_the_slower_listings_are_still_out():
    engine = Engine(containers=2, volumes=0, networks=0, images=1, listings=1)
    removing = threading.Event()

    def slow_images(**kwargs):
        assert removing.wait(WAIT), "the containers waited for the images' listing"
        return list(engine.objects["image"])

    engine.client.images.list.side_effect = slow_images
    for container in engine.objects["container"]:
        container.remove.side_effect = lambda *a, name=container.name, **kw: (removing.set(), engine._removed(name))
    nodes.clean(engine.client, "cluster-9")
    assert sorted(engine.log[:2]) == ["c0", "c1"] and engine.log[2:] == ["sha256:0"]


def test_node_containers_are_inspected_at_once_and_only_the_nodes():
    engine = Engine(containers=4, volumes=0, networks=0, images=0, listings=1)
    roles(engine, "worker", "master", "dns64", "worker")
    inspected = threading.Barrier(3, timeout=WAIT)
    by_id = {c.id: c for c in engine.objects["container"]}
    for container, name in zip(engine.objects["container"], ("kube-node-2", "kube-master", "dns64", "kube-node-1")):
        container.name = name
        container.labels = container.attrs["Labels"]

    def inspect(container_id):
        inspected.wait()    # every node's inspect is asked for before any answers
        return by_id[container_id]

    engine.client.containers.get.side_effect = inspect
    assert [c.name for c in nodes.node_containers(engine.client, "cluster-9")] == [
        "kube-master", "kube-node-1", "kube-node-2"]


ACTIVE = docker.errors.APIError("403 Forbidden", explanation=(
    "error while removing network: network n0 id 0123 has active endpoints"))


@pytest.fixture
def no_settling(monkeypatch):
    monkeypatch.setattr(network, "ENDPOINTS_SETTLE", 0.0)


def refusing(engine: Engine, times: int, attached: dict = None) -> list:
    """The network refuses removal `times` times for active endpoints, showing `attached` containers."""
    refused = engine.objects["network"][0]
    refused.attrs = {"Containers": dict(attached or {})}
    tries: list = []

    def remove(*args, **kwargs):
        tries.append(1)
        if len(tries) <= times:
            raise ACTIVE
        engine._removed("n0")
    refused.remove.side_effect = remove
    return tries


def test_a_network_still_counted_in_use_with_nothing_attached_fails_clean_naming_the_engine_bug(no_settling):
    # Docker Engine before 28.1 can go on counting endpoints on a network whose containers were
    # removed at the same time (moby/moby#42119); only a dockerd restart recounts them.
    engine = Engine(containers=2, volumes=1, networks=1, images=0)
    tries = refusing(engine, times=99)
    with pytest.raises(DockerError) as failed:
        nodes.clean(engine.client, "cluster-9")
    assert len(tries) == 2
    assert sorted(engine.log) == ["c0", "c1", "v0"]    # everything else went
    assert "network n0" in failed.value.message and "no container is attached" in failed.value.message
    assert "moby/moby#42119" in failed.value.message and "restart dockerd" in failed.value.hint


def test_a_network_whose_endpoints_go_just_after_its_containers_is_removed_on_the_second_try(no_settling):
    engine = Engine(containers=2, volumes=0, networks=1, images=0)
    tries = refusing(engine, times=1)
    nodes.clean(engine.client, "cluster-9")
    assert len(tries) == 2 and sorted(engine.log) == ["c0", "c1", "n0"]


def test_a_network_another_container_is_attached_to_names_that_container(no_settling):
    engine = Engine(containers=1, volumes=0, networks=1, images=0)
    tries = refusing(engine, times=99, attached={"abc123": {"Name": "someones-debug-shell"}})
    with pytest.raises(DockerError) as failed:
        nodes.clean(engine.client, "cluster-9")
    assert len(tries) == 1
    assert "someones-debug-shell" in failed.value.message and "docker network disconnect" in failed.value.hint
