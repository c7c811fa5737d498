"""IPv6-only and dual-stack clusters through the real CLI, on the real engine, with the stand-in
Kubernetes binaries (reference §3, §8).

Every IPv6 cluster's REMOTE_DNS64_V4SERVER is an address inside its own NAT64 /16, where the test
starts a dnsmasq of its own right after `up`: no packet and no query leaves this machine.
"""
from __future__ import annotations

import io
import ipaddress
import json
import os
import random
import time
from pathlib import Path

import pytest

from dind_cluster.backend.containers import exec_in
from dind_cluster.backend.facts import gather_facts
from dind_cluster.naming import ROLE_LABEL
from dind_cluster.plan import make_plan
from dind_cluster.preflight import run_preflight

from dind_cluster.backend.helpers64 import helper_containers, helper_image_tag
from dind_cluster.helpers64 import synthesise

from clusters import attach_test_pod, cli, cluster_env, detach_test_pod, kubectl, owned, remove_cluster
from conftest import base_image

pytestmark = pytest.mark.docker
MY_IDS = range(200, 231)             # CLUSTER_IDs no other test module uses
NAT64_BASE = "10.0"                  # 10.<id>: CLUSTER_IDs above 13 leave 172.16/12
A_ONLY_NAME = "ipv4only.test"
ADDRESS_VARIABLES = ("MGMT_CIDRS", "NAT64_V4_SUBNET_PREFIX", "POD_NETWORK_CIDR", "SERVICE_CIDR",
                     "DNS64_PREFIX")
DNS_DOCKERFILE = b"""ARG BASE
FROM ${BASE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends dnsmasq-base >/dev/null \\
    && rm -rf /var/lib/apt/lists/*
"""


# --- helpers shared with test_side_by_side.py ------------------------------------------------

def with_local_dns(env: dict) -> dict:
    """IPv6 mode: REMOTE_DNS64_V4SERVER inside the cluster's own NAT64 /16 (`config --json`)."""
    if env.get("IP_MODE") != "ipv6":
        return env
    prefix = config_json(env)["nat64_v4_subnet_prefix"]
    return {**env, "REMOTE_DNS64_V4SERVER": f"{prefix}.0.53"}


def config_json(env: dict) -> dict:
    return json.loads(cli(env, "config", "--json").stdout)


def address_clashes(engine, values: dict) -> list:
    """Preflight's subnet problems (other networks, host routes) for a planned cluster."""
    facts = gather_facts(engine, os.environ)
    return [p.message for p in run_preflight(facts, make_plan(values))
            if p.message.startswith(ADDRESS_VARIABLES)]


def unused(engine, values: dict) -> bool:
    key = make_plan(values).cluster_key
    return owned(engine, key) == ([], [], []) and not address_clashes(engine, values)


def free_cluster_id(engine, taken: set, **values: str) -> str:
    """A random CLUSTER_ID of MY_IDS whose names and subnets nothing on this engine uses."""
    ids = [i for i in MY_IDS if str(i) not in taken]
    random.shuffle(ids)
    for cid in ids:
        if unused(engine, {**values, "CLUSTER_ID": str(cid)}):
            taken.add(str(cid))
            return str(cid)
    pytest.skip(f"no free CLUSTER_ID in {MY_IDS}")


def cluster_key(env: dict) -> str:
    return make_plan(env).cluster_key


def up(engine, env: dict, cleanups: list):
    """`up` one cluster; its removal is registered first, so it happens on failure."""
    cleanups.append(env)
    return cli(env, "up")


def remove_clusters(engine, envs: list) -> None:
    """`clean` each cluster (it also takes back host-side changes such as the IPv6 NAT rules), then
    remove by label whatever a failed run may have left."""
    for env in envs:
        cli(env, "clean", check=False)
        remove_cluster(engine, cluster_key(env))


def node_containers(engine, env: dict) -> list:
    return [engine.containers.get(n.name) for n in make_plan(env).nodes]


def listed_nodes(env: dict) -> list:
    result = kubectl(env, make_plan(env).context, "get", "nodes", "-o", "json")
    assert result.returncode == 0, result.stderr
    return sorted(item["metadata"]["name"] for item in json.loads(result.stdout)["items"])


def kubeconfig_server(env: dict) -> str:
    context = make_plan(env).context
    result = kubectl(env, context, "config", "view", "-o",
                     f"jsonpath={{.clusters[?(@.name==\"{context}\")].cluster.server}}")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def pods_ping_each_other(nodes) -> dict:
    """A test pod on every node (the node's own CNI config, real plugins) pings every other pod on
    every address; returns {node name: IP versions its pod got}."""
    addresses = {}
    try:
        for node in nodes:
            addresses[node.name] = attach_test_pod(node)
        for node in nodes:
            wait_for_dad(node)
        for node in nodes:
            for other, ips in addresses.items():
                for ip in ips if other != node.name else ():
                    code, out = exec_in(node, ["ip", "netns", "exec", "podtest", "ping", "-c", "1",
                                               "-W", "2", ip], check=False)
                    assert code == 0, f"pod on {node.name} can't reach {other}'s ({ip}):\n{out}"
    finally:
        for node in nodes:
            detach_test_pod(node)
    return {name: {ipaddress.ip_address(ip).version for ip in ips}
            for name, ips in addresses.items()}


