"""Shared fixtures for tests on the real Docker engine.

- `engine`: the client; skips without an engine, but FAILS when CI is set.
- Every object a test creates carries `dind-cluster.io/test=<unique value>`; the scope that
  made it removes everything with that label afterwards, even when the test fails.
- `node_image`: DIND_TEST_NODE_IMAGE if set, else the product's node image built from the base image
  (DIND_BASE_IMAGE, or the name build/base-image.sh prints) with the stand-in Kubernetes binaries.
"""
from __future__ import annotations

import ipaddress
import os
import subprocess
import uuid
from pathlib import Path

import docker
import docker.errors
import pytest

from dind_cluster.backend.client import docker_client
from dind_cluster.errors import DindError
from dind_cluster.naming import CLUSTER_LABEL, DEFAULT_DIND_LABEL
from dind_cluster.plan import ClusterPlan, NetworkPlan, NodePlan

TEST_LABEL = "dind-cluster.io/test"
REPO = Path(__file__).resolve().parents[2]
def _unreachable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    try:
        return docker_client(os.environ)
    except DindError as exc:
        _unreachable(f"no Docker engine: {exc.message}")


def remove_labelled(client: docker.DockerClient, value: str) -> None:
    """Remove every container, volume, network and image carrying TEST_LABEL=value."""
    flt = {"label": f"{TEST_LABEL}={value}"}
    for c in client.containers.list(all=True, filters=flt):
        c.remove(force=True, v=True)
    for v in client.volumes.list(filters=flt):
        v.remove(force=True)
    for n in client.networks.list(filters=flt):
        n.remove()
    for image in client.images.list(filters=flt):
        try:
            client.images.remove(image.id, force=True)
        except docker.errors.NotFound:
            pass


class Scope:
    """A test's label value and helpers to make clusters that carry it."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.value = "t" + uuid.uuid4().hex[:8]

    @property
    def labels(self) -> dict:
        return {TEST_LABEL: self.value}

    def plan(self, workers: int = 2, dual_stack: bool = False) -> ClusterPlan:
        """A hand-made plan: unique names and cluster key, a free 10.213.<n>.0/24 subnet
        (plus fd00:213:<n>::/64 for dual-stack)."""
        key = self.value
        net = free_subnet(self.client)
        nets = [net] + ([ipaddress.ip_network(f"fd00:213:{net.network_address.packed[2]}::/64")]
                        if dual_stack else [])
        hosts = [list(n.hosts())[:workers + 3] if n.version == 4 else
                 [n.network_address + i for i in range(1, workers + 4)] for n in nets]
        names = [f"kube-master-{key}"] + [f"kube-node-{k}-{key}" for k in range(1, workers + 1)]
        nodes = tuple(
            NodePlan(name=node, role="master" if i == 0 else "worker", node_id=i + 1,
                     ips=tuple(str(h[i + 1]) for h in hosts),
                     pod_cidrs=(f"10.244.{i + 1}.0/24",), pod_gateways=(f"10.244.{i + 1}.1",),
                     volume=f"kubeadm-dind-{node}")
            for i, node in enumerate(names))
        return ClusterPlan(
            ip_mode="dual-stack" if dual_stack else "ipv4", cluster_id="0",
            dind_label=DEFAULT_DIND_LABEL, suffix=f"-{key}", cluster_key=key, context=f"dind-{key}",
            network=NetworkPlan(f"kubeadm-dind-net-{key}", tuple(str(n) for n in nets),
                                tuple(str(h[0]) for h in hosts), dual_stack),
            nodes=nodes, service_cidr="10.96.0.0/12", service_net_mode="ipv4",
            dns_svc_ip="10.96.0.10", dns_server=None, dns64_prefix_cidr=None,
            local_nat64_server=None, nat64_v4_subnet_prefix=None, nat64_v4_subnet=None,
            nat64_pool=None, dns64=None, nat64=None, remote_dns64_v4server="8.8.8.8",
            allow_aaaa_use=False, use_hairpin=False, cni_plugin="bridge",
            pod_network_cidrs=("10.244.0.0/16",), kubeadm_pod_subnet=None,
            advertise_address=nodes[0].ips[0], apiserver_host="127.0.0.1",
            labels={CLUSTER_LABEL: key, DEFAULT_DIND_LABEL: "", TEST_LABEL: self.value})

    def cleanup(self) -> None:
        remove_labelled(self.client, self.value)


_handed_out: set = set()  # subnets given to plans whose network may not exist yet


def free_subnet(client: docker.DockerClient) -> ipaddress.IPv4Network:
    used = [ipaddress.ip_network(c["Subnet"], strict=False) for n in client.networks.list()
            for c in (n.attrs.get("IPAM") or {}).get("Config") or [] if c.get("Subnet")]
    for third in range(256):
        candidate = ipaddress.ip_network(f"10.213.{third}.0/24")
        if candidate not in _handed_out and not any(
                u.version == 4 and u.overlaps(candidate) for u in used):
            _handed_out.add(candidate)
            return candidate
    pytest.fail("no free 10.213.x.0/24 subnet for a test network")


@pytest.fixture
def offline_plan() -> ClusterPlan:
    """A plan made without asking any engine which subnets are free."""
    class NoNetworks:
        class networks:
            @staticmethod
            def list():
                return []
    return Scope(NoNetworks()).plan(workers=1)


@pytest.fixture
def scope(engine):
    s = Scope(engine)
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def module_scope(engine):
    s = Scope(engine)
    yield s
    s.cleanup()


@pytest.fixture(scope="session")
def session_scope(engine):
    s = Scope(engine)
    yield s
    s.cleanup()


def base_image() -> str:
    if os.environ.get("DIND_BASE_IMAGE"):
        return os.environ["DIND_BASE_IMAGE"]
    script = REPO / "build" / "base-image.sh"
    if not script.exists():
        _unreachable("no base image: set DIND_BASE_IMAGE or add build/base-image.sh")
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        pytest.fail(f"build/base-image.sh failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1].strip()


@pytest.fixture(scope="session")
def node_image(engine) -> str:
    """The product's node image, built offline from the base image with the test stand-in binaries
    (the only part that can't be real here) and no control-plane images."""
    if os.environ.get("DIND_TEST_NODE_IMAGE"):
        return os.environ["DIND_TEST_NODE_IMAGE"]
    from dind_cluster.backend.images import ensure_node_image

    values = {"DIND_BASE_IMAGE": base_image(), "DIND_K8S_BIN_DIR": str(REPO / "test" / "standin" / "bin"),
              "DIND_K8S_IMAGES_DIR": "none"}
    return ensure_node_image(values, os.environ)
