"""Preflight rules with hand-made facts, and the parsers that turn host files into facts."""
from __future__ import annotations

from dataclasses import replace

import pytest

from dind_cluster.backend.facts import docker_network, engine_controllers
from dind_cluster.host_facts import host_facts, parse_proc_ipv6_route, parse_proc_route
from dind_cluster.plan import make_plan
from dind_cluster.preflight import (GIB, DockerNetwork, Facts, HostRoute, Problem, disk_needed,
                                    run_preflight)

HEALTHY = Facts(
    api_version="1.41", cgroup_version=1, cgroup_controllers=frozenset({"cpu", "memory", "pids"}),
    networks=(DockerNetwork("bridge", ("172.17.0.0/16",), None, "docker0"),),
    kernel_ipv6=True, tun_device=True,
    routes=(HostRoute("0.0.0.0/0", "eth0"), HostRoute("192.0.2.0/24", "eth0"),
            HostRoute("172.17.0.0/16", "docker0"), HostRoute("fe80::/64", "eth0"),
            HostRoute("::/0", "eth0"), HostRoute("ff00::/8", "eth0")),
    max_user_watches=524288, max_user_instances=512, free_disk=100 * GIB,
    bridge_netfilter=True, netfilter_module=False)
MODES = ("ipv4", "ipv6", "dual-stack")


def plan(mode="ipv4", **values):
    return make_plan({"IP_MODE": mode, **values})


def messages(facts, p) -> list[str]:
    return [problem.message for problem in run_preflight(facts, p)]


@pytest.mark.parametrize("mode", MODES)
def test_a_healthy_host_has_no_problems(mode):
    assert run_preflight(HEALTHY, plan(mode)) == []


# ---- IPv6 and tun ----

@pytest.mark.parametrize("mode, flagged", [("ipv4", False), ("ipv6", True), ("dual-stack", True)])
def test_ipv6_disabled_on_the_host_is_a_problem_when_the_mode_needs_it(mode, flagged):
    found = messages(replace(HEALTHY, kernel_ipv6=False), plan(mode))
    assert any("needs IPv6" in m for m in found) is flagged


@pytest.mark.parametrize("mode, flagged", [("ipv4", False), ("ipv6", True), ("dual-stack", False)])
def test_missing_tun_device_is_a_problem_only_for_nat64(mode, flagged):
    problems = run_preflight(replace(HEALTHY, tun_device=False), plan(mode))
    assert bool(problems) is flagged
    assert all("modprobe tun" in p.fix for p in problems)


def test_unknown_host_facts_are_not_checked():
    unknown = replace(HEALTHY, kernel_ipv6=None, tun_device=None, routes=None,
                      max_user_watches=None, max_user_instances=None, free_disk=None)
    assert run_preflight(unknown, plan("ipv6", NUM_NODES="20")) == []


# ---- overlaps with Docker networks ----

def test_overlap_with_another_docker_network_names_it_and_both_subnets():
    theirs = DockerNetwork("vpn-lab", ("10.192.0.0/16",), None, "br-0123456789ab")
    (problem,) = run_preflight(replace(HEALTHY, networks=(theirs,)), plan())
    assert problem.message == ("MGMT_CIDRS: 10.192.0.0/24 overlaps 10.192.0.0/16 of Docker "
                               "network vpn-lab")
    assert "docker network rm vpn-lab" in problem.fix


def test_overlap_with_the_nat64_network_names_its_variable():
    theirs = DockerNetwork("compose_default", ("172.18.0.0/16",), None, "br-aaaaaaaaaaaa")
    found = messages(replace(HEALTHY, networks=(theirs,)), plan("ipv6"))
    assert found == ["NAT64_V4_SUBNET_PREFIX: 172.18.0.0/16 overlaps 172.18.0.0/16 of Docker "
                     "network compose_default"]


def test_our_own_network_is_not_an_overlap_but_a_namesake_of_another_cluster_is():
    p = plan(CLUSTER_ID="2")
    ours = DockerNetwork(p.network.name, ("10.192.2.0/24",), p.cluster_key, "br-1")
    assert run_preflight(replace(HEALTHY, networks=(ours,)), p) == []
    namesake = replace(ours, cluster_key="someone-else")
    assert len(run_preflight(replace(HEALTHY, networks=(namesake,)), p)) == 1