def wait_for_dad(node, timeout: float = 10, netns: str = "podtest") -> None:
    """New IPv6 addresses (the pod's, the bridge's) are unusable until duplicate address
    detection ends."""
    deadline = time.monotonic() + timeout
    while True:
        _, pod = exec_in(node, ["ip", "netns", "exec", netns, "ip", "-6", "addr", "show",
                                "tentative"])
        _, bridge = exec_in(node, ["ip", "-6", "addr", "show", "tentative"])
        if not (pod.strip() or bridge.strip()) or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def interface_addresses(node) -> set:
    _, out = exec_in(node, ["ip", "-o", "addr", "show", "dev", "eth0", "scope", "global"])
    return {line.split()[3].split("/")[0] for line in out.splitlines()}


# --- the test DNS server (dnsmasq) on the NAT64 /16 ------------------------------------------

class DnsServer:
    """dnsmasq at REMOTE_DNS64_V4SERVER on the cluster network; A_ONLY_NAME has an A only."""

    def __init__(self, engine, scope, env: dict) -> None:
        self.engine, self.scope, self.env = engine, scope, env
        self.plan = make_plan(env)
        self.address = env["REMOTE_DNS64_V4SERVER"]
        self.container = None

    def start(self) -> None:
        image = f"dind-cluster-testdns:{self.scope.value}"
        self.engine.images.build(fileobj=io.BytesIO(DNS_DOCKERFILE), tag=image, rm=True,
                                 forcerm=True,
                                 buildargs={"BASE": base_image()}, labels=self.scope.labels)
        endpoint = self.engine.api.create_endpoint_config(ipv4_address=self.address)
        self.container = self.engine.containers.run(
            image, ["dnsmasq", "-k", "--user=root", "--no-resolv", "--no-hosts", "--log-queries",
                    "--log-facility=-", f"--host-record={A_ONLY_NAME},{self.address}",
                    f"--local=/{A_ONLY_NAME}/"],   # known here: AAAA gets NODATA, not REFUSED
            name=f"testdns-{self.scope.value}", detach=True, labels=self.scope.labels,
            network=self.plan.network.name, networking_config={self.plan.network.name: endpoint},
            cap_add=["NET_ADMIN"])

    def queried_from(self) -> list:
        """Source addresses of the A queries for A_ONLY_NAME the server has seen."""
        logs = self.container.logs().decode(errors="replace")
        return [line.rsplit(" from ", 1)[1].strip() for line in logs.splitlines()
                if f"query[A] {A_ONLY_NAME} from " in line]

    def remove(self) -> None:
        if self.container is not None:
            self.container.remove(force=True, v=True)
            self.container = None


def new_helper_images(engine):
    """The DNS64/NAT64 helper images `up` is about to build (shared ones that exist stay)."""
    tags = [helper_image_tag(engine, role, base_image()) for role in ("nat64", "dns64")]
    return [t for t in tags if not engine.images.list(name=t)]


def remove_images(engine, tags) -> None:
    for tag in tags:
        if engine.images.list(name=tag):
            engine.images.remove(tag, force=True)


# --- IPv6-only ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def v6(engine, module_scope, tmp_path_factory):
    """A running IPv6-only cluster (2 workers) and the test DNS server on its NAT64 /16."""
    mode = {"IP_MODE": "ipv6", "NAT64_V4_SUBNET_PREFIX": NAT64_BASE}
    cid = free_cluster_id(engine, set(), **mode)
    env = with_local_dns(cluster_env(tmp_path_factory.mktemp("v6home"), **mode, CLUSTER_ID=cid,
                                        NUM_NODES="2"))
    keys, images, dns = [], new_helper_images(engine), DnsServer(engine, module_scope, env)
    try:
        env["_UP_OUTPUT"] = up(engine, env, keys).stderr
        dns.start()
        yield env, dns
    finally:
        dns.remove()          # it sits on the cluster network, which goes next
        remove_clusters(engine, keys)
        remove_images(engine, images)


def synthesised(env: dict, dns: DnsServer) -> str:
    return synthesise(dns.plan.dns64_prefix_cidr, dns.address)


def test_ipv6_up_ends_with_host_kubectl_on_the_ipv6_loopback_listing_every_node(v6):
    env, dns = v6
    assert listed_nodes(env) == sorted(n.name for n in dns.plan.nodes)
    server = kubeconfig_server(env)
    assert server.startswith("https://[::1]:")
    assert f"Setting kubectl context {dns.plan.context} ({server})" in env["_UP_OUTPUT"]


