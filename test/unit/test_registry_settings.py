"""Pure planning of mirrors, insecure registries, proxies and the local registry (registries.py)."""
import tomllib

import pytest

from dind_cluster import registries as reg, registry_plan as rp
from dind_cluster.errors import ConfigError
from dind_cluster.plan import make_plan
from dind_cluster.redact import redact_text


@pytest.mark.parametrize("text, want", [
    ("", ()),
    ("https://mirror.gcr.io", (reg.Mirror("docker.io", "https://mirror.gcr.io"),)),
    ("http://m1:5000/, http://m2:5000",
     (reg.Mirror("docker.io", "http://m1:5000"), reg.Mirror("docker.io", "http://m2:5000"))),
    ("quay.io=https://quay-mirror.local,registry.local:5000=http://10.0.0.5:5001",
     (reg.Mirror("quay.io", "https://quay-mirror.local"),
      reg.Mirror("registry.local:5000", "http://10.0.0.5:5001"))),
])
def test_mirrors_one_url_or_a_list(text, want):
    assert reg.parse_mirrors(text) == want


@pytest.mark.parametrize("text", ["mirror.local", "ftp://mirror.local", "http://", "http://host:99999",
                                  "bad host=http://m", "http://m?x=1"])
def test_malformed_mirror_names_the_variable(text):
    with pytest.raises(ConfigError) as err:
        reg.parse_mirrors(text)
    assert err.value.message.startswith("DIND_REGISTRY_MIRROR: ")
    assert "\n" not in err.value.message


@pytest.mark.parametrize("text, want", [
    ('["a.local:5000", "10.1.2.3:5000"]', ("a.local:5000", "10.1.2.3:5000")),
    ("a.local:5000,b.local", ("a.local:5000", "b.local")),
    ("[]", ()), ("", ()), ('["[fd00::1]:5000"]', ("[fd00::1]:5000",)),
])
def test_insecure_json_list_or_comma_list(text, want):
    assert reg.parse_insecure(text) == want


@pytest.mark.parametrize("text", ['["a", 1]', '["a"', "http://a.local:5000", "a.local:0", "a_b.local", "a/b"])
def test_malformed_insecure_registry_names_the_variable(text):
    with pytest.raises(ConfigError) as err:
        reg.parse_insecure(text)
    assert err.value.message.startswith("DIND_INSECURE_REGISTRIES: ")


def test_proxy_from_dind_variables_bare_host_means_http():
    proxy = reg.parse_proxy({"DIND_HTTP_PROXY": "proxy.local:3128", "DIND_NO_PROXY": "a.local, .corp",
                             "HTTP_PROXY": "http://ignored:1"})
    assert proxy == reg.Proxy("http://proxy.local:3128", "", ("a.local", ".corp"))


def test_propagate_takes_the_users_variables_upper_then_lower_case():
    values = {"DIND_PROPAGATE_HTTP_PROXY": "y", "http_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2",
              "https_proxy": "http://low:2", "no_proxy": "x.local"}
    assert reg.parse_proxy(values) == reg.Proxy("http://low:1", "http://up:2", ("x.local",))
    values["DIND_HTTP_PROXY"] = "http://own:3"           # an explicit DIND_* value still wins
    assert reg.parse_proxy(values).http == "http://own:3"


def test_without_propagate_the_users_proxy_is_not_taken():
    assert not reg.parse_proxy({"HTTP_PROXY": "http://p:1"}).wanted


@pytest.mark.parametrize("name", ["DIND_HTTP_PROXY", "DIND_HTTPS_PROXY"])
@pytest.mark.parametrize("text", ["ftp://p:21", "http://p:notaport", "http://:3128"])
def test_unparsable_proxy_names_the_variable(name, text):
    with pytest.raises(ConfigError) as err:
        reg.parse_proxy({name: text})
    assert err.value.message.startswith(f"{name}: ")


def test_unparsable_propagated_proxy_names_the_users_variable():
    with pytest.raises(ConfigError) as err:
        reg.parse_proxy({"DIND_PROPAGATE_HTTP_PROXY": "true", "https_proxy": "gopher://x"})
    assert err.value.message.startswith("HTTPS_PROXY: ")


