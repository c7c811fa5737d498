"""Cluster shapes in the plan: NUM_MASTERS (HA control plane and its balancer), clusters grown by
`join` and shrunk by `remove-node`. One master keeps the original's plan exactly."""
import pytest

from dind_cluster import naming
from dind_cluster.errors import ConfigError
from dind_cluster.plan import Shape, make_plan, plan_to_json


def nodes_of(plan):
    return [(n.name, n.role, n.ips, n.pod_cidrs) for n in plan.nodes]


def test_three_masters_count_down_from_below_the_balancer():
    plan = make_plan({"NUM_MASTERS": "3", "NUM_NODES": "1"})
    assert nodes_of(plan) == [
        ("kube-master", "master", ("10.192.0.2",), ("10.244.1.0/24",)),
        ("kube-master-2", "master", ("10.192.0.253",), ("10.244.252.0/24",)),
        ("kube-master-3", "master", ("10.192.0.252",), ("10.244.251.0/24",)),
        ("kube-node-1", "worker", ("10.192.0.3",), ("10.244.2.0/24",))]
    assert plan.balancer.name == "kube-lb" and plan.balancer.ips == ("10.192.0.254",)
    assert plan.endpoint_address == "10.192.0.254" and plan.advertise_address == "10.192.0.2"
    assert [n.name for n in plan.masters] == ["kube-master", "kube-master-2", "kube-master-3"]
    assert [n.name for n in plan.workers] == ["kube-node-1"]
    assert plan_to_json(plan)["load_balancer"] == {"name": "kube-lb", "ips": ["10.192.0.254"]}


@pytest.mark.parametrize("mode, balancer, master2, endpoint", [
    ("ipv6", ("fd00:20::fe",), ("fd00:20::fd",), "fd00:20::fe"),
    ("dual-stack", ("10.192.0.254", "fd00:20::fe"), ("10.192.0.253", "fd00:20::fd"), "fd00:20::fe"),
])
def test_ha_addresses_in_ipv6_and_dual_stack_use_one_host_number_per_family(mode, balancer, master2,
                                                                            endpoint):
    plan = make_plan({"NUM_MASTERS": "2", "IP_MODE": mode, "CLUSTER_ID": "0"})
    assert plan.balancer.ips == balancer
    assert plan.nodes[1].name == "kube-master-2" and plan.nodes[1].ips == master2
    assert plan.endpoint_address == endpoint   # the service family's address, as the advertise address


def test_suffix_names_of_extra_masters_and_the_balancer():
    plan = make_plan({"NUM_MASTERS": "2", "CLUSTER_ID": "7"})
    assert [n.name for n in plan.masters] == ["kube-master-cluster-7", "kube-master-2-cluster-7"]
    assert plan.balancer.name == "kube-lb-cluster-7" and plan.balancer.ips == ("10.192.7.254",)


def test_one_master_has_no_balancer_and_the_original_document():
    plan = make_plan({"NUM_MASTERS": "1"})
    assert plan.balancer is None and "load_balancer" not in plan_to_json(plan)
    assert plan.endpoint_address == plan.advertise_address == "10.192.0.2"
    assert plan_to_json(plan) == plan_to_json(make_plan({}))


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_bad_num_masters(text):
    with pytest.raises(ConfigError, match=r"^NUM_MASTERS: .*; use an integer of 1 or more"):
        make_plan({"NUM_MASTERS": text})


def test_workers_and_masters_must_not_meet():
    make_plan({"NUM_MASTERS": "3", "NUM_NODES": "249"})        # hosts 3..251 | 252, 253 | lb 254
    with pytest.raises(ConfigError, match=r"^NUM_MASTERS: 3 masters and 250 workers don.t fit.*at most 249"):
        make_plan({"NUM_MASTERS": "3", "NUM_NODES": "250"})


def test_a_grown_and_shrunk_shape_keeps_every_remaining_node_where_it_was():
    values = {"NUM_NODES": "2"}
    full = make_plan(values)
    shape = full.shape.with_worker(3).without("worker", 1)
    assert shape == Shape((1,), (2, 3), False) and shape.next_worker() == 1
    grown = make_plan(values, shape=shape)
    assert [n.name for n in grown.nodes] == ["kube-master", "kube-node-2", "kube-node-3"]
    by_name = {n.name: n for n in full.nodes}
    assert grown.nodes[1] == by_name["kube-node-2"]
    assert grown.nodes[2].ips == ("10.192.0.5",) and grown.nodes[2].pod_cidrs == ("10.244.4.0/24",)


def test_ha_shape_round_trips():
    plan = make_plan({"NUM_MASTERS": "3", "NUM_NODES": "1"})
    assert plan.shape == Shape((1, 2, 3), (1,), True)
    assert make_plan({}, shape=plan.shape) == plan


@pytest.mark.parametrize("name, suffix, parsed", [
    ("kube-master", "", ("master", 1)), ("kube-master-3", "", ("master", 3)),
    ("kube-node-12-cluster-4", "-cluster-4", ("worker", 12)), ("kube-master-1", "", None),
    ("kube-node", "", None), ("kube-node-1-other", "", None), ("kube-lb", "", None),
])
def test_parse_node_name(name, suffix, parsed):
    assert naming.parse_node_name(name, suffix) == parsed