def test_ipv6_nodes_ping_each_other_over_the_management_network(engine, v6):
    env, dns = v6
    nodes = node_containers(engine, env)
    for node in nodes:
        for other in dns.plan.nodes:
            if other.name != node.name:
                code, out = exec_in(node, ["ping", "-6", "-c", "1", "-W", "2", other.ips[0]],
                                    check=False)
                assert code == 0, f"{node.name} can't reach {other.name} ({other.ips[0]}):\n{out}"


def test_ipv6_pods_on_different_nodes_reach_each_other(engine, v6):
    env, _ = v6
    nodes = node_containers(engine, env)
    assert pods_ping_each_other(nodes) == {n.name: {6} for n in nodes}


def test_dns64_answers_a_node_with_an_aaaa_in_the_prefix_for_an_a_only_name(engine, v6):
    env, dns = v6
    worker = node_containers(engine, env)[-1]
    code, out = exec_in(worker, ["getent", "ahostsv6", A_ONLY_NAME], check=False)
    assert code == 0, f"{worker.name} couldn't resolve {A_ONLY_NAME} via its resolv.conf:\n{out}"
    answer = ipaddress.ip_address(out.split()[0])
    assert answer in ipaddress.ip_network(dns.plan.dns64_prefix_cidr)
    assert answer == ipaddress.ip_address(synthesised(env, dns))
    assert dns.queried_from(), "bind9's upstream query never reached the test DNS server"


def test_nat64_carries_ping6_and_tcp_from_a_node_to_the_ipv4_server(engine, v6):
    env, dns = v6
    worker = node_containers(engine, env)[-1]
    target = synthesised(env, dns)
    code, out = exec_in(worker, ["ping", "-6", "-c", "2", "-W", "3", target], check=False)
    assert code == 0, out
    code, out = exec_in(worker, ["bash", "-c", TCP_DNS_QUERY.format(target=target)], check=False)
    assert code == 0 and int(out.strip()) > 12, f"no DNS answer over TCP through NAT64: {out}"
    node_v4 = {a for a in interface_addresses(worker) if "." in a}
    sources = dns.queried_from()
    assert sources and not node_v4 & set(sources), "the query skipped NAT64"
    nat64_net = ipaddress.ip_network(dns.plan.nat64_v4_subnet)
    assert all(ipaddress.ip_address(s) in nat64_net for s in sources)


# A DNS query for A_ONLY_NAME over TCP (2-byte length, header, question); prints the answer's size.
TCP_DNS_QUERY = (r"exec 3<>/dev/tcp/{target}/53 && "
                 r"printf '\x00\x1f\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                 r"\x08ipv4only\x04test\x00\x00\x01\x00\x01' >&3 && "
                 r"timeout 5 head -c 2 <&3 | od -An -tu1 | awk '{{print $1 * 256 + $2}}'")


def test_down_keeps_the_helpers_and_up_restores_dns64_on_the_nodes(engine, v6):
    env, dns = v6
    key = cluster_key(env)
    cli(env, "down")
    roles = [c.labels.get(ROLE_LABEL) for c in owned(engine, key)[0]]
    assert "master" not in roles and "worker" not in roles
    assert sorted(c.labels[ROLE_LABEL] for c in helper_containers(engine, key)
                  if c.status == "running") == ["dns64", "nat64"]
    cli(env, "up")
    test_dns64_answers_a_node_with_an_aaaa_in_the_prefix_for_an_a_only_name(engine, v6)


def test_clean_removes_the_helpers_with_everything_else(engine, v6):
    env, dns = v6
    dns.remove()              # the test's own container on the cluster network
    cli(env, "clean")
    assert helper_containers(engine, cluster_key(env)) == []
    assert owned(engine, cluster_key(env)) == ([], [], [])
    assert make_plan(env).context not in Path(env["KUBECONFIG"]).read_text()


# --- dual-stack -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dual(engine, tmp_path_factory):
    mode = {"IP_MODE": "dual-stack"}
    cid = free_cluster_id(engine, set(), **mode)
    env = cluster_env(tmp_path_factory.mktemp("dualhome"), **mode, CLUSTER_ID=cid)
    keys = []
    try:
        up(engine, env, keys)
        yield env
    finally:
        remove_clusters(engine, keys)


def test_dual_stack_nodes_get_both_families_on_the_management_network(engine, dual):
    for node, planned in zip(node_containers(engine, dual), make_plan(dual).nodes):
        assert interface_addresses(node) == set(planned.ips)
        assert {ipaddress.ip_address(ip).version for ip in planned.ips} == {4, 6}


def test_dual_stack_pods_reach_each_other_on_both_families(engine, dual):
    nodes = node_containers(engine, dual)
    assert pods_ping_each_other(nodes) == {n.name: {4, 6} for n in nodes}


def test_dual_stack_kubeconfig_lists_every_node(dual):
    assert listed_nodes(dual) == sorted(n.name for n in make_plan(dual).nodes)
    plan = make_plan(dual)
    host = "[::1]" if plan.apiserver_host == "::1" else plan.apiserver_host
    assert kubeconfig_server(dual).startswith(f"https://{host}:")
