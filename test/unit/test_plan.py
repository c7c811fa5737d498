"""The cluster plan: the worked examples of reference §3.7, the config --json contract,
and one ConfigError per bad setting."""
import re

import pytest

from dind_cluster import naming
from dind_cluster.errors import ConfigError
from dind_cluster.plan import make_plan, plan_to_json

V6 = {"IP_MODE": "ipv6"}
DUAL = {"IP_MODE": "dual-stack"}


def lookup(plan, path):
    """`a.b.0` walks the JSON document; `@a.b.0` walks the ClusterPlan object."""
    node = plan if path.startswith("@") else plan_to_json(plan)
    for part in path.lstrip("@").split("."):
        if part.isdigit():
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node[part]
        else:
            node = getattr(node, part)
    return node


# (reference example number, settings, expected values by path)
EXAMPLES = [
    ("1 ipv4 defaults", {}, {
        "dind_label": naming.DEFAULT_DIND_LABEL, "cluster_id": "0", "context": "dind",
        "network.name": "kubeadm-dind-net", "network.subnets": ["10.192.0.0/24"],
        "network.gateways": ["10.192.0.1"], "nodes.0.name": "kube-master",
        "nodes.0.role": "master", "nodes.0.ips": ["10.192.0.2"],
        "nodes.1.name": "kube-node-1", "nodes.1.role": "worker",
        "nodes.1.ips": ["10.192.0.3"], "nodes.2.ips": ["10.192.0.4"],
        "service_cidr": "10.96.0.0/12", "dns_svc_ip": "10.96.0.10",
        "service_net_mode": "ipv4", "use_hairpin": False, "cni_plugin": "bridge",
        "pod_network_cidrs": ["10.244.0.0/16"], "nodes.0.pod_cidrs": ["10.244.1.0/24"],
        "@nodes.0.pod_gateways": ("10.244.1.1",), "nodes.1.pod_cidrs": ["10.244.2.0/24"],
        "nodes.2.pod_cidrs": ["10.244.3.0/24"], "@advertise_address": "10.192.0.2",
        "@apiserver_host": "127.0.0.1", "@kubeadm_pod_subnet": None,
        "@nodes.0.volume": "kubeadm-dind-kube-master", "nat64_v4_subnet_prefix": None,
        "dns_server": None, "dns64_prefix_cidr": None, "local_nat64_server": None}),
    ("2 cluster id", {"CLUSTER_ID": "5"}, {
        "dind_label": "cluster-5", "@suffix": "-cluster-5", "context": "dind-cluster-5",
        "network.name": "kubeadm-dind-net-cluster-5", "network.subnets": ["10.192.5.0/24"],
        "nodes.0.ips": ["10.192.5.2"], "nodes.0.name": "kube-master-cluster-5",
        "nodes.0.pod_cidrs": ["10.244.1.0/24"], "nodes.1.pod_cidrs": ["10.244.2.0/24"]}),
    ("3 third octet replaced", {"MGMT_CIDRS": "172.20.10.0/24", "CLUSTER_ID": "3"}, {
        "network.subnets": ["172.20.3.0/24"], "nodes.0.ips": ["172.20.3.2"]}),
    ("4 no injection for /16", {"MGMT_CIDRS": "10.192.0.0/16", "CLUSTER_ID": "3"}, {
        "network.subnets": ["10.192.0.0/16"], "nodes.0.ips": ["10.192.0.2"]}),
    # ex 5 as given overlaps the default services 10.96.0.0/12 (an error here, see below)
    ("5 legacy DIND_SUBNET", {"DIND_SUBNET": "10.100.0.0", "DIND_SUBNET_SIZE": "24",
                              "CLUSTER_ID": "7", "SERVICE_CIDR": "172.30.0.0/16"}, {
        "network.subnets": ["10.100.7.0/24"], "network.gateways": ["10.100.7.1"],
        "nodes.0.ips": ["10.100.7.2"]}),
    ("6 calico", {"CNI_PLUGIN": "calico"}, {
        "pod_network_cidrs": ["192.168.0.0/16"], "nodes.0.pod_cidrs": ["192.168.1.0/24"],
        "nodes.1.pod_cidrs": ["192.168.2.0/24"], "@kubeadm_pod_subnet": "192.168.0.0/16"}),
    ("7 service cidr", {"SERVICE_CIDR": "172.30.0.0/16"}, {"dns_svc_ip": "172.30.0.10"}),
    ("8 (bug) service host 10 by arithmetic", {"SERVICE_CIDR": "10.96.0.16/28"}, {
        "dns_svc_ip": "10.96.0.26"}),
    ("9 ipv6 defaults", V6, {
        "network.subnets": ["fd00:20::/64", "172.18.0.0/16"],
        "network.gateways": ["fd00:20::1"], "@network.ipv6": True,
        "nodes.0.ips": ["fd00:20::2"], "nodes.1.ips": ["fd00:20::3"],
        "nodes.2.ips": ["fd00:20::4"], "@dns64.name": "bind9", "@dns64.ips": ("fd00:20::100",),
        "dns_server": "fd00:20::100", "@nat64.name": "tayga",
        "@nat64.ips": ("172.18.0.200", "fd00:20::200"), "local_nat64_server": "fd00:20::200",
        "nat64_v4_subnet_prefix": "172.18", "@nat64_v4_subnet": "172.18.0.0/16",
        "@nat64_pool": "172.18.0.128/25", "dns64_prefix_cidr": "fd00:10:64:ff9b::/96",
        "service_cidr": "fd00:30::/110", "dns_svc_ip": "fd00:30::a",
        "service_net_mode": "ipv6", "use_hairpin": True, "@apiserver_host": "::1",
        "@advertise_address": "fd00:20::2", "pod_network_cidrs": ["fd00:40::/72"],
        "nodes.0.pod_cidrs": ["fd00:40:0:0:1::/80"], "@nodes.0.pod_gateways": (
            "fd00:40::1:0:0:1",), "nodes.1.pod_cidrs": ["fd00:40:0:0:2::/80"],
        "@remote_dns64_v4server": "8.8.8.8", "@allow_aaaa_use": False}),
    ("9 ipv6 node_id 10", {**V6, "NUM_NODES": "9"}, {
        "nodes.9.pod_cidrs": ["fd00:40:0:0:a::/80"], "nodes.9.ips": ["fd00:20::b"]}),
    ("10 ipv6 cluster id", {**V6, "CLUSTER_ID": "10"}, {
        "network.subnets": ["fd00:20:10::/64", "172.28.0.0/16"],
        "nodes.0.ips": ["fd00:20:10::2"], "dns_server": "fd00:20:10::100",
        "nat64_v4_subnet_prefix": "172.28", "@dns64.name": "bind9-cluster-10"}),
    ("11 ipv6 own mgmt", {**V6, "MGMT_CIDRS": "fd00:77:20::/64", "CLUSTER_ID": "5"}, {
        "network.subnets": ["fd00:77:20:5::/64", "172.23.0.0/16"],
        "nat64_v4_subnet_prefix": "172.23"}),
    ("12 nat64 172.31", {**V6, "CLUSTER_ID": "13"}, {"nat64_v4_subnet_prefix": "172.31"}),
    ("14 nat64 in 10/8", {**V6, "CLUSTER_ID": "10", "NAT64_V4_SUBNET_PREFIX": "10.100"}, {
        "nat64_v4_subnet_prefix": "10.110", "@nat64.ips": ("10.110.0.200", "fd00:20:10::200"),
        "@nat64_pool": "10.110.0.128/25"}),
    ("15 (bug) nat64 10.30 accepted", {**V6, "NAT64_V4_SUBNET_PREFIX": "10.30"}, {
        "nat64_v4_subnet_prefix": "10.30"}),
    ("15 (bug) nat64 10.3 accepted", {**V6, "NAT64_V4_SUBNET_PREFIX": "10.3"}, {
        "nat64_v4_subnet_prefix": "10.3"}),
    ("18 pod /64", {**V6, "POD_NETWORK_CIDR": "fd00:10:20:30::/64"}, {
        "nodes.0.pod_cidrs": ["fd00:10:20:30:100::/72"],
        "nodes.1.pod_cidrs": ["fd00:10:20:30:200::/72"]}),
    ("19 pod padded", {**V6, "POD_NETWORK_CIDR": "fd00:10::/64"}, {
        "nodes.0.pod_cidrs": ["fd00:10:0:0:100::/72"]}),
    ("20 pod trimmed /72", {**V6, "POD_NETWORK_CIDR": "fd00:10:20:30:4000::/72"}, {
        "nodes.0.pod_cidrs": ["fd00:10:20:30:4001::/80"],
        "nodes.1.pod_cidrs": ["fd00:10:20:30:4002::/80"]}),
    ("21 pod trimmed /56", {**V6, "POD_NETWORK_CIDR": "fd00:10:20:3000::/56"}, {
        "nodes.0.pod_cidrs": ["fd00:10:20:3001::/64"]}),
    ("22 pod /48", {**V6, "POD_NETWORK_CIDR": "fd00:10:20::/48"}, {
        "nodes.0.pod_cidrs": ["fd00:10:20:100::/56"]}),
    ("25 (bug) pod trimmed /64 accepted", {**V6, "POD_NETWORK_CIDR": "fd00:10:20:30:00::/64"}, {
        "pod_network_cidrs": ["fd00:10:20:30::/64"],
        "nodes.0.pod_cidrs": ["fd00:10:20:30:100::/72"]}),
    ("27 dual-stack defaults", DUAL, {
        "network.subnets": ["10.192.0.0/24", "fd00:20::/64"],
        "network.gateways": ["10.192.0.1", "fd00:20::1"],
        "nodes.0.ips": ["10.192.0.2", "fd00:20::2"], "service_cidr": "fd00:30::/110",
        "service_net_mode": "ipv6", "dns_svc_ip": "fd00:30::a",
        "@advertise_address": "fd00:20::2", "@allow_aaaa_use": True,
        "nodes.0.pod_cidrs": ["10.244.1.0/24", "fd00:40:0:0:1::/80"],
        "nodes.1.pod_cidrs": ["10.244.2.0/24", "fd00:40:0:0:2::/80"],
        "dns_server": None, "nat64_v4_subnet_prefix": None, "@dns64": None}),
    ("28 dual reordered", {**DUAL, "MGMT_CIDRS": "fd00:99::/64, 10.50.0.0/24",
                           "POD_NETWORK_CIDR": "fd00:10:20:30::/64,10.240.0.0/16"}, {
        "network.subnets": ["10.50.0.0/24", "fd00:99::/64"],
        "pod_network_cidrs": ["10.240.0.0/16", "fd00:10:20:30::/64"],
        "nodes.0.pod_cidrs": ["10.240.1.0/24", "fd00:10:20:30:100::/72"]}),
    ("29 dual ipv4 default added", {**DUAL, "MGMT_CIDRS": "fd00:99::/64"}, {
        "network.subnets": ["10.192.0.0/24", "fd00:99::/64"]}),
    ("30 dual ipv4 services", {**DUAL, "SERVICE_CIDR": "10.96.0.0/12"}, {
        "service_net_mode": "ipv4", "dns_svc_ip": "10.96.0.10",
        "@advertise_address": "10.192.0.2", "@apiserver_host": "127.0.0.1"}),
    ("32 label and id", {"DIND_LABEL": "foo", "CLUSTER_ID": "5"}, {
        "dind_label": "foo-5", "@suffix": "-foo-5", "@cluster_key": "foo-5",
        "network.subnets": ["10.192.5.0/24"], "nodes.1.name": "kube-node-1-foo-5"}),
    ("33 (bug) explicit default label is the default cluster",
     {"DIND_LABEL": naming.DEFAULT_DIND_LABEL}, {
        "@suffix": "", "cluster_id": "0", "network.subnets": ["10.192.0.0/24"]}),
    ("37 legacy ipv6 subnet", {**V6, "DIND_SUBNET": "fd00:10::", "DIND_SUBNET_SIZE": "64"}, {
        "network.subnets": ["fd00:10::/64", "172.18.0.0/16"]}),
    ("38 everything custom", {**V6, "MGMT_CIDRS": "fd00:1:2:3::/80", "CLUSTER_ID": "7",
                              "SERVICE_CIDR": "fd00:99:1::/112",
                              "DNS64_PREFIX": "fd00:77:64:ff9b::"}, {
        "network.subnets": ["fd00:1:2:3:7::/80", "172.25.0.0/16"],
        "dns_svc_ip": "fd00:99:1::a", "dns64_prefix_cidr": "fd00:77:64:ff9b::/96",
        "nat64_v4_subnet_prefix": "172.25"}),
]