def test_networks_of_the_other_family_do_not_overlap():
    v6 = DockerNetwork("v6only", ("fd00:20::/48",), None, "br-2")
    assert run_preflight(replace(HEALTHY, networks=(v6,)), plan("ipv4")) == []
    assert len(run_preflight(replace(HEALTHY, networks=(v6,)), plan("ipv6"))) == 1


# ---- overlaps with host routes ----

@pytest.mark.parametrize("route, variable", [
    ("10.192.0.0/16", "MGMT_CIDRS"),
    ("10.244.7.0/24", "POD_NETWORK_CIDR"),
    ("10.100.0.0/16", "SERVICE_CIDR"),
])
def test_a_vpn_route_overlapping_a_planned_network_is_named(route, variable):
    facts = replace(HEALTHY, routes=HEALTHY.routes + (HostRoute(route, "tun0"),))
    (problem,) = run_preflight(facts, plan())
    assert problem.message.startswith(f"{variable}: ")
    assert f"host route {route} dev tun0" in problem.message
    assert f"choose another {variable}" in problem.fix


def test_dns64_prefix_is_checked_against_ipv6_routes():
    facts = replace(HEALTHY, routes=(HostRoute("fd00:10:64::/48", "wg0"),))
    (problem,) = run_preflight(facts, plan("ipv6"))
    assert problem.message.startswith("DNS64_PREFIX: fd00:10:64:ff9b::/96 overlaps")


@pytest.mark.parametrize("route", [
    HostRoute("10.192.0.0/24", "br-0123456789ab"),   # a Docker network's bridge
    HostRoute("10.192.0.5/32", "veth12ab"),
    HostRoute("10.192.0.1/32", "lo"),
    HostRoute("0.0.0.0/0", "eth0"),
])
def test_docker_default_and_loopback_routes_are_not_clashes(route):
    net = DockerNetwork("other", (), None, "br-0123456789ab")
    facts = replace(HEALTHY, networks=(net,), routes=(route,))
    assert run_preflight(facts, plan()) == []


# ---- inotify ----

@pytest.mark.parametrize("instances, num_nodes, flagged", [
    (128, "2", False),     # 3 nodes x 16 = 48
    (128, "7", False),     # 8 nodes = 128
    (128, "8", True),      # 9 nodes = 144
    (512, "31", False),
])
def test_inotify_instances_scale_with_the_number_of_nodes(instances, num_nodes, flagged):
    facts = replace(HEALTHY, max_user_instances=instances)
    found = messages(facts, plan(NUM_NODES=num_nodes))
    assert any("fs.inotify.max_user_instances" in m for m in found) is flagged


def test_inotify_fix_names_the_sysctl_and_a_value_at_least_the_recommended_one():
    (problem,) = run_preflight(replace(HEALTHY, max_user_watches=8192), plan())
    assert problem.message.startswith("fs.inotify.max_user_watches is 8192; 3 nodes")
    assert problem.fix.startswith("sudo sysctl -w fs.inotify.max_user_watches=524288")


def test_running_nodes_of_other_clusters_count_but_our_own_do_not():
    facts = replace(HEALTHY, max_user_instances=128)
    assert run_preflight(replace(facts, node_clusters=("default",) * 3), plan()) == []
    assert run_preflight(replace(facts, node_clusters=("cluster-2",) * 5), plan()) == []
    (problem,) = run_preflight(replace(facts, node_clusters=("cluster-2",) * 6), plan())
    assert "9 nodes on this host need 144" in problem.message


# ---- disk ----

def test_too_little_free_disk_is_a_problem_with_the_amounts():
    p = plan()
    assert run_preflight(replace(HEALTHY, free_disk=disk_needed(p)), p) == []
    (problem,) = run_preflight(replace(HEALTHY, free_disk=GIB, data_root="/srv/docker"), p)
    assert problem.message.startswith("only 1.0 GiB free under /srv/docker")
    assert "docker system prune" in problem.fix


def test_disk_needed_grows_with_nodes():
    assert disk_needed(plan(NUM_NODES="5")) > disk_needed(plan(NUM_NODES="1")) >= 2 * GIB


# ---- cgroups ----

