"""Address arithmetic (reference §3): cluster-ID injection, pod split, NAT64, routes."""
import pytest
from netaddr import IPNetwork

from dind_cluster import network
from dind_cluster.errors import ConfigError
from dind_cluster.plan import make_plan


@pytest.mark.parametrize("text, parts", [
    ("10.1.0.0/24,fd00::/64", ["10.1.0.0/24", "fd00::/64"]),
    ("fd00:99::/64, 10.50.0.0/24", ["fd00:99::/64", "10.50.0.0/24"]),
    ("  a  b ,, c ", ["a", "b", "c"]),
    ("", []),
    (None, []),
])
def test_cidr_lists_split_on_commas_and_spaces(text, parts):
    assert network.split_cidrs(text) == parts


@pytest.mark.parametrize("text, cluster_id, want", [
    ("10.192.0.0/24", 0, "10.192.0.0/24"),
    ("10.192.0.0/24", 5, "10.192.5.0/24"),
    ("172.20.10.0/24", 3, "172.20.3.0/24"),      # third octet replaced, not added
    ("10.192.0.0/16", 3, "10.192.0.0/16"),       # only /24 gets the ID
    ("fd00:20::/64", 0, "fd00:20::/64"),
    ("fd00:20::/64", 10, "fd00:20:10::/64"),     # decimal digits read as hex
    ("fd00:20::/64", 254, "fd00:20:254::/64"),
    ("fd00:77:20::/64", 5, "fd00:77:20:5::/64"),
    ("fd00:20:0::/64", 5, "fd00:20:0:5::/64"),   # position follows the text, as the original
    ("fd00:1:2:3::/80", 7, "fd00:1:2:3:7::/80"),
    ("fd00:20:0:0:0:0:0:0/64", 3, "fd00:20:3::/64"),   # no '::': after the last non-zero
])
def test_cluster_id_is_injected_into_the_management_cidr(text, cluster_id, want):
    assert str(network.inject_cluster_id("MGMT_CIDRS", text, cluster_id)) == want


def test_ipv6_cluster_id_outside_the_prefix_is_refused():
    with pytest.raises(ConfigError) as err:
        network.inject_cluster_id("MGMT_CIDRS", "fd00:1:2:3:4::/80", 7)
    assert err.value.variable == "CLUSTER_ID"
    assert "outside its /80" in err.value.message


@pytest.mark.parametrize("cidr, node_id, want", [
    ("10.244.0.0/16", 1, "10.244.1.0/24"),
    ("10.244.0.0/16", 255, "10.244.255.0/24"),
    ("fd00:40::/72", 1, "fd00:40:0:0:1::/80"),
    ("fd00:40::/72", 10, "fd00:40:0:0:a::/80"),
    ("fd00:40::/72", 255, "fd00:40:0:0:ff::/80"),
    ("fd00:10:20:30::/64", 1, "fd00:10:20:30:100::/72"),
    ("fd00:10:20:30::/64", 255, "fd00:10:20:30:ff00::/72"),
    ("fd00:10:20:30:4000::/72", 2, "fd00:10:20:30:4002::/80"),
    ("fd00:10:20:3000::/56", 1, "fd00:10:20:3001::/64"),
    ("fd00:10:20::/48", 1, "fd00:10:20:100::/56"),
    # from /96 the original's text had too many groups (gateway `…:0:0100::1`), from /112
    # the subnet too; the arithmetic gives real addresses
    ("fd00:40::/96", 1, "fd00:40::100:0/104"),
    ("fd00:40::/104", 2, "fd00:40::2:0/112"),
    ("fd00:40::/112", 255, "fd00:40::ff00/120"),
])
def test_pod_subnet_of_a_node(cidr, node_id, want):
    assert str(network.pod_subnet(IPNetwork(cidr), node_id)) == want


def test_host_numbers_are_decimal_for_ipv4_and_hex_for_ipv6():
    assert str(network.host(IPNetwork("10.192.0.0/24"), 10)) == "10.192.0.10"
    assert str(network.host(IPNetwork("fd00:20::/64"), 10)) == "fd00:20::a"
    assert str(network.host(IPNetwork("fd00:20::/64"), 0x100)) == "fd00:20::100"
    # the original's string surgery made 10.96.0.210 of this one
    assert str(network.host(IPNetwork("10.96.0.16/28"), 10)) == "10.96.0.26"


@pytest.mark.parametrize("prefix, cluster_id, want", [
    ("172.18", 0, "172.18"), ("172.18", 10, "172.28"), ("172.18", 13, "172.31"),
    ("10.100", 10, "10.110"), ("10.30", 0, "10.30"), ("10.3", 0, "10.3"),
    ("10.253", 0, "10.253"), ("172.16", 0, "172.16"),
    ("10.0", 0, "10.0"),   # the original aborted silently: (( 0+0 )) is false under errexit
])
def test_nat64_prefix_adds_the_cluster_id_to_the_second_octet(prefix, cluster_id, want):
    assert network.nat64_prefix(prefix, cluster_id) == want


@pytest.mark.parametrize("prefix, cluster_id, problem", [
    ("172.18", 14, "'172.18' plus CLUSTER_ID 14 gives 172.32, outside the private ranges"),
    ("172.15", 0, "'172.15', outside the private ranges"),
    ("10.254", 0, "'10.254', outside the private ranges"),
    ("10.250", 5, "gives 10.255, outside"),
    ("192.168", 0, "'192.168', outside the private ranges"),
    ("172.18.0", 0, "'172.18.0' is not two octets"),
    ("172", 0, "'172' is not two octets"),
    ("172.x", 0, "'172.x' is not two octets"),
    ("300.1", 0, "'300.1' is not two octets"),
])
def test_bad_nat64_prefix_is_refused(prefix, cluster_id, problem):
    with pytest.raises(ConfigError) as err:
        network.nat64_prefix(prefix, cluster_id)
    assert err.value.variable == "NAT64_V4_SUBNET_PREFIX"
    assert problem in err.value.message


def test_static_routes_of_the_default_cluster_reach_every_other_node():
    routes = network.static_routes(make_plan({}))
    assert routes == {
        "kube-master": [("10.244.2.0/24", "10.192.0.3"), ("10.244.3.0/24", "10.192.0.4")],
        "kube-node-1": [("10.244.1.0/24", "10.192.0.2"), ("10.244.3.0/24", "10.192.0.4")],
        "kube-node-2": [("10.244.1.0/24", "10.192.0.2"), ("10.244.2.0/24", "10.192.0.3")],
    }


def test_static_routes_in_ipv6_mode_go_via_the_ipv6_management_address():
    routes = network.static_routes(make_plan({"IP_MODE": "ipv6"}))
    assert routes["kube-master"][0] == ("fd00:40:0:0:2::/80", "fd00:20::3")
    assert len(routes["kube-master"]) == 2


def test_static_routes_in_dual_stack_cover_both_families():
    routes = network.static_routes(make_plan({"IP_MODE": "dual-stack", "NUM_NODES": "1"}))
    assert routes["kube-node-1"] == [("10.244.1.0/24", "10.192.0.2"),
                                     ("fd00:40:0:0:1::/80", "fd00:20::2")]


@pytest.mark.parametrize("cni", ["flannel", "calico", "weave"])
def test_no_static_routes_for_cni_plugins_that_route_themselves(cni):
    assert network.static_routes(make_plan({"CNI_PLUGIN": cni})) == {}