@pytest.mark.parametrize("values, expected", [e[1:] for e in EXAMPLES],
                         ids=[e[0] for e in EXAMPLES])
def test_worked_example(values, expected):
    plan = make_plan(values)
    for path, want in expected.items():
        assert lookup(plan, path) == want, path


def test_legacy_label_without_id_keeps_its_network_between_calls():
    """Example 31: the original drew a new random ID on every call."""
    first, again = make_plan({"DIND_LABEL": "foo"}), make_plan({"DIND_LABEL": "foo"})
    assert first == again
    cluster_id = naming.legacy_cluster_id("foo")
    assert first.cluster_id == str(cluster_id) and first.suffix == "-foo"
    assert first.network.subnets == (f"10.192.{cluster_id}.0/24",)


def test_json_document_has_exactly_the_contract_keys():
    doc = plan_to_json(make_plan(V6))
    assert set(doc) == {
        "ip_mode", "cluster_id", "dind_label", "context", "network", "service_cidr",
        "service_net_mode", "dns_svc_ip", "dns_server", "dns64_prefix_cidr",
        "local_nat64_server", "nat64_v4_subnet_prefix", "use_hairpin", "cni_plugin",
        "pod_network_cidrs", "nodes"}
    assert set(doc["network"]) == {"name", "subnets", "gateways"}
    assert set(doc["nodes"][0]) == {"name", "role", "ips", "pod_cidrs"}


