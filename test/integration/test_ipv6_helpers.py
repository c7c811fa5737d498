"""DNS64 and NAT64 of an IPv6-only cluster on the real engine (reference §8).

A cluster network from make_plan(IP_MODE=ipv6), a test DNS server (dnsmasq) on the network's
NAT64 IPv4 /16 as REMOTE_DNS64_V4SERVER, the bind9 and tayga helpers, and a client container
with no IPv4 at all. All traffic stays on the test's own Docker network.
"""
from __future__ import annotations

import dataclasses
import io
import ipaddress
import os
from pathlib import Path

import docker
import pytest

from dind_cluster.backend.containers import exec_in
from dind_cluster.backend.facts import gather_facts
from dind_cluster.backend.helpers64 import (DIGEST_LABEL, ensure_helpers, helper_containers,
                                            helper_image_tag, bridge_name,
                                            set_aaaa_rules,
                                            remove_helpers)
from dind_cluster.backend.network import ensure_network, network_subnets
from dind_cluster.backend.nodes import clean, remove_nodes
from dind_cluster.errors import DockerError
from dind_cluster.helpers64 import synthesise
from dind_cluster.naming import ROLE_LABEL
from dind_cluster.plan import make_plan
from dind_cluster.preflight import run_preflight

from conftest import TEST_LABEL, base_image

pytestmark = pytest.mark.docker

NAME = "ipv4only.test"
REAL_AAAA = "fd00:dead::1"   # without DIND_ALLOW_AAAA_USE bind9 must ignore it (exclude any)
TEST_DOCKERFILE = """ARG BASE
FROM ${BASE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends dnsmasq-base \\
    bind9-dnsutils iproute2 iputils-ping >/dev/null && rm -rf /var/lib/apt/lists/*
"""


def _free_cluster_id(client, label: str) -> str:
    """A CLUSTER_ID whose NAT64 /16 and IPv6 /64 clash with no network or host route."""
    used = [ipaddress.ip_network(s, strict=False) for n in client.networks.list()
            for s in network_subnets(n)] + _host_routes()
    for cid in range(1, 14):
        plan = make_plan({"IP_MODE": "ipv6", "CLUSTER_ID": str(cid), "DIND_LABEL": label})
        mine = [ipaddress.ip_network(s) for s in plan.network.subnets]
        if not any(m.version == u.version and m.overlaps(u) for m in mine for u in used
                   if u.prefixlen > 0):
            return str(cid)
    pytest.skip("no CLUSTER_ID with free NAT64 and IPv6 subnets")


def _host_routes() -> list:
    path = Path("/proc/net/route")
    if not path.exists():
        return []
    nets = []
    for line in path.read_text().splitlines()[1:]:
        f = line.split()
        dest, mask = (ipaddress.IPv4Address(int(x, 16).to_bytes(4, "little")) for x in f[1:8:6])
        nets.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    return nets