def test_cgroup_v1_needs_no_delegated_controllers():
    facts = replace(HEALTHY, cgroup_version=1, api_version="1.41", cgroup_controllers=frozenset())
    assert run_preflight(facts, plan()) == []


@pytest.mark.parametrize("version", [1, 2])
def test_both_cgroup_versions_need_an_engine_with_private_cgroupns(version):
    facts = replace(HEALTHY, cgroup_version=version, api_version="1.40")
    (problem,) = run_preflight(facts, plan())
    assert f"cgroup v{version} host" in problem.message and "private cgroup namespace" in problem.message
    assert "20.10" in problem.fix


@pytest.mark.parametrize("rootless, who", [(True, "rootless Docker"), (False, "the Docker engine")])
def test_cgroup_v2_without_delegated_controllers_says_which(rootless, who):
    facts = replace(HEALTHY, cgroup_version=2, rootless=rootless,
                    cgroup_controllers=frozenset({"cpu"}))
    (problem,) = run_preflight(facts, plan())
    assert problem.message == f"cgroup v2 controllers memory, pids are not delegated to {who}"
    assert "Delegate=" in problem.fix


def test_every_problem_is_one_line_plus_one_line_fix():
    bad = Facts(api_version="1.40", cgroup_version=2, cgroup_controllers=frozenset(),
                networks=(DockerNetwork("x", ("10.192.0.0/16", "172.18.0.0/16"), None),),
                kernel_ipv6=False, tun_device=False,
                routes=(HostRoute("10.96.0.0/12", "tun0"),), max_user_watches=1,
                max_user_instances=1, free_disk=0)
    problems = run_preflight(bad, plan("ipv6"))
    assert len(problems) >= 8
    for problem in problems:
        assert isinstance(problem, Problem)
        assert "\n" not in problem.message and "\n" not in problem.fix
        assert problem.message and problem.fix


# ---- gathering: parsers of host files and engine answers ----