def test_plan_labels_mark_the_cluster_and_carry_the_original_label():
    assert make_plan({"CLUSTER_ID": "10"}).labels == {
        naming.CLUSTER_LABEL: "cluster-10", "cluster-10": "", naming.IP_MODE_LABEL: "ipv4"}


@pytest.mark.parametrize("values, hairpin", [
    ({}, False), (V6, True), (DUAL, True), ({"USE_HAIRPIN": "true"}, True),
    ({**V6, "USE_HAIRPIN": "false"}, False)])
def test_hairpin_defaults_by_mode_and_can_be_set(values, hairpin):
    assert make_plan(values).use_hairpin is hairpin


@pytest.mark.parametrize("values, allow", [
    (V6, False), ({**V6, "DIND_ALLOW_AAAA_USE": "true"}, True),
    ({**V6, "DIND_ALLOW_AAAA_USE": "false"}, False), (DUAL, True)])
def test_aaaa_use_is_off_by_default_in_ipv6_and_forced_on_in_dual_stack(values, allow):
    assert make_plan(values).allow_aaaa_use is allow


def test_aaaa_use_in_ipv4_mode_is_ignored_with_a_warning():
    plan = make_plan({"DIND_ALLOW_AAAA_USE": "y"})
    assert plan.allow_aaaa_use is False
    assert any("DIND_ALLOW_AAAA_USE" in w for w in plan.warnings)