class Cluster:
    def __init__(self, engine, scope) -> None:
        self.engine, self.scope, self.base = engine, scope, base_image()
        cid = _free_cluster_id(engine, scope.value)
        probe = make_plan({"IP_MODE": "ipv6", "CLUSTER_ID": cid, "DIND_LABEL": scope.value})
        self.server_v4 = f"{probe.nat64_v4_subnet_prefix}.0.53"
        self.values = {"IP_MODE": "ipv6", "CLUSTER_ID": cid, "DIND_LABEL": scope.value,
                       "REMOTE_DNS64_V4SERVER": self.server_v4}
        plan = make_plan(self.values)
        self.plan = dataclasses.replace(plan, labels={**plan.labels, **scope.labels})
        self.environ = {"DIND_BASE_IMAGE": self.base,
                        "DOCKER_HOST": os.environ.get("DOCKER_HOST", "")}

    def start(self) -> None:
        self.network = ensure_network(self.engine, self.plan)
        self.image = f"dind-cluster-test64:{self.scope.value}"
        self.engine.images.build(fileobj=io.BytesIO(TEST_DOCKERFILE.encode()), tag=self.image,
                                 buildargs={"BASE": self.base}, labels=self.scope.labels,
                                 rm=True, forcerm=True)
        self.server = self._run(f"dns-{self.scope.value}", self.server_v4, [
            "dnsmasq", "-k", "--user=root", "--no-resolv", "--no-hosts", "--log-queries",
            "--log-facility=-", f"--host-record={NAME},{self.server_v4},{REAL_AAAA}"])
        self.helpers = ensure_helpers(self.engine, self.plan, self.environ)
        self.client = self._run(f"client-{self.scope.value}", None, ["sleep", "infinity"])
        # Like a node of an IPv6-only cluster: no IPv4, DNS64 prefix via tayga (reference §8.1).
        exec_in(self.client, ["ip", "-4", "addr", "flush", "dev", "eth0"])
        exec_in(self.client, ["ip", "-6", "route", "replace", self.plan.dns64_prefix_cidr,
                              "via", self.plan.local_nat64_server])

    def _run(self, name: str, ipv4, command: list):
        endpoint = self.engine.api.create_endpoint_config(ipv4_address=ipv4)
        return self.engine.containers.run(
            self.image, command, name=name, detach=True, labels=dict(self.plan.labels),
            network=self.plan.network.name,
            networking_config={self.plan.network.name: endpoint}, cap_add=["NET_ADMIN"],
            sysctls={"net.ipv6.conf.all.disable_ipv6": "0"})

    def synthesised(self) -> str:
        return synthesise(self.plan.dns64_prefix_cidr, self.server_v4)


@pytest.fixture(scope="module")
def cluster(engine, module_scope):
    c = Cluster(engine, module_scope)
    tags = [helper_image_tag(engine, role, c.base) for role in ("nat64", "dns64")]
    new_tags = [t for t in tags if not engine.images.list(name=t)]
    try:
        c.start()
        yield c
    finally:
        clean(engine, c.plan.cluster_key)
        for tag in new_tags:   # helper images this test built (shared ones stay)
            if engine.images.list(name=tag):
                engine.images.remove(tag, force=True)


def _dig(cluster, *args) -> str:
    code, out = exec_in(cluster.client, ["dig", "+short", "+time=3", "+tries=2", *args],
                        check=False)
    assert code == 0, out
    return out.strip()


