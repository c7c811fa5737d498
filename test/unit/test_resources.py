"""Per-node CPU and memory limits: parsing, the role overrides, the check against the host, the
Docker options, and the kubelet reservation (capacity − limit) rendered for a known host size."""
import pytest
import yaml

from dind_cluster import resources
from dind_cluster.errors import ConfigError
from dind_cluster.plan import make_plan
from dind_cluster.resources import NodeLimits

GIB = 1024 ** 3
HOST_CPUS, HOST_MEMORY = 8, 32 * GIB


@pytest.mark.parametrize("text, cpus", [("2", 2.0), ("1.5", 1.5), ("500m", 0.5), (".25", 0.25)])
def test_cpus(text, cpus):
    assert resources.parse_cpus("DIND_NODE_CPUS", text) == cpus


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5.2", "", "0m", "2 cpus",
                                  "1" * 400, "\u0663", "1e999"])   # no infinity, only ASCII digits
def test_bad_cpus_are_one_line_errors(text):
    with pytest.raises(ConfigError, match=r"^DIND_NODE_CPUS: '.*' is .*; use a positive number of CPUs"):
        resources.parse_cpus("DIND_NODE_CPUS", text)


@pytest.mark.parametrize("text, size", [("2g", 2 * GIB), ("1536m", 1536 * 2**20), ("2Gi", 2 * GIB),
                                        ("512Mi", 512 * 2**20), ("1.5G", int(1.5 * GIB)), ("8192k", 8 * 2**20)])
def test_memory(text, size):
    assert resources.parse_memory("DIND_NODE_MEMORY", text) == size


@pytest.mark.parametrize("text", ["0", "0g", "-1g", "lots", "2048", "1k", "2gigs",
                                  "1" * 400 + "g", "\u0663g"])   # no overflow, only ASCII digits
def test_bad_memory_is_a_one_line_error(text):
    with pytest.raises(ConfigError, match=r"^DIND_NODE_MEMORY: '.*' is .*; use a positive size with a unit"):
        resources.parse_memory("DIND_NODE_MEMORY", text)


def test_role_variables_override_the_node_ones():
    values = {"DIND_NODE_CPUS": "2", "DIND_NODE_MEMORY": "4g", "DIND_MASTER_MEMORY": "8g", "DIND_WORKER_CPUS": "1"}
    master, worker = resources.limits_for(values, "master"), resources.limits_for(values, "worker")
    assert (master.cpus, master.memory, master.memory_from) == (2.0, 8 * GIB, "DIND_MASTER_MEMORY")
    assert (worker.cpus, worker.memory, worker.cpus_from) == (1.0, 4 * GIB, "DIND_WORKER_CPUS")
    assert not resources.limits_for({}, "worker").any


def test_the_plan_carries_each_nodes_limits_and_reports_a_bad_value():
    plan = make_plan({"NUM_NODES": "1", "DIND_MASTER_CPUS": "2", "DIND_WORKER_MEMORY": "1g"})
    assert plan.master.limits.cpus == 2.0 and plan.master.limits.memory is None
    assert plan.workers[0].limits.memory == GIB and plan.workers[0].limits.cpus is None
    with pytest.raises(ConfigError, match=r"^DIND_WORKER_CPUS: "):
        make_plan({"DIND_WORKER_CPUS": "-2"})


def test_more_than_the_host_has_is_refused():
    with pytest.raises(ConfigError, match=r"^DIND_NODE_CPUS: 9 CPUs is more than the host's 8; use at most 8$"):
        resources.check_against_host(resources.limits_for({"DIND_NODE_CPUS": "9"}, "worker"), HOST_CPUS, HOST_MEMORY)
    with pytest.raises(ConfigError, match=r"^DIND_MASTER_MEMORY: 33792 MiB is more than the host's 32768 MiB"):
        resources.check_against_host(resources.limits_for({"DIND_MASTER_MEMORY": "33g"}, "master"),
                                     HOST_CPUS, HOST_MEMORY)
    resources.check_against_host(NodeLimits(cpus=8.0, memory=HOST_MEMORY), HOST_CPUS, HOST_MEMORY)