def test_gce_hosted_ipv6_without_aaaa_use_is_fine():
    assert make_plan({**V6, "GCE_HOSTED": "true"}).ip_mode == "ipv6"


def test_dual_stack_ipv4_management_cidr_gets_the_cluster_id_as_in_ipv4_mode():
    """The original passed the IP mode instead of the family to add-cluster, so in
    dual-stack the IPv4 /24 kept its third octet (172.20.10.0/24); we treat it by family."""
    plan = make_plan({**DUAL, "MGMT_CIDRS": "fd00:99::/64,172.20.10.0/24"})
    assert plan.network.subnets == ("172.20.0.0/24", "fd00:99::/64")
    plan = make_plan({**DUAL, "MGMT_CIDRS": "fd00:99::/64,172.20.10.0/24", "CLUSTER_ID": "7"})
    assert plan.network.subnets == ("172.20.7.0/24", "fd00:99:7::/64")
    assert plan.master.ips == ("172.20.7.2", "fd00:99:7::2")


@pytest.mark.parametrize("values", [{"CLUSTER_ID": "3"}, {"DIND_LABEL": "foo"}])
def test_dual_stack_clusters_can_run_side_by_side(values):
    """The original refused any non-default dual-stack cluster (a TODO); each one gets its
    own names and management networks here."""
    plan, default = make_plan({**DUAL, **values}), make_plan(DUAL)
    assert plan.suffix and plan.network.name != default.network.name
    assert not set(plan.network.subnets) & set(default.network.subnets)


def test_master_only_cluster_has_one_node():
    plan = make_plan({"NUM_NODES": "0"})
    assert [n.name for n in plan.nodes] == ["kube-master"] and plan.workers == ()