def test_bad_url_error_does_not_show_the_password():
    with pytest.raises(ConfigError) as err:
        reg.parse_proxy({"DIND_HTTP_PROXY": "ftp://bob:hunter2@p:21"})
    assert "hunter2" not in err.value.message


@pytest.mark.parametrize("text", ["0", "65536", "abc", "-1"])
def test_local_registry_port(text):
    with pytest.raises(ConfigError) as err:
        reg.local_port(text)
    assert err.value.message.startswith("DIND_LOCAL_REGISTRY_PORT: ")
    assert reg.local_port("") == 5000 and reg.local_port("5999") == 5999


def test_no_proxy_holds_the_clusters_networks_names_and_loopback():
    plan = make_plan({"NUM_NODES": "1", "CLUSTER_ID": "5"})
    proxy = reg.Proxy("http://p:3128", "", ("corp.local",))
    env = rp.proxy_env(proxy, plan)
    entries = env["NO_PROXY"].split(",")
    for want in ["corp.local", "10.192.5.0/24", "10.244.0.0/16", "10.96.0.0/12", "kube-master-cluster-5",
                 "kube-node-1-cluster-5", ".svc", ".cluster.local", "localhost", "127.0.0.1", "::1"]:
        assert want in entries
    assert env["no_proxy"] == env["NO_PROXY"] and env["http_proxy"] == env["HTTP_PROXY"] == "http://p:3128"
    assert "HTTPS_PROXY" not in env
    assert rp.proxy_env(reg.Proxy(), plan) == {}


def test_dropin_quotes_and_doubles_percent_for_systemd():
    text = rp.proxy_dropin({"HTTP_PROXY": 'http://u:p%40ss@p:1', "NO_PROXY": "a,b"})
    assert text.splitlines()[1:] == ["[Service]", 'Environment="HTTP_PROXY=http://u:p%%40ss@p:1"',
                                     'Environment="NO_PROXY=a,b"']
    assert rp.proxy_dropin({}).splitlines()[1:] == ["[Service]"]   # replaces a drop-in a snapshot kept


def test_hosts_files_mirror_insecure_and_local_registry():
    config = reg.RegistryConfig(
        mirrors=reg.parse_mirrors("http://hub-mirror:5000,10.9.0.9:5000=http://m:5001"),
        insecure=reg.parse_insecure('["10.9.0.9:5000", "plain.local:5000"]'),
        local=reg.LocalRegistry(True, 5111))
    files = {path: tomllib.loads(text) for path, text in rp.hosts_files(config, "10.192.0.254:5000").items()}
    d = rp.CERTS_DIR
    assert files[f"{d}/docker.io/hosts.toml"] == {
        "server": "https://registry-1.docker.io",
        "host": {"http://hub-mirror:5000": {"capabilities": ["pull", "resolve"]}}}
    both = files[f"{d}/10.9.0.9:5000/hosts.toml"]
    assert both["server"] == "http://10.9.0.9:5000"
    assert list(both["host"]) == ["http://m:5001", "https://10.9.0.9:5000"]   # the mirror first
    assert both["host"]["https://10.9.0.9:5000"]["skip_verify"] is True
    assert files[f"{d}/plain.local:5000/hosts.toml"]["server"] == "http://plain.local:5000"
    for name in ("localhost:5111", "127.0.0.1:5111"):
        assert files[f"{d}/{name}/hosts.toml"] == {
            "server": "http://10.192.0.254:5000",
            "host": {"http://10.192.0.254:5000": {"capabilities": ["pull", "resolve", "push"]}}}
    assert len(files) == 5


def test_nothing_configured_means_no_host_files_and_empty_dropins():
    files = rp.node_files(reg.RegistryConfig(), make_plan({}))
    assert sorted(files) == ["/etc/systemd/system/containerd.service.d/30-proxy.conf",
                             "/etc/systemd/system/kubelet.service.d/30-proxy.conf"]


