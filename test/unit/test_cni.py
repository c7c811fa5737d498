"""Pod network for bridge/ptp (conflist, static routes) and the CNI manifest URLs."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from dind_cluster import cni
from dind_cluster.errors import ConfigError
from kubeadm_plans import PLANS, dual_stack, ipv4, ipv6

GOLDEN = Path(__file__).parent / "golden"


def conflist(plan, node) -> dict:
    return json.loads(cni.render_cni_conflist(plan, node))


def main_plugin(plan, node) -> dict:
    return conflist(plan, node)["plugins"][0]


@pytest.mark.parametrize("plugin", cni.CONFLIST_PLUGINS)
@pytest.mark.parametrize("mode", PLANS)
def test_conflist_matches_golden_file(mode, plugin):
    plan = replace(PLANS[mode](), cni_plugin=plugin)
    text = cni.render_cni_conflist(plan, plan.workers[0])
    path = GOLDEN / f"cni-{plugin}-{mode}.conflist"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("mode", PLANS)
def test_conflist_gives_each_node_its_own_subnets_per_family(mode):
    plan = PLANS[mode]()
    for node in plan.nodes:
        ipam = main_plugin(plan, node)["ipam"]
        assert ipam["type"] == "host-local"
        assert ipam["ranges"] == [[{"subnet": cidr, "gateway": gw}]
                                  for cidr, gw in zip(node.pod_cidrs, node.pod_gateways)]


@pytest.mark.parametrize("plan, routes", [
    (ipv4(), [{"dst": "0.0.0.0/0"}]),
    (ipv6(), [{"dst": "::/0"}]),
    (dual_stack(), [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]),
])
def test_conflist_routes_every_family_through_the_node(plan, routes):
    assert main_plugin(plan, plan.master)["ipam"]["routes"] == routes


@pytest.mark.parametrize("hairpin", [True, False])
def test_bridge_is_dind0_gateway_with_masquerade_and_the_plans_hairpin_mode(hairpin):
    plan = replace(ipv4(), use_hairpin=hairpin)
    whole = conflist(plan, plan.master)
    assert whole["cniVersion"] == "1.0.0" and whole["name"] == "dindnet"
    bridge = whole["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["bridge"] == "dind0"
    assert bridge["isGateway"] is True and bridge["ipMasq"] is True
    assert bridge["hairpinMode"] is hairpin


def test_ptp_has_no_bridge_fields():
    plan = replace(dual_stack(), cni_plugin="ptp")
    ptp = main_plugin(plan, plan.master)
    assert ptp["type"] == "ptp" and ptp["ipMasq"] is True
    assert not {"bridge", "isGateway", "hairpinMode"} & set(ptp)


@pytest.mark.parametrize("plugin", cni.CONFLIST_PLUGINS)
def test_portmap_follows_so_host_ports_work(plugin):
    plan = replace(ipv4(), cni_plugin=plugin)
    portmap = conflist(plan, plan.master)["plugins"][1]
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}


def test_conflist_is_only_for_bridge_and_ptp():
    plan = replace(ipv4(), cni_plugin="flannel")
    with pytest.raises(ValueError):
        cni.render_cni_conflist(plan, plan.master)


def test_static_routes_send_other_nodes_pods_via_their_address_ipv4():
    # reference §3.7, routes of example 1
    routes = cni.static_route_commands(ipv4())
    assert routes["kube-master"] == [
        ["ip", "route", "replace", "10.244.2.0/24", "via", "10.192.0.3"],
        ["ip", "route", "replace", "10.244.3.0/24", "via", "10.192.0.4"]]
    assert routes["kube-node-2"] == [
        ["ip", "route", "replace", "10.244.1.0/24", "via", "10.192.0.2"],
        ["ip", "route", "replace", "10.244.2.0/24", "via", "10.192.0.3"]]


def test_static_routes_use_ip_dash_6_for_ipv6_families():
    routes = cni.static_route_commands(dual_stack())
    assert routes["kube-master"][:2] == [
        ["ip", "route", "replace", "10.244.2.0/24", "via", "10.192.0.3"],
        ["ip", "-6", "route", "replace", "fd00:40:0:0:2::/80", "via", "fd00:20::3"]]
    assert cni.static_route_commands(ipv6())["kube-node-1"][0] == [
        "ip", "-6", "route", "replace", "fd00:40:0:0:1::/80", "via", "fd00:20::2"]


@pytest.mark.parametrize("mode", PLANS)
def test_every_node_routes_to_every_other_nodes_subnets_and_never_its_own(mode):
    plan = PLANS[mode]()
    routes = cni.static_route_commands(plan)
    assert set(routes) == {node.name for node in plan.nodes}
    for node in plan.nodes:
        dests = {argv[-3] for argv in routes[node.name]}
        others = {c for other in plan.nodes if other is not node for c in other.pod_cidrs}
        assert dests == others


def test_plugins_with_their_own_routing_get_no_static_routes():
    assert cni.static_route_commands(replace(ipv4(), cni_plugin="calico")) == {}


@pytest.mark.parametrize("plugin, expected", [
    ("flannel", "https://github.com/flannel-io/flannel/releases/download/v0.26.1/kube-flannel.yml"),
    ("calico", "https://raw.githubusercontent.com/projectcalico/calico/v3.28.2/manifests/calico.yaml"),
    ("calico-kdd",
     "https://raw.githubusercontent.com/projectcalico/calico/v3.28.2/manifests/calico.yaml"),
    ("weave",
     "https://github.com/weaveworks/weave/releases/download/v2.8.1/weave-daemonset-k8s.yaml"),
    ("kube-router", "https://raw.githubusercontent.com/cloudnativelabs/kube-router/v2.4.0"
                    "/daemonset/kubeadm-kuberouter.yaml"),
])
def test_manifest_urls_are_pinned_by_default(plugin, expected):
    assert cni.cni_manifest_url(plugin, {}) == expected


def test_manifest_url_variable_overrides_everything():
    values = {"FLANNEL_MANIFEST_URL": "file:///srv/flannel.yml", "FLANNEL_VERSION": "v0.1.0"}
    assert cni.cni_manifest_url("flannel", values) == "file:///srv/flannel.yml"


def test_version_variable_keeps_the_url_pattern():
    url = cni.cni_manifest_url("calico-kdd", {"CALICO_VERSION": "v3.29.1"})
    assert url == "https://raw.githubusercontent.com/projectcalico/calico/v3.29.1/manifests/calico.yaml"


@pytest.mark.parametrize("version", ["v3.3", "latest", "3.28.2"])
def test_old_or_partial_version_tags_are_config_errors(version):
    with pytest.raises(ConfigError) as err:
        cni.cni_manifest_url("calico", {"CALICO_VERSION": version})
    assert err.value.variable == "CALICO_VERSION"


@pytest.mark.parametrize("plugin", ["bridge", "ptp", "cilium"])
def test_plugins_without_a_manifest_are_config_errors(plugin):
    with pytest.raises(ConfigError) as err:
        cni.cni_manifest_url(plugin, {})
    assert err.value.variable == "CNI_PLUGIN"


@pytest.mark.parametrize("mode", PLANS)
def test_route_files_hold_the_same_routes_as_the_commands(mode):
    """The file a node reads at every boot and the commands `up` runs agree route for route."""
    plan = PLANS[mode]()
    files, commands = cni.route_files(plan), cni.static_route_commands(plan)
    for name, argvs in commands.items():
        lines = [line.split() for line in files[name].splitlines()]
        assert [["ip", *([] if f == "-4" else ["-6"]), "route", "replace", d, "via", v]
                for f, d, v in lines] == argvs


def test_route_files_are_empty_for_plugins_that_route_themselves():
    assert cni.route_files(replace(ipv4(), cni_plugin="flannel")) == {}


@pytest.mark.parametrize("plugin", cni.CONFLIST_PLUGINS)
@pytest.mark.parametrize("mode", PLANS)
def test_boot_files_give_every_node_its_conflist_and_routes_before_it_starts(mode, plugin):
    """A new bridge/ptp cluster needs no pod-network step after kubeadm: each node starts with its
    CNI conflist and the routes file its dind-node-setup applies at boot."""
    plan = replace(PLANS[mode](), cni_plugin=plugin)
    files, routes = cni.boot_files(plan), cni.route_files(plan)
    assert set(files) == {node.name for node in plan.nodes}
    for node in plan.nodes:
        assert files[node.name] == {cni.CONFLIST_PATH: cni.render_cni_conflist(plan, node),
                                    cni.ROUTES_PATH: routes.get(node.name, "")}


@pytest.mark.parametrize("plugin", ["flannel", "calico", "weave", "kube-router"])
def test_boot_files_are_empty_for_plugins_applied_as_manifests(plugin):
    assert cni.boot_files(replace(ipv4(), cni_plugin=plugin)) == {}