# settings, variable named, text in the message
ERRORS = [
    ({"IP_MODE": "ipv5"}, "IP_MODE", "use one of ipv4, ipv6, dual-stack"),
    ({"CNI_PLUGIN": "cilium"}, "CNI_PLUGIN", "unknown value 'cilium'"),
    ({"NUM_NODES": "two"}, "NUM_NODES", "'two' is not a number"),
    ({"NUM_NODES": "-1"}, "NUM_NODES", "is not a number"),
    ({"NUM_NODES": "253"}, "NUM_NODES", "at most 252 workers fit"),
    ({**V6, "NUM_NODES": "254"}, "NUM_NODES", "at most 253 workers fit"),
    ({"MGMT_CIDRS": "10.0.0.0/16", "NUM_NODES": "255"}, "NUM_NODES", "at most 254 workers"),
    ({"CLUSTER_ID": "300"}, "CLUSTER_ID", "'300' is not a cluster number"),          # ex 35
    ({"MGMT_CIDRS": "10.1.0.0/24,10.2.0.0/24"}, "MGMT_CIDRS", "more than one CIDR"),  # ex 34
    ({"MGMT_CIDRS": "fd00::/64"}, "MGMT_CIDRS", "fd00::/64 is not IPv4"),
    ({**V6, "MGMT_CIDRS": "10.1.0.0/24"}, "MGMT_CIDRS", "10.1.0.0/24 is not IPv6"),
    ({**DUAL, "MGMT_CIDRS": "10.1.0.0/24 10.2.0.0/24"}, "MGMT_CIDRS", "missing IPv6 CIDR"),
    ({**DUAL, "MGMT_CIDRS": "fd01::/64 fd02::/64"}, "MGMT_CIDRS", "missing IPv4 CIDR"),
    ({**DUAL, "MGMT_CIDRS": "10.1.0.0/24 fd01::/64 10.2.0.0/24"}, "MGMT_CIDRS",
     "more than two CIDRs"),
    ({"MGMT_CIDRS": "10.1.0.300/24"}, "MGMT_CIDRS", "'10.1.0.300/24' is not a CIDR"),
    ({"MGMT_CIDRS": "10.1.0.0"}, "MGMT_CIDRS", "is not a CIDR"),
    ({"DIND_SUBNET": "10.1.0.0", "DIND_SUBNET_SIZE": "33"}, "DIND_SUBNET", "is not a CIDR"),
    ({**V6, "MGMT_CIDRS": "fd00:20::/120"}, "MGMT_CIDRS", "no room for the DNS64/NAT64"),
    ({"MGMT_CIDRS": "10.1.0.0/31"}, "MGMT_CIDRS", "no room for a gateway and a master"),
    ({**V6, "MGMT_CIDRS": "fd00:1:2:3:4::/80", "CLUSTER_ID": "7"}, "CLUSTER_ID",
     "outside its /80"),                                                            # ex 38
    ({"POD_NETWORK_CIDR": "10.244.0.0/20"}, "POD_NETWORK_CIDR", "10.244.0.0/20 is not a /16"),
    ({"POD_NETWORK_CIDR": "fd00:40::/72"}, "POD_NETWORK_CIDR", "is not IPv4"),
    ({**V6, "POD_NETWORK_CIDR": "fd00:10:20:30:40::/48"}, "POD_NETWORK_CIDR",     # ex 23
     "address part of fd00:10:20:30:40::/48 is too large for /48"),
    ({**V6, "POD_NETWORK_CIDR": "fd00:10:20:1234::/56"}, "POD_NETWORK_CIDR",      # ex 24
     "too large for /56"),
    ({**V6, "POD_NETWORK_CIDR": "fd00:10:20:30:4000::/64"}, "POD_NETWORK_CIDR",   # ex 25
     "too large for /64"),
    ({**V6, "POD_NETWORK_CIDR": "fd00:40::/120"}, "POD_NETWORK_CIDR", "too small to split"),
    ({**V6, "CNI_PLUGIN": "flannel"}, "CNI_PLUGIN", "flannel can't carry IPv6"),   # ex 26
    ({**DUAL, "CNI_PLUGIN": "calico"}, "CNI_PLUGIN", "need bridge or ptp"),
    ({**V6, "CLUSTER_ID": "14"}, "NAT64_V4_SUBNET_PREFIX", "gives 172.32"),         # ex 13
    ({**V6, "NAT64_V4_SUBNET_PREFIX": "192.168"}, "NAT64_V4_SUBNET_PREFIX",       # ex 16
     "outside the private ranges"),
    ({**V6, "NAT64_V4_SUBNET_PREFIX": "172.18.0"}, "NAT64_V4_SUBNET_PREFIX",      # ex 17
     "'172.18.0' is not two octets"),
    ({"SERVICE_CIDR": "10.96.0.20/30"}, "SERVICE_CIDR", "has 2 host bits"),        # ex 8
    ({"SERVICE_CIDR": "10.0.0.0/8"}, "SERVICE_CIDR", "use a prefix from /12 to /28"),
    ({"SERVICE_CIDR": "fd00:30::/110"}, "SERVICE_CIDR", "needs an IPv4 service network"),
    ({"SERVICE_CIDR": "10.96.0.0/12 10.97.0.0/16"}, "SERVICE_CIDR", "not a single CIDR"),
    ({**V6, "DNS64_PREFIX": "64:ff9b::1.2"}, "DNS64_PREFIX", "is not an IPv6 address"),
    ({**V6, "DNS64_PREFIX_SIZE": "80"}, "DNS64_PREFIX_SIZE", "32, 40, 48, 56, 64, 96"),
    ({**V6, "DNS64_PREFIX": "fd00:10:64:ff9b::1"}, "DNS64_PREFIX", "has bits past /96"),
    ({**V6, "REMOTE_DNS64_V4SERVER": "dns.google"}, "REMOTE_DNS64_V4SERVER",
     "not an IPv4 address"),
    ({"USE_HAIRPIN": "yes"}, "USE_HAIRPIN", "use true or false"),
    ({"DIND_DNS_SERVER": "dns.local"}, "DIND_DNS_SERVER", "is not an IPv4 address"),
    ({**DUAL, "DIND_DNS_SERVER": "fd00:99::53"}, "DIND_DNS_SERVER", "is not an IPv4 address"),
    ({**V6, "DIND_DNS_SERVER": "10.1.2.3"}, "DIND_DNS_SERVER", "not used in IPv6 mode"),
    ({**V6, "DIND_ALLOW_AAAA_USE": "1", "GCE_HOSTED": "true"}, "GCE_HOSTED",
     "GCE does not support IPv6"),
    ({**DUAL, "GCE_HOSTED": "true"}, "GCE_HOSTED", "GCE does not support IPv6"),
    # an overlap names the variable the user set, not the default it collides with
    ({"POD_NETWORK_CIDR": "10.96.0.0/16"}, "POD_NETWORK_CIDR",
     "10.96.0.0/16 overlaps SERVICE_CIDR 10.96.0.0/12"),
    ({"MGMT_CIDRS": "10.244.7.0/24"}, "MGMT_CIDRS", "10.244.0.0/24 overlaps POD_NETWORK_CIDR"),
    ({"DIND_SUBNET": "10.100.0.0", "DIND_SUBNET_SIZE": "24", "CLUSTER_ID": "7"},  # ex 5
     "DIND_SUBNET", "10.100.7.0/24 overlaps SERVICE_CIDR 10.96.0.0/12"),
    ({"SERVICE_CIDR": "10.244.0.0/16", "POD_NETWORK_CIDR": "10.244.0.0/16"}, "SERVICE_CIDR",
     "overlaps POD_NETWORK_CIDR"),
    ({**V6, "DNS64_PREFIX": "fd00:40::", "DNS64_PREFIX_SIZE": "64"}, "DNS64_PREFIX",
     "overlaps POD_NETWORK_CIDR"),
]


@pytest.mark.parametrize("values, variable, text", ERRORS,
                         ids=[f"{e[1]}-{i}" for i, e in enumerate(ERRORS)])
def test_bad_setting_is_one_config_error_naming_the_variable(values, variable, text):
    with pytest.raises(ConfigError) as err:
        make_plan(values)
    assert err.value.variable == variable
    assert text in err.value.message
    assert re.fullmatch(rf"{variable}: [^;]+; .+", err.value.message)


@pytest.mark.parametrize("mode, given, expected", [
    ("ipv4", None, None), ("ipv4", "10.1.2.3", "10.1.2.3"), (DUAL["IP_MODE"], "10.9.8.7", "10.9.8.7"),
])
def test_nodes_forward_to_dind_dns_server_outside_ipv6_mode(mode, given, expected):
    values = {"IP_MODE": mode, **({"DIND_DNS_SERVER": given} if given else {})}
    assert make_plan(values).dns_server == expected