def test_stale_host_dirs_are_removed_but_configured_ones_kept():
    argv = rp.stale_hosts_argv({f"{rp.CERTS_DIR}/docker.io/hosts.toml": "", "/etc/x": ""})
    assert argv[:2] == ["sh", "-c"] and '! -name "docker.io"' in argv[2] and "/etc/x" not in argv[2]


@pytest.mark.parametrize("values, want", [
    ({}, ("10.192.0.254",)),
    ({"IP_MODE": "ipv6"}, ("fd00:20::300",)),
    ({"IP_MODE": "dual-stack", "CLUSTER_ID": "3"}, ("10.192.3.254", "fd00:20:3::300")),
])
def test_registry_addresses_sit_far_from_the_nodes(values, want):
    plan = make_plan(values)
    assert rp.registry_addresses(plan) == want
    rp.check_registry_room(plan)


def test_registry_address_clash_with_a_node_is_an_error():
    plan = make_plan({"MGMT_CIDRS": "10.50.0.0/29", "NUM_NODES": "3"})   # nodes .2-.5, registry .6
    with pytest.raises(ConfigError) as err:
        rp.check_registry_room(make_plan({"MGMT_CIDRS": "10.50.0.0/29", "NUM_NODES": "4"}))
    assert err.value.message.startswith("NUM_NODES: ")
    rp.check_registry_room(plan)


def test_configmap_follows_kep_1755():
    import yaml

    doc = yaml.safe_load(rp.local_registry_configmap(5111, "10.192.0.254:5000"))
    assert doc["metadata"] == {"name": "local-registry-hosting", "namespace": "kube-public"}
    assert yaml.safe_load(doc["data"]["localRegistryHosting.v1"]) == {
        "host": "localhost:5111", "hostFromContainerRuntime": "localhost:5111",
        "hostFromClusterNetwork": "10.192.0.254:5000"}


def test_summary_redacts_proxy_passwords():
    config = reg.parse({"DIND_HTTP_PROXY": "http://bob:hunter2@p:3128", "DIND_LOCAL_REGISTRY": "y"})
    text = str(rp.summary(config, make_plan({})))
    assert "hunter2" not in text and "bob:[REDACTED]@p:3128" in text


def test_redact_takes_url_passwords_out_of_dumps():
    out = redact_text('Environment="HTTP_PROXY=http://bob:hunter2@p:3128"\nhttps://x.local/ path:1@x\n')
    assert out == 'Environment="HTTP_PROXY=http://bob:[REDACTED]@p:3128"\nhttps://x.local/ path:1@x\n'


def test_config_shows_the_proxy_result_redacted_and_json_has_registries():
    import json

    from typer.testing import CliRunner

    from dind_cluster.cli import app

    env = {"EMBEDDED_CONFIG": "y", "DIND_HTTP_PROXY": "http://bob:hunter2@p:3128", "NUM_NODES": "1"}
    out = CliRunner().invoke(app, ["config"], env=env)
    assert out.exit_code == 0, out.output
    assert "hunter2" not in out.output
    assert "DIND_HTTP_PROXY=http://bob:[REDACTED]@p:3128  (environment)" in out.output
    no_proxy = [line for line in out.output.splitlines() if line.startswith("NO_PROXY=")]
    assert len(no_proxy) == 1 and "10.192.0.0/24" in no_proxy[0] and "kube-node-1" in no_proxy[0]
    doc = json.loads(CliRunner().invoke(app, ["config", "--json"], env=env).output)
    assert doc["registries"]["proxy"]["HTTP_PROXY"] == "http://bob:[REDACTED]@p:3128"


def test_bad_registry_setting_is_one_error_line_from_config():
    from typer.testing import CliRunner

    from dind_cluster.cli import app

    out = CliRunner().invoke(app, ["config"], env={"EMBEDDED_CONFIG": "y", "DIND_REGISTRY_MIRROR": "mirror:5000"})
    assert out.exit_code == 1
    assert out.output.strip().splitlines()[0].startswith("ERROR: DIND_REGISTRY_MIRROR: 'mirror:5000' is not a URL;")
