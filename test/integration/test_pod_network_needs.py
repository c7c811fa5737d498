"""What pods need from a node's network, in every IP mode, proven with real parts
(docs/real-kubernetes.md): DNS from pods, and bridged traffic through iptables.

DNS from pods.

On every node, a network namespace attached through the node's own CNI config holds a real
forwarding DNS server where CoreDNS stands (dnsmasq on the namespace's loopback, forwarding to the
servers of the kubelet's resolvConf file). Through it, every node's name and a name served by a
DNS server the test runs on the cluster network must resolve — after `up`, after a restore from
the snapshot and after the engine restarts a node. A resolv.conf naming Docker's 127.0.0.11 fails
the same check (what CoreDNS would meet without our resolver: it queries itself).

Bridged traffic. Two namespaces on one node's CNI bridge and the DNAT rule kube-proxy writes for a
Service's virtual IP to one of them: the other reaches it through the virtual IP and gets its
replies (the reply is bridged, and only br_netfilter lets conntrack undo the DNAT on it); with
bridge-nf-call-ip(6)tables=0 the same check fails.
"""
from __future__ import annotations

import ipaddress
import os
import signal
import time

import pytest

from dind_cluster.plan import make_plan

from dind_cluster.backend.containers import exec_in, wait_for_node

from clusters import attach_test_pod, cli, cluster_env, detach_test_pod
from pods_dns import resolve_like_coredns
from test_ipv6_clusters import (A_ONLY_NAME, DnsServer, config_json, node_containers, remove_clusters,
                                listed_nodes, pods_ping_each_other, synthesised, unused, up, wait_for_dad,
                                with_local_dns)

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
        yield env, dns
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


def check_pods_resolve(engine, env, dns) -> None:
    wanted = expected_answers(env, dns)
    for node in node_containers(engine, env):
        got = resolve_like_coredns(node, list(wanted))
        if make_plan(env).ip_mode == "ipv6":
            got = {name: {a for a in ips if ":" in a} for name, ips in got.items()}
        assert got == wanted, f"pod on {node.name} resolved {got}, expected {wanted}"


def test_pods_resolve_node_names_and_upstream_names(engine, cluster):
    check_pods_resolve(engine, *cluster)


def test_docker_dns_address_in_a_pod_resolves_nothing(engine, cluster):
    """Regression: 127.0.0.11 (Docker's resolv.conf) from a pod reaches nothing (or the pod itself)."""
    env, dns = cluster
    node = node_containers(engine, env)[-1]
    got = resolve_like_coredns(node, [make_plan(env).master.name], servers=["127.0.0.11"])
    assert got == {make_plan(env).master.name: set()}


def kill_and_wait_back(engine, container) -> None:
    """SIGKILL the node's PID 1 (systemd) from the host, as a crash would; the restart policy must
    bring the same container back by itself."""
    container.reload()
    started, pid = container.attrs["State"]["StartedAt"], container.attrs["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "running" and container.attrs["State"]["StartedAt"] != started:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"{container.name} didn't come back after SIGKILL: {container.status}")
    wait_for_node(container, timeout=120)


def test_nodes_killed_with_sigkill_come_back_with_routes_dns_and_apiserver_port(engine, cluster):
    env, dns = cluster
    if not os.path.isdir(f"/proc/{node_containers(engine, env)[0].attrs['State']['Pid']}"):
        pytest.skip("the engine's processes aren't visible from here (remote engine): can't SIGKILL a node")
    before = listed_nodes(env)
    for container in node_containers(engine, env):
        kill_and_wait_back(engine, container)
    assert listed_nodes(env) == before           # the host's kubeconfig: same published port
    pods_ping_each_other(node_containers(engine, env))   # static routes put back by the nodes
    check_pods_resolve(engine, env, dns)  # pods' resolv.conf, the relay, IPv6 DNS set-up


def test_pods_resolve_after_down_and_up_from_the_snapshot(engine, cluster):
    env, dns = cluster
    cli(env, "down")
    cli(env, "up")
    check_pods_resolve(engine, env, dns)


# --- bridged traffic through iptables ---------------------------------------------------------

VIPS = {4: "10.96.200.1", 6: "fd00:30::c8:1"}      # in the default service networks
IPTABLES = {4: "iptables", 6: "ip6tables"}


def service_reply(node, family: int, server_ip: str) -> str:
    """What the client namespace reads from VIPS[family]:80, DNATed (as kube-proxy does) to the
    server namespace's port 8080."""
    vip, tables = VIPS[family], IPTABLES[family]
    dest, target = (f"[{server_ip}]:8080", f"[{vip}]:80") if family == 6 else (f"{server_ip}:8080", f"{vip}:80")
    spec = ["PREROUTING", "-d", vip, "-p", "tcp", "--dport", "80", "-j", "DNAT", "--to-destination", dest]
    exec_in(node, [tables, "-t", "nat", "-I", *spec])
    try:
        code, out = exec_in(node, ["ip", "netns", "exec", "svcclient", "socat", "-t", "3", "-T", "3", "-",
                                   f"TCP{family}:{target},connect-timeout=3"], check=False)
        return out.strip() if code == 0 else f"(no answer, exit {code}: {out.strip()[-200:]})"
    finally:
        exec_in(node, [tables, "-t", "nat", "-D", *spec], check=False)


@pytest.fixture
def two_pods(engine, cluster):
    """A server and a client namespace on the master's CNI bridge; the server answers 'hello'."""
    env = cluster[0]
    node = node_containers(engine, env)[0]
    addresses = {name: attach_test_pod(node, name) for name in ("svcserver", "svcclient")}
    try:
        for name in addresses if make_plan(env).ip_mode != "ipv4" else ():
            wait_for_dad(node, netns=name)
        for family in families_of(env):
            listen = "TCP4-LISTEN:8080" if family == 4 else "TCP6-LISTEN:8080,ipv6only=1"
            exec_in(node, ["sh", "-c", f"ip netns exec svcserver setsid socat {listen},fork,reuseaddr "
                           "SYSTEM:'echo hello' </dev/null >/dev/null 2>&1 &"])
        yield node, {ipaddress.ip_address(a).version: a for a in addresses["svcserver"]}
    finally:
        for name in addresses:
            detach_test_pod(node, name)


def families_of(env: dict) -> list:
    return {"ipv4": [4], "dual-stack": [4, 6], "ipv6": [6]}[make_plan(env).ip_mode]


def test_a_service_on_the_clients_own_bridge_answers_through_its_virtual_ip(cluster, two_pods):
    node, server = two_pods
    for family in families_of(cluster[0]):
        assert service_reply(node, family, server[family]) == "hello", f"IPv{family} through {VIPS[family]}"


def test_without_bridge_netfilter_the_same_service_never_answers(cluster, two_pods):
    """Regression: what kube-proxy's users meet when br_netfilter is off (the check can fail)."""
    node, server = two_pods
    family = families_of(cluster[0])[0]
    sysctl = f"/proc/sys/net/bridge/bridge-nf-call-{IPTABLES[family]}"
    exec_in(node, ["sh", "-c", f"echo 0 > {sysctl}"])
    try:
        assert service_reply(node, family, server[family]) != "hello"
    finally:
        exec_in(node, ["sh", "-c", f"echo 1 > {sysctl}"])
