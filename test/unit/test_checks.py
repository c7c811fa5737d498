"""Every setting checked in one place: tables of bad values, and a property over every variable.

`config` must fail exactly where `up` would, with one `ERROR: <VARIABLE>: …` line per bad
variable, exit 1, and never a traceback or exit 3.
"""
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from typer.testing import CliRunner

from dind_cluster import checks, cli, settings
from dind_cluster.errors import ConfigErrors
from dind_cluster.plan import make_plan

runner = CliRunner()
BASE_ENV = {"EMBEDDED_CONFIG": "y", "DIND_CONFIG": None, "KUBECONFIG": None}


def config(env, args=("config", "--json")):
    return runner.invoke(cli.app, list(args), env={**BASE_ENV, **env})


def error_lines(result):
    return [line for line in result.output.splitlines() if line.startswith("ERROR")]


# --- values that used to pass `config` and break later (or exit 3) -------------------------------

BAD = [
    ({"NUM_NODES": "²"}, "NUM_NODES"),
    ({"NUM_NODES": "٣"}, "NUM_NODES"),
    ({"NUM_NODES": "9" * 5000}, "NUM_NODES"),
    ({"CLUSTER_ID": "1" * 5000}, "CLUSTER_ID"),
    ({"APISERVER_PORT": "²"}, "APISERVER_PORT"),
    ({"DNS64_PREFIX_SIZE": "⁹⁶"}, "DNS64_PREFIX_SIZE"),
    ({"NAT64_V4_SUBNET_PREFIX": "172.¹⁸"}, "NAT64_V4_SUBNET_PREFIX"),
    ({"IP_MODE": "ipv6", "MGMT_CIDRS": "::1/128"}, "MGMT_CIDRS"),
    ({"IP_MODE": "ipv6", "MGMT_CIDRS": "::/64"}, "MGMT_CIDRS"),
    ({"IP_MODE": "ipv6", "MGMT_CIDRS": "ff05::/64"}, "MGMT_CIDRS"),
    ({"IP_MODE": "ipv6", "MGMT_CIDRS": "fe80::/64"}, "MGMT_CIDRS"),
    ({"MGMT_CIDRS": "224.1.0.0/24"}, "MGMT_CIDRS"),
    ({"MGMT_CIDRS": "127.0.0.0/24"}, "MGMT_CIDRS"),
    ({"IP_MODE": "ipv6", "MGMT_CIDRS": "fd00:20::400/118", "CLUSTER_ID": "3"}, "CLUSTER_ID"),
    ({"DIND_LABEL": "Foo"}, "DIND_LABEL"),
    ({"DIND_LABEL": "foo_bar"}, "DIND_LABEL"),
    ({"DIND_LABEL": "foo-"}, "DIND_LABEL"),
    ({"DIND_LABEL": "foo."}, "DIND_LABEL"),
    ({"DIND_LABEL": "a" * 46}, "DIND_LABEL"),
    ({"POD_NETWORK_CIDR": "10.96.0.0/16"}, "POD_NETWORK_CIDR"),
    ({"FEATURE_GATES": "Foo"}, "FEATURE_GATES"),
    ({"KUBELET_FEATURE_GATES": "Foo=maybe"}, "KUBELET_FEATURE_GATES"),
    ({"DIND_K8S_VERSION": "v1.31"}, "DIND_K8S_VERSION"),
    ({"DIND_K8S_VERSION": "latest"}, "DIND_K8S_VERSION"),
    ({"DIND_K8S_BIN_DIR": "/nonexistent/bin"}, "DIND_K8S_BIN_DIR"),
    ({"DIND_K8S_IMAGES_DIR": "/nonexistent/images"}, "DIND_K8S_IMAGES_DIR"),
    ({"APISERVER_PORT": "99999"}, "APISERVER_PORT"),
    ({"APISERVER_PORT": "0"}, "APISERVER_PORT"),
    ({"DIND_WAIT_TIMEOUT": "soon"}, "DIND_WAIT_TIMEOUT"),
    ({"DIND_WAIT_TIMEOUT": "1e400"}, "DIND_WAIT_TIMEOUT"),
    ({"DIND_WAIT_TIMEOUT": "١٠"}, "DIND_WAIT_TIMEOUT"),
    ({"DIND_PORT_FORWARDER": "/nonexistent/forward"}, "DIND_PORT_FORWARDER"),
    ({"DIND_BASE_IMAGE": "Debian:bookworm"}, "DIND_BASE_IMAGE"),
    ({"DIND_IMAGE": "a b"}, "DIND_IMAGE"),
    ({"DNS_SERVICE": "bind"}, "DNS_SERVICE"),
    ({"KUBECTL_DIR": "/etc/passwd/x"}, "KUBECTL_DIR"),
    ({"APISERVER_audit_log_path": "a\nb"}, "APISERVER_audit_log_path"),
]


@pytest.mark.parametrize("env, variable", BAD, ids=[f"{v}-{i}" for i, (_, v) in enumerate(BAD)])
def test_config_reports_what_up_would_fail_on(env, variable):
    result = config(env)
    assert result.exit_code == 1, result.output
    assert [line.split(":")[1].strip() for line in error_lines(result)] == [variable], result.output


def test_every_problem_is_reported_at_once():
    result = config({"NUM_NODES": "x", "FEATURE_GATES": "Foo", "APISERVER_PORT": "0", "DIND_LABEL": "Foo"})
    assert result.exit_code == 1
    assert sorted(line.split(":")[1].strip() for line in error_lines(result)) == [
        "APISERVER_PORT", "DIND_LABEL", "FEATURE_GATES", "NUM_NODES"]


