"""The command line: exit codes, one-line errors, config output, registered subcommands."""
import json

import pytest
from typer.testing import CliRunner

from dind_cluster import cli

runner = CliRunner()
CLEAN_ENV = {"DIND_CONFIG": None, "EMBEDDED_CONFIG": "y", "NUM_NODES": None, "IP_MODE": None, "CLUSTER_ID": None,
             "DIND_LABEL": None, "CNI_PLUGIN": None, "MGMT_CIDRS": None, "POD_NETWORK_CIDR": None, "SERVICE_CIDR": None}


def invoke(args, **env):
    return runner.invoke(cli.app, args, env={**CLEAN_ENV, **env})


def error_lines(result):
    return [line for line in result.output.splitlines() if line.strip()]


def test_config_json_prints_the_default_plan():
    result = invoke(["config", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["context"] == "dind"
    assert [n["name"] for n in plan["nodes"]] == ["kube-master", "kube-node-1", "kube-node-2"]
    assert plan["nodes"][0]["ips"] == ["10.192.0.2"]
    assert plan["nodes"][1]["pod_cidrs"] == ["10.244.2.0/24"]


def test_flags_reach_the_plan():
    result = invoke(["--nodes", "1", "--cluster-id", "10", "config", "--json"])
    plan = json.loads(result.stdout)
    assert plan["context"] == "dind-cluster-10"
    assert [n["name"] for n in plan["nodes"]] == ["kube-master-cluster-10", "kube-node-1-cluster-10"]


def test_config_lists_values_with_their_sources():
    result = invoke(["--ip-mode", "ipv6", "config"], NUM_NODES="3")
    assert result.exit_code == 0, result.output
    assert "NUM_NODES=3  (environment)" in result.stdout
    assert "IP_MODE=ipv6  (flag)" in result.stdout
    assert "CNI_PLUGIN=bridge  (default)" in result.stdout


@pytest.mark.parametrize("env, variable", [
    ({"NUM_NODES": "-1"}, "NUM_NODES"),
    ({"NUM_NODES": "two"}, "NUM_NODES"),
    ({"CLUSTER_ID": "255"}, "CLUSTER_ID"),
    ({"IP_MODE": "ipv5"}, "IP_MODE"),
    ({"CNI_PLUGIN": "cilium"}, "CNI_PLUGIN"),
    ({"POD_NETWORK_CIDR": "10.244.0.0/20"}, "POD_NETWORK_CIDR"),
    ({"MGMT_CIDRS": "10.1.0.0/24,10.2.0.0/24"}, "MGMT_CIDRS"),
    ({"SERVICE_CIDR": "not-a-cidr"}, "SERVICE_CIDR"),
])
def test_bad_value_is_a_one_line_error_naming_the_variable(env, variable):
    result = invoke(["config", "--json"], **env)
    assert result.exit_code == 1
    lines = error_lines(result)
    assert 1 <= len(lines) <= 2, lines
    assert lines[0].startswith(f"ERROR: {variable}: ")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["config"], ["config", "--json"], ["--k8s-version", "v1.30.14", "config"]])
def test_config_refuses_kubernetes_before_1_31_in_one_line_naming_the_range(args):
    result = invoke(args, DIND_K8S_VERSION="v1.30.14")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "ERROR: DIND_K8S_VERSION: Kubernetes v1.30.14 is too old (its kubeadm needs crictl, which Debian "
        "doesn't package); supported: 1.31 to 1.37 (e.g. v1.37.1)"]


def test_every_original_subcommand_is_registered_with_help():
    names = {c.name for c in cli.app.registered_commands}
    original = {"up", "reup", "down", "init", "join", "pause", "unpause", "snapshot", "restore", "clean",
                "copy-image", "e2e", "e2e-serial", "dump", "dump64", "split-dump", "split-dump64",
                "apiserver-port", "config"}
    assert original <= names
    for name in original:
        result = invoke([name, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_unexpected_exception_says_rerun_with_v_and_exits_3(monkeypatch):
    def boom(self):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli.Session, "plan", boom)
    result = invoke(["config", "--json"])
    assert result.exit_code == 3
    assert "run again with -v" in result.output.lower()
    assert "Traceback" not in result.output


def test_ctrl_c_exits_130(monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.Session, "plan", interrupted)
    assert invoke(["config", "--json"]).exit_code == 130


@pytest.mark.parametrize("docker_host", ["tcp://127.0.0.1:1", "unix:///nonexistent/docker.sock"])
def test_unreachable_engine_is_one_error_with_guidance(docker_host):
    result = invoke(["down"], DOCKER_HOST=docker_host)
    assert result.exit_code == 1
    lines = error_lines(result)
    assert lines[0].startswith(f"ERROR: couldn't connect to the Docker engine at {docker_host}: ")
    assert "is it running? set DOCKER_HOST" in lines[1] and len(lines) == 2
