"""DNS from pods in every IP mode, proven with real parts (docs/real-kubernetes.md, "DNS from pods").

On every node, a network namespace attached through the node's own CNI config holds a real
forwarding DNS server where CoreDNS stands (dnsmasq on the namespace's loopback, forwarding to the
servers of the kubelet's resolvConf file). Through it, every node's name and a name served by a
DNS server the test runs on the cluster network must resolve — after `up`, after a restore from
the snapshot and after the engine restarts a node. A resolv.conf naming Docker's 127.0.0.11 fails
the same check (what CoreDNS would meet without our resolver: it queries itself).
"""
from __future__ import annotations

import ipaddress

import pytest

from dind_cluster.plan import make_plan

from clusters import cli, cluster_env
from pods_dns import dnsmasq_bundle, install_dnsmasq, resolve_like_coredns
from test_ipv6_clusters import (A_ONLY_NAME, DnsServer, config_json, node_containers, remove_clusters,
                                synthesised, unused, up, with_local_dns)

pytestmark = pytest.mark.docker
MY_IDS = range(40, 55)
MODES = ("ipv4", "dual-stack", "ipv6")


def free_id(engine, mode: str) -> str:
    for cid in MY_IDS:
        if unused(engine, {"IP_MODE": mode, "CLUSTER_ID": str(cid), "NAT64_V4_SUBNET_PREFIX": "10.0"}):
            return str(cid)
    pytest.skip(f"no free CLUSTER_ID in {MY_IDS}")


def with_test_upstream(env: dict) -> dict:
    """The test's DNS server: in IPv6 mode the DNS64 helper's upstream, else the nodes' (DIND_DNS_SERVER)."""
    if env["IP_MODE"] == "ipv6":
        return with_local_dns(env)
    v4 = next(s for s in config_json(env)["network"]["subnets"] if "." in s)
    address = str(ipaddress.ip_network(v4)[53])
    return {**env, "DIND_DNS_SERVER": address, "REMOTE_DNS64_V4SERVER": address}


@pytest.fixture(scope="module", params=MODES)
def cluster(request, engine, module_scope, tmp_path_factory):
    mode = request.param
    values = {"IP_MODE": mode, "NAT64_V4_SUBNET_PREFIX": "10.0", "CLUSTER_ID": free_id(engine, mode)}
    env = with_test_upstream(cluster_env(tmp_path_factory.mktemp(f"dns-{mode}"), **values))
    dns, keys = DnsServer(engine, module_scope, env), []
    try:
        up(engine, env, keys)
        dns.start()
        yield env, dns, dnsmasq_bundle(engine, dns.container.image.id, module_scope.labels)
    finally:
        dns.remove()
        remove_clusters(engine, keys)


def expected_answers(env: dict, dns: DnsServer) -> dict:
    """What a pod must get: every node's addresses, and the test server's name (in IPv6 mode the
    DNS64 helper's synthesised AAAA)."""
    plan = make_plan(env)
    answers = {node.name: set(node.ips) for node in plan.nodes}
    answers[A_ONLY_NAME] = {synthesised(env, dns) if plan.ip_mode == "ipv6" else dns.address}
    if plan.ip_mode == "ipv6":   # no IPv4 in an IPv6-only pod: only the AAAA answers count
        answers = {name: {a for a in ips if ":" in a} for name, ips in answers.items()}
    return answers


def check_pods_resolve(engine, env, dns, bundle) -> None:
    wanted = expected_answers(env, dns)
    for node in node_containers(engine, env):
        install_dnsmasq(node, bundle)
        got = resolve_like_coredns(node, list(wanted))
        if make_plan(env).ip_mode == "ipv6":
            got = {name: {a for a in ips if ":" in a} for name, ips in got.items()}
        assert got == wanted, f"pod on {node.name} resolved {got}, expected {wanted}"


def test_pods_resolve_node_names_and_upstream_names(engine, cluster):
    check_pods_resolve(engine, *cluster)


def test_docker_dns_address_in_a_pod_resolves_nothing(engine, cluster):
    """Regression: 127.0.0.11 (Docker's resolv.conf) from a pod reaches nothing (or the pod itself)."""
    env, dns, bundle = cluster
    node = node_containers(engine, env)[-1]
    install_dnsmasq(node, bundle)
    got = resolve_like_coredns(node, [make_plan(env).master.name], servers=["127.0.0.11"])
    assert got == {make_plan(env).master.name: set()}


def test_pods_resolve_after_the_engine_restarts_a_node(engine, cluster):
    env, dns, bundle = cluster
    worker = node_containers(engine, env)[-1]
    worker.restart(timeout=10)
    cli(env, "up")            # the master runs: `up` just says so; the worker must come back by itself
    from dind_cluster.backend.containers import wait_for_node

    wait_for_node(worker, timeout=120)
    check_pods_resolve(engine, env, dns, bundle)


def test_pods_resolve_after_down_and_up_from_the_snapshot(engine, cluster):
    env, dns, bundle = cluster
    cli(env, "down")
    cli(env, "up")
    check_pods_resolve(engine, env, dns, bundle)