PROC_ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
tun0\t0000600A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
dead0\t0000610A\t00000000\t0000\t0\t0\t0\t0000FFFF\t0\t0\t0
"""

# The kernel's lines, verbatim (longer than 100 columns).
PROC_IPV6_ROUTE = """\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0
fd000000000000000000000000000000 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 00300001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
"""


def test_proc_route_gives_up_routes_as_cidrs():
    assert parse_proc_route(PROC_ROUTE) == [
        HostRoute("0.0.0.0/0", "eth0"), HostRoute("192.0.2.0/24", "eth0"),
        HostRoute("10.96.0.0/16", "tun0")]


def test_proc_ipv6_route_skips_local_anycast_and_down_routes():
    assert parse_proc_ipv6_route(PROC_IPV6_ROUTE) == [HostRoute("fd00::/64", "eth0")]


def test_docker_network_reads_subnets_label_and_bridge():
    attrs = {"Name": "kubeadm-dind-net", "Id": "0123456789abcdef", "Driver": "bridge",
             "Labels": {"dind-cluster.io/cluster": "default"},
             "IPAM": {"Config": [{"Subnet": "10.192.0.0/24", "Gateway": "10.192.0.1"}]}}
    assert docker_network(attrs) == DockerNetwork("kubeadm-dind-net", ("10.192.0.0/24",),
                                                  "default", "br-0123456789ab")
    named = {**attrs, "Options": {"com.docker.network.bridge.name": "docker0"}, "Labels": None}
    assert docker_network(named).bridge == "docker0" and docker_network(named).cluster_key is None
    host = {"Name": "host", "Id": "x", "Driver": "host", "IPAM": None}
    assert docker_network(host).bridge is None


def test_engine_controllers_come_from_docker_info_flags():
    info = {"CpuCfsQuota": True, "MemoryLimit": True, "PidsLimit": False}
    assert engine_controllers(info) == frozenset({"cpu", "memory"})


def test_host_facts_read_a_proc_tree(tmp_path):
    for rel, text in {"proc/net/route": PROC_ROUTE, "proc/net/ipv6_route": PROC_IPV6_ROUTE,
                      "proc/sys/fs/inotify/max_user_watches": "8192\n",
                      "proc/sys/fs/inotify/max_user_instances": "128\n",
                      "dev/net/tun": ""}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "var/lib/docker").mkdir(parents=True)
    facts = host_facts(tmp_path, "/var/lib/docker")
    assert facts["max_user_watches"] == 8192 and facts["max_user_instances"] == 128
    assert facts["tun_device"] is True and facts["kernel_ipv6"] is False
    assert HostRoute("10.96.0.0/16", "tun0") in facts["routes"]
    assert facts["free_disk"] > 0


@pytest.mark.parametrize("driver, anyway, flagged", [
    ("btrfs", False, True), ("btrfs", True, False), ("overlay2", False, False), ("zfs", False, False),
])
def test_btrfs_storage_driver_is_refused_unless_run_on_btrfs_anyway(driver, anyway, flagged):
    facts = replace(HEALTHY, storage_driver=driver)
    found = [p for p in run_preflight(facts, plan(), btrfs_anyway=anyway) if "btrfs" in p.message]
    assert bool(found) is flagged
    if found:
        assert "RUN_ON_BTRFS_ANYWAY" in found[0].fix


# ---- br_netfilter ----

@pytest.mark.parametrize("loaded, module, cni, problems", [
    (True, False, "bridge", 0),        # loaded on the host: nodes see it
    (False, True, "bridge", 0),        # nodes load it themselves from /lib/modules
    (False, False, "bridge", 1),       # nobody can: Services on the client's node fail
    (False, False, "ptp", 0),          # ptp doesn't bridge pod traffic
    (None, None, "bridge", 0),         # remote engine: not known here (up checks in the nodes)
])
def test_bridge_cni_needs_br_netfilter_somewhere(loaded, module, cni, problems):
    facts = replace(HEALTHY, bridge_netfilter=loaded, netfilter_module=module)
    found = [p for p in run_preflight(facts, plan(CNI_PLUGIN=cni)) if "br_netfilter" in p.message]
    assert len(found) == problems
    if found:
        assert "modprobe br_netfilter" in found[0].fix and "modules-load.d" in found[0].fix


def test_host_facts_find_br_netfilter_and_its_module(tmp_path):
    from dind_cluster.host_facts import host_facts

    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/osrelease").write_text("6.1.0-test\n")
    assert host_facts(tmp_path, "/var/lib/docker")["bridge_netfilter"] is False
    assert host_facts(tmp_path, "/var/lib/docker")["netfilter_module"] is False
    module = tmp_path / "lib/modules/6.1.0-test/kernel/net/bridge/br_netfilter.ko.xz"
    module.parent.mkdir(parents=True)
    module.write_bytes(b"")
    (tmp_path / "proc/sys/net/bridge").mkdir(parents=True)
    facts = host_facts(tmp_path, "/var/lib/docker")
    assert facts["bridge_netfilter"] is True and facts["netfilter_module"] is True


# ---- host limits for many nodes ----

@pytest.mark.parametrize("pid_max, num_nodes, flagged", [(32768, "31", False), (32768, "32", True),
                                                        (4194304, "200", False)])
def test_pid_max_scales_with_the_number_of_nodes(pid_max, num_nodes, flagged):
    found = run_preflight(replace(HEALTHY, pid_max=pid_max), plan(NUM_NODES=num_nodes))
    hits = [p for p in found if p.message.startswith("kernel.pid_max")]
    assert bool(hits) is flagged
    assert all(p.fix.startswith("sudo sysctl -w kernel.pid_max=4194304") for p in hits)


def test_memory_for_the_nodes_counts_their_limits_or_a_typical_node():
    host = replace(HEALTHY, host_memory=4 * GIB)
    assert not any("memory" in m for m in messages(host, plan(NUM_NODES="6")))       # 7 x 512 MiB
    assert any(m.startswith("9 nodes may need 4.5 GiB") for m in messages(host, plan(NUM_NODES="8")))
    limited = plan(NUM_NODES="8", DIND_NODE_MEMORY="256m")
    assert not any("memory" in m for m in messages(host, limited))


def test_host_limit_estimates_are_warnings_not_errors():
    facts = replace(HEALTHY, pid_max=1024, host_memory=GIB, max_user_instances=16)
    found = run_preflight(facts, plan(NUM_NODES="3"))
    assert {p.message.split()[0] for p in found} == {"fs.inotify.max_user_instances", "kernel.pid_max", "4"}
    assert all(p.warning for p in found)
    assert str(found[0]).startswith("warning: ")