def test_the_client_and_bind9_have_no_ipv4(cluster):
    for container in (cluster.client, cluster.helpers[1]):
        _, out = exec_in(container, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
        assert out.strip() == "", f"{container.name} still has IPv4: {out}"


def test_dns64_synthesises_aaaa_for_an_a_only_name_via_upstream_through_nat64(cluster):
    bind9 = cluster.plan.dns64.ips[0]
    assert _dig(cluster, f"@{bind9}", "AAAA", NAME) == cluster.synthesised()
    # bind9 has no IPv4, so the upstream answer came through tayga: the server saw the query.
    logs = cluster.server.logs().decode()
    assert f"query[A] {NAME} from {cluster.plan.nat64.ips[0]}" in logs


def test_tcp_and_udp_reach_the_ipv4_server_through_nat64(cluster):
    target = f"@{cluster.synthesised()}"
    assert _dig(cluster, target, "+notcp", "A", NAME) == cluster.server_v4
    assert _dig(cluster, target, "+tcp", "A", NAME) == cluster.server_v4


def test_ping6_reaches_the_ipv4_server_through_nat64(cluster):
    code, out = exec_in(cluster.client, ["ping", "-6", "-c", "2", "-W", "3",
                                         cluster.synthesised()], check=False)
    assert code == 0, out


def test_host_route_to_the_nat64_pool_points_at_tayga(cluster):
    if os.environ.get("DOCKER_HOST", "unix://").split("://")[0] != "unix":
        pytest.skip("the route is only added for a local engine")
    routes = Path("/proc/net/route").read_text()
    pool = ipaddress.ip_network(cluster.plan.nat64_pool)
    hexed = lambda a: f"{int.from_bytes(a.packed, 'little'):08X}"  # noqa: E731
    gateway = hexed(ipaddress.ip_address(cluster.plan.nat64.ips[0]))
    assert any(f[1] == hexed(pool.network_address) and f[2] == gateway and f[7] == hexed(
        pool.netmask) for f in (line.split() for line in routes.splitlines()[1:]))


def test_ensure_helpers_again_reuses_the_running_helpers(cluster):
    again = ensure_helpers(cluster.engine, cluster.plan, cluster.environ)
    assert [c.id for c in again] == [c.id for c in cluster.helpers]


def test_a_stopped_helper_is_replaced(cluster):
    tayga = cluster.helpers[0]
    tayga.stop(timeout=1)
    again = ensure_helpers(cluster.engine, cluster.plan, cluster.environ)
    assert again[0].id != tayga.id and again[1].id == cluster.helpers[1].id
    assert again[0].labels[ROLE_LABEL] == "nat64" and again[0].labels[DIGEST_LABEL]
    cluster.helpers = again
    test_ping6_reaches_the_ipv4_server_through_nat64(cluster)


def test_a_stranger_holding_a_helper_name_is_refused(engine, cluster, scope):
    other = make_plan({**cluster.values, "DIND_LABEL": scope.value})
    other = dataclasses.replace(other, labels={**other.labels, **scope.labels})
    engine.containers.create(cluster.image, ["true"], name=other.nat64.name,
                             labels={TEST_LABEL: scope.value})
    with pytest.raises(DockerError, match="not part of cluster"):
        ensure_helpers(engine, other, cluster.environ)


def test_gathered_facts_show_our_network_and_preflight_flags_only_others(engine, cluster):
    facts = gather_facts(engine, os.environ)
    ours = [n for n in facts.networks if n.name == cluster.plan.network.name]
    assert [n.cluster_key for n in ours] == [cluster.plan.cluster_key]
    assert cluster.plan.nat64_v4_subnet in ours[0].subnets
    assert not any(cluster.plan.network.name in p.message
                   for p in run_preflight(facts, cluster.plan))
    rival = make_plan({**cluster.values, "DIND_LABEL": cluster.scope.value + "x"})
    clashes = [p.message for p in run_preflight(facts, rival)
               if cluster.plan.network.name in p.message]
    assert clashes and clashes[0].startswith("MGMT_CIDRS: ")


def _host_ip6tables(cluster) -> str:
    out = cluster.engine.containers.run(
        cluster.image, ["sh", "-c", "ip6tables -S FORWARD; ip6tables -t nat -S POSTROUTING"],
        network_mode="host", cap_add=["NET_ADMIN"], remove=True, labels=cluster.scope.labels)
    return out.decode()


def test_aaaa_rules_are_added_once_and_removed(engine, cluster):
    if "MASQUERADE" in _host_ip6tables(cluster):
        pytest.skip("the host already has an IPv6 MASQUERADE rule; removing ours would hit it")
    image = helper_image_tag(engine, "nat64", cluster.base)
    bridge = bridge_name(engine, cluster.plan.network.name)
    try:
        for _ in range(2):
            assert set_aaaa_rules(engine, cluster.plan, cluster.environ, image, add=True)
        rules = _host_ip6tables(cluster)
        assert rules.count(f"-A FORWARD -i {bridge} -j ACCEPT") == 1
        assert rules.count("-j MASQUERADE") == 1
    finally:
        set_aaaa_rules(engine, cluster.plan, cluster.environ, image, add=False)
    rules = _host_ip6tables(cluster)
    assert bridge not in rules and "MASQUERADE" not in rules


def test_down_keeps_the_helpers_and_clean_removes_them(engine, cluster):
    engine.containers.create(cluster.image, ["true"], name=cluster.plan.master.name,
                             labels={**cluster.plan.labels, ROLE_LABEL: "master"})
    assert remove_nodes(engine, cluster.plan.cluster_key) == 1
    assert len(helper_containers(engine, cluster.plan.cluster_key)) == 2
    assert remove_helpers(engine, cluster.plan) == 2
    ensure_helpers(engine, cluster.plan, cluster.environ)
    clean(engine, cluster.plan.cluster_key)
    assert helper_containers(engine, cluster.plan.cluster_key) == []
    with pytest.raises(docker.errors.NotFound):
        engine.networks.get(cluster.plan.network.name)
