"""Clusters side by side on one engine, through the real CLI (reference §4: names and subnets come
from CLUSTER_ID and DIND_LABEL; the original refused two dual-stack clusters).

Side-by-side clusters share one HOME, so one kubeconfig holds both contexts, as for a user.
"""
from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker.types
import pytest

from dind_cluster.naming import CLUSTER_LABEL
from dind_cluster.plan import make_plan

from clusters import cli, cluster_env, owned, ping_between_test_pods
from test_ipv6_clusters import (NAT64_BASE, cluster_key, config_json,
                                free_cluster_id, kubeconfig_server, listed_nodes,
                                new_helper_images, node_containers, remove_clusters,
                                remove_images, unused, with_local_dns)

pytestmark = pytest.mark.docker


def up_together(envs: list, cleanups: list) -> None:
    """`up` every cluster at the same time; their removal is registered before anything starts."""
    cleanups.extend(envs)
    with ThreadPoolExecutor(max_workers=len(envs)) as pool:
        for future in [pool.submit(cli, env, "up") for env in envs]:
            future.result()


def ipv4_values(engine, taken: set) -> dict:
    """CLUSTER_ID=3 (context dind-cluster-3), or a free id of ours if 3 is in use here."""
    wanted = {"CLUSTER_ID": "3"}
    return wanted if unused(engine, wanted) else {"CLUSTER_ID": free_cluster_id(engine, taken)}


def ipv6_values(engine, taken: set) -> dict:
    """DIND_LABEL=foo (context dind-foo), or foo with a free id of ours if foo is in use here."""
    wanted = {"IP_MODE": "ipv6", "DIND_LABEL": "foo"}
    if unused(engine, wanted):
        return wanted
    mode = {**wanted, "NAT64_V4_SUBNET_PREFIX": NAT64_BASE}
    return {**mode, "CLUSTER_ID": free_cluster_id(engine, taken, **mode)}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("sidehome")


@pytest.fixture(scope="module")
def pair(engine, home):
    """An IPv4 cluster and an IPv6-only cluster, brought up at the same time."""
    taken: set = set()
    v4 = cluster_env(home, **ipv4_values(engine, taken))
    v6 = with_local_dns(cluster_env(home, **ipv6_values(engine, taken)))
    keys, images = [], new_helper_images(engine)
    try:
        up_together([v4, v6], keys)
        yield v4, v6
    finally:
        remove_clusters(engine, keys)
        remove_images(engine, images)


def test_the_default_names_of_the_pair_are_the_originals(pair):
    v4, v6 = pair
    if v4["CLUSTER_ID"] == "3":
        assert make_plan(v4).context == "dind-cluster-3"
    if "CLUSTER_ID" not in v6:
        assert make_plan(v6).context == "dind-foo"


def test_both_kubectl_contexts_list_their_own_nodes(pair):
    for env in pair:
        assert listed_nodes(env) == sorted(n.name for n in make_plan(env).nodes)
    assert kubeconfig_server(pair[0]).startswith("https://127.0.0.1:")
    assert kubeconfig_server(pair[1]).startswith("https://[::1]:")


def test_names_subnets_ports_and_contexts_do_not_collide(engine, pair):
    configs = [config_json(env) for env in pair]
    assert_disjoint(engine, pair, configs)


def assert_disjoint(engine, envs, configs) -> None:
    first, second = configs
    assert first["context"] != second["context"]
    assert first["network"]["name"] != second["network"]["name"]
    assert not {n["name"] for n in first["nodes"]} & {n["name"] for n in second["nodes"]}
    for mine in first["network"]["subnets"]:
        for theirs in second["network"]["subnets"]:
            a, b = ipaddress.ip_network(mine), ipaddress.ip_network(theirs)
            assert a.version != b.version or not a.overlaps(b), f"{mine} overlaps {theirs}"
    ports = [cli(env, "apiserver-port").stdout.strip() for env in envs]
    assert ports[0] != ports[1] and all(p.isdigit() and int(p) > 0 for p in ports)
    keys = {c.labels[CLUSTER_LABEL] for env in envs for c in node_containers(engine, env)}
    assert keys == {cluster_key(env) for env in envs}


def test_second_up_of_a_running_cluster_says_so_and_changes_nothing(engine, pair):
    env = pair[1]
    before = sorted(c.id for c in owned(engine, cluster_key(env))[0])
    result = cli(env, "up")
    assert "already up" in result.stderr
    assert sorted(c.id for c in owned(engine, cluster_key(env))[0]) == before


def test_a_dual_stack_cluster_comes_up_beside_the_ipv6_only_one(engine, pair, home):
    dual = cluster_env(home, IP_MODE="dual-stack", CLUSTER_ID=free_cluster_id(engine, set(), IP_MODE="dual-stack"))
    cleanups: list = []
    try:
        up_together([dual], cleanups)
        ping_between_test_pods(node_containers(engine, dual))       # both families, across nodes
        assert_disjoint(engine, [pair[1], dual], [config_json(pair[1]), config_json(dual)])
        assert listed_nodes(pair[1]) == sorted(n.name for n in make_plan(pair[1]).nodes)
    finally:
        remove_clusters(engine, cleanups)


def test_clean_of_one_leaves_the_other_running_with_its_kubectl(engine, pair):
    gone, kept = pair
    cli(gone, "clean")
    assert owned(engine, cluster_key(gone)) == ([], [], [])
    assert {c.status for c in node_containers(engine, kept)} == {"running"}
    assert listed_nodes(kept) == sorted(n.name for n in make_plan(kept).nodes)
    kubeconfig = Path(kept["KUBECONFIG"]).read_text()   # one file for both clusters
    assert make_plan(gone).context not in kubeconfig and make_plan(kept).context in kubeconfig


@pytest.fixture(scope="module")
def dual_pair(engine, home):
    taken: set = set()
    envs = [cluster_env(home, IP_MODE="dual-stack",
                           CLUSTER_ID=free_cluster_id(engine, taken, IP_MODE="dual-stack"))
            for _ in range(2)]
    keys: list = []
    try:
        up_together(envs, keys)
        yield envs
    finally:
        remove_clusters(engine, keys)


def test_two_dual_stack_clusters_come_up_side_by_side(engine, dual_pair):
    for env in dual_pair:
        assert listed_nodes(env) == sorted(n.name for n in make_plan(env).nodes)
    assert_disjoint(engine, dual_pair, [config_json(env) for env in dual_pair])


def test_preflight_refuses_a_subnet_in_use_before_creating_anything(engine, scope, tmp_path):
    env = cluster_env(tmp_path, CLUSTER_ID=free_cluster_id(engine, set()))
    subnet = config_json(env)["network"]["subnets"][0]
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
    engine.networks.create(f"overlap-{scope.value}", driver="bridge", ipam=ipam,
                           labels=scope.labels)
    result = cli(env, "up", check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("ERROR: preflight: MGMT_CIDRS: ")
    assert subnet in errors[0] and f"overlap-{scope.value}" in errors[0]
    assert owned(engine, cluster_key(env)) == ([], [], [])