def test_docker_options():
    assert resources.docker_limits(NodeLimits(cpus=1.5, memory=2 * GIB)) == {
        "nano_cpus": 1_500_000_000, "mem_limit": 2 * GIB, "memswap_limit": 2 * GIB}
    assert resources.docker_limits(NodeLimits()) == {}


def test_rendered_kubelet_patch_reserves_capacity_minus_limit_for_a_known_host():
    limits = resources.limits_for({"DIND_NODE_CPUS": "1.5", "DIND_NODE_MEMORY": "2g"}, "worker")
    reserved = resources.reservation(limits, HOST_CPUS, HOST_MEMORY)
    assert reserved == {"cpu": "6500m", "memory": f"{30 * 1024 * 1024}Ki"}
    doc = yaml.safe_load(resources.render_kubelet_patch(reserved))
    assert doc == {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                   "systemReserved": {"cpu": "6500m", "memory": "31457280Ki"}}
    # allocatable = capacity - systemReserved (evictionHard for memory is left at 0 by our config)
    assert HOST_MEMORY - int(doc["systemReserved"]["memory"][:-2]) * 1024 == 2 * GIB


def test_no_reservation_for_a_limit_equal_to_the_host():
    assert resources.reservation(NodeLimits(cpus=8.0, memory=HOST_MEMORY), HOST_CPUS, HOST_MEMORY) == {}


class _Engine:
    """Just enough of a Docker client for the host's size: counts `docker info` calls."""

    def __init__(self):
        self.infos = 0

    def info(self):
        self.infos += 1
        return {"NCPU": 8, "MemTotal": 32 * 2**30}


def test_the_hosts_size_is_asked_of_the_engine_once_per_command():
    # the limits check, the master's kubelet patch and the workers' each need it
    from dind_cluster.actions import kube, steps
    from dind_cluster.actions.context import ActionContext
    from dind_cluster.ui import Progress

    values = {"NUM_NODES": "2", "DIND_NODE_CPUS": "2", "DIND_NODE_MEMORY": "2g", "EMBEDDED_CONFIG": "y"}
    engine = _Engine()
    ctx = ActionContext(plan=make_plan(values), values=values, environ={}, progress=Progress(quiet=True),
                        _client=engine)
    steps.check_host_limits(ctx)
    patches = {**kube.kubelet_patches(ctx, ctx.plan.nodes[:1]), **kube.kubelet_patches(ctx, ctx.plan.nodes[1:])}
    assert engine.infos == 1
    assert sorted(patches) == [node.name for node in ctx.plan.nodes]


@pytest.mark.parametrize("limits", [NodeLimits(), NodeLimits(cpus=1.5), NodeLimits(memory=768 * 2**20),
                                    NodeLimits(cpus=0.25, memory=6 * 2**20, cpus_from="DIND_NODE_CPUS"),
                                    NodeLimits(cpus=1.2345678)])
def test_the_limits_label_records_what_a_node_was_made_with(limits):
    text = resources.limits_label(limits)
    assert resources.same_limits(resources.parse_limits_label(text), limits)


@pytest.mark.parametrize("text", ["", "cpus=", "cpus=1,cpus=2", "memory=1.5", "cpus=-1", "gpus=1",
                                  "memory=" + "9" * 500, "cpus=1;rm -rf /"])
def test_a_limits_label_set_by_hand_is_not_taken_for_limits(text):
    assert resources.parse_limits_label(text) is None


def test_limits_are_described_in_words():
    assert resources.describe_limits(NodeLimits()) == "no limits"
    assert resources.describe_limits(NodeLimits(cpus=1, memory=768 * 2**20)) == "1 CPU and 768 MiB"
    assert resources.describe_limits(NodeLimits(cpus=2.5)) == "2.5 CPUs"