def test_validated_plan_raises_every_error():
    with pytest.raises(ConfigErrors) as err:
        checks.validated_plan({"NUM_NODES": "x", "DIND_WAIT_TIMEOUT": "-1"})
    assert [e.variable for e in err.value.errors] == ["NUM_NODES", "DIND_WAIT_TIMEOUT"]


GOOD = [
    {"NUM_NODES": "3"}, {"DIND_K8S_VERSION": "v1.31.4"}, {"FEATURE_GATES": "A=true,B=false"},
    {"DIND_BASE_IMAGE": "localhost:5000/dind/base:v1"}, {"DIND_WAIT_TIMEOUT": "90.5"},
    {"IP_MODE": "ipv6", "MGMT_CIDRS": "fd00:20::400/118"}, {"DIND_LABEL": "my.cluster-a"},
    {"DIND_PORT_FORWARDER": "true"}, {"KUBECTL_DIR": "/nonexistent/is/created"},
]


@pytest.mark.parametrize("env", GOOD)
def test_good_values_pass(env):
    result = config(env)
    assert result.exit_code == 0, result.output


def test_a_numbered_label_is_the_label_with_that_cluster_id():
    """DIND_LABEL=foo-3 and DIND_LABEL=foo CLUSTER_ID=3 name the same cluster: same names, same network."""
    a, b = make_plan({"DIND_LABEL": "foo-3"}), make_plan({"DIND_LABEL": "foo", "CLUSTER_ID": "3"})
    assert (a.context, a.network, a.nodes) == (b.context, b.network, b.nodes)
    assert a.network.subnets == ("10.192.3.0/24",)


def test_longest_label_keeps_node_names_within_63():
    plan = make_plan({"DIND_LABEL": "a" * 45, "CLUSTER_ID": "254", "NUM_NODES": "0"})
    longest = f"kube-node-254{plan.suffix}"
    assert len(longest) <= 63


def test_a_long_value_is_clipped_in_the_message():
    result = config({"NUM_NODES": "9" * 5000})
    assert len(error_lines(result)[0]) < 200


# --- the property: any string in any variable the settings know ----------------------------------

VARIABLES = sorted(set(settings.KNOWN) | set(checks.CHECKS) | {"APISERVER_audit_log_path", "GCE_HOSTED"})
# Environment values can't hold NUL; undecodable bytes arrive as lone surrogates.
VALUES = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["0", "-1", "²", "9" * 5000, "::1/128", "fd00:20::400/118", "a\nb", "\x1b[2J", "\udcff", "none", " ", "v1.31"])


@pytest.mark.parametrize("variable", VARIABLES)
@hsettings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_any_value_is_accepted_or_one_error_line(variable, value):
    result = config({variable: value})
    assert result.exit_code in (0, 1), (result.exit_code, result.output)
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"ERROR: {variable}: "), result.output


# --- label-derived cluster IDs ----------------------------------------------------------------

from dind_cluster import label_ids, naming  # noqa: E402
from dind_cluster.preflight import DockerNetwork, Facts, taken_by_another_cluster  # noqa: E402


@pytest.mark.parametrize("label, cluster_id, derived", [
    ("foo", "", True), ("foo", "3", False), ("foo-3", "", False), ("foo-999", "", True), ("", "", False),
    (naming.DEFAULT_DIND_LABEL, "", False),
])
def test_which_labels_derive_their_id(label, cluster_id, derived):
    assert naming.is_label_derived(label, cluster_id) is derived


def test_candidates_start_with_the_labels_own_id_and_cover_every_id():
    got = naming.label_id_candidates("foo")
    assert got[0] == naming.legacy_cluster_id("foo") and sorted(got) == list(range(1, 255))


def test_a_remembered_id_is_used_for_its_label_only():
    assert make_plan({"DIND_LABEL": "foo"}, {"foo": 40}).network.subnets == ("10.192.40.0/24",)
    assert make_plan({"DIND_LABEL": "foo", "CLUSTER_ID": "5"}, {"foo": 40}).cluster_id == "5"
    assert make_plan({"DIND_LABEL": "bar"}, {"foo": 40}).cluster_id == str(naming.legacy_cluster_id("bar"))


def test_another_clusters_network_counts_as_taken_ours_does_not():
    plan = make_plan({"DIND_LABEL": "foo"})
    mine = DockerNetwork("n", plan.network.subnets, plan.cluster_key)
    other = DockerNetwork("n2", plan.network.subnets, "cluster-5")
    facts = lambda *nets: Facts(api_version="1.41", cgroup_version=2, cgroup_controllers=frozenset(), networks=nets)
    assert not taken_by_another_cluster(facts(mine), plan)
    assert taken_by_another_cluster(facts(mine, other), plan)


def test_remembered_ids_survive_and_a_damaged_store_is_empty(tmp_path):
    env = {"HOME": str(tmp_path)}
    assert label_ids.load(env) == {}
    label_ids.remember(env, "foo", 7)
    label_ids.remember(env, "bar", 9)
    assert label_ids.load(env) == {"foo": 7, "bar": 9}
    (tmp_path / ".cache/dind-cluster/label-ids.json").write_text("[not, a, mapping")
    assert label_ids.load(env) == {}


def test_config_shows_the_remembered_id(tmp_path):
    label_ids.remember({"HOME": str(tmp_path)}, "foo", 77)
    result = config({"DIND_LABEL": "foo", "HOME": str(tmp_path), "XDG_CACHE_HOME": None})
    assert result.exit_code == 0, result.output
    assert '"cluster_id": "77"' in result.stdout
