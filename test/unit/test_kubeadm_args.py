"""`init`/`join` kubeadm-args: config fields, kubeadm's --config-compatible flags, one-line refusals;
and DIND_KUBEADM_PATCHES. The rendered documents must pass the stand-in's field lists."""
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dind_cluster import cli, kubeadm, kubeadm_args, versions
from dind_cluster.errors import ConfigError
from kubeadm_plans import ipv4

STANDIN_KUBEADM = Path(__file__).resolve().parents[2] / "test" / "standin" / "bin" / "kubeadm"
HASH = "sha256:" + "0" * 64


def standin_accepts(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    res = subprocess.run([str(STANDIN_KUBEADM), "__standin-check", str(path)], capture_output=True, text=True,
                         env={**os.environ, "STANDIN_VERSION": versions.DEFAULT_K8S_VERSION + "-standin"})
    assert res.returncode == 0, res.stderr
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


@pytest.mark.parametrize("args, fields, flags", [
    (["--token-ttl", "2h", "--token=abcdef.0123456789abcdef"],
     {"bootstrap_token_ttl": "2h", "bootstrap_token": "abcdef.0123456789abcdef"}, []),
    (["--apiserver-cert-extra-sans=a.example,b.example", "--apiserver-cert-extra-sans", "c"],
     {"extra_cert_sans": ["a.example", "b.example", "c"]}, []),
    (["--v=5", "--dry-run", "--upload-certs", "--ignore-preflight-errors", "Swap"], {},
     ["--v=5", "--dry-run", "--upload-certs", "--ignore-preflight-errors=Swap"]),
    (["--skip-phases=addon/kube-proxy", "--feature-gates", "ControlPlaneKubeletLocalMode=true"],
     {"skip_phases": ["addon/kube-proxy"], "kubeadm_feature_gates": "ControlPlaneKubeletLocalMode=true"}, []),
])
def test_init_arguments_become_fields_or_stay_flags_kubeadm_takes_beside_config(args, fields, flags):
    parsed = kubeadm_args.parse("init", args)
    assert (parsed.fields, parsed.flags) == (fields, flags)


@pytest.mark.parametrize("command, arg, how", [
    ("init", "--pod-network-cidr=10.1.0.0/16", "set POD_NETWORK_CIDR"),
    ("init", "--kubernetes-version=v1.36.0", "set DIND_K8S_VERSION"),
    ("init", "--config=/tmp/k.yaml", "DIND_KUBEADM_PATCHES"),
    ("init", "--patches=/tmp/p", "set DIND_KUBEADM_PATCHES"),
    ("join", "--node-name=x", "CLUSTER_ID or DIND_LABEL"),
    ("join", "--control-plane", "adds workers"),
    ("init", "--made-up", "use one of --apiserver-cert-extra-sans"),
])
def test_other_arguments_are_refused_in_one_line_saying_how_to_set_them(command, arg, how):
    with pytest.raises(ConfigError) as err:
        kubeadm_args.parse(command, [arg])
    assert err.value.variable == f"kubeadm {command} {arg.split('=')[0]}"
    assert how in err.value.message and "\n" not in err.value.message


def test_join_takes_the_endpoint_and_discovery_of_the_originals_join_command():
    parsed = kubeadm_args.parse("join", ["10.192.0.2:6443", "--token", "abcdef.0123456789abcdef",
                                         "--discovery-token-ca-cert-hash", HASH, "--v=2"])
    assert parsed.fields == {"api_endpoint": "10.192.0.2:6443", "token": "abcdef.0123456789abcdef",
                             "ca_cert_hashes": [HASH]}
    assert parsed.flags == ["--v=2"]


def test_init_fields_land_where_kubeadm_reads_them(tmp_path):
    parsed = kubeadm_args.parse("init", [
        "--token-ttl=2h", "--apiserver-cert-extra-sans=kube.example", "--cert-dir=/etc/kubernetes/pki",
        "--image-repository=registry.example/k8s", "--feature-gates=ControlPlaneKubeletLocalMode=true",
        "--skip-phases=addon/kube-proxy", "--certificate-key=" + "ab" * 32, "--service-dns-domain=dind.local"])
    text = kubeadm.render_init_config(ipv4(), {}, k8s_version=versions.DEFAULT_K8S_VERSION, extra=parsed.fields,
                                      patches=True)
    docs = standin_accepts(tmp_path, text)
    init, cluster = docs["InitConfiguration"], docs["ClusterConfiguration"]
    assert init["bootstrapTokens"][0]["ttl"] == "2h" and "token" not in init["bootstrapTokens"][0]
    assert init["skipPhases"] == ["addon/kube-proxy"] and init["certificateKey"] == "ab" * 32
    assert init["patches"] == {"directory": kubeadm_args.PATCHES_DIR}
    assert "kube.example" in cluster["apiServer"]["certSANs"] and "127.0.0.1" in cluster["apiServer"]["certSANs"]
    assert cluster["certificatesDir"] == "/etc/kubernetes/pki"
    assert cluster["imageRepository"] == "registry.example/k8s"
    assert cluster["featureGates"] == {"ControlPlaneKubeletLocalMode": True}
    assert cluster["networking"]["dnsDomain"] == docs["KubeletConfiguration"]["clusterDomain"] == "dind.local"


def test_join_fields_land_where_kubeadm_reads_them(tmp_path):
    parsed = kubeadm_args.parse("join", ["--token=abcdef.0123456789abcdef", "--discovery-token-unsafe-skip-ca-verification",
                                         "--tls-bootstrap-token=abcdef.0123456789abcdef", "--skip-phases=preflight"])
    plan = ipv4()
    text = kubeadm.render_join_config(plan, plan.workers[0], k8s_version=versions.DEFAULT_K8S_VERSION,
                                      api_endpoint="10.192.0.2:6443", token=parsed.fields["token"], ca_cert_hashes=[],
                                      extra=parsed.fields, patches=True)
    join = standin_accepts(tmp_path, text)["JoinConfiguration"]
    assert join["discovery"]["bootstrapToken"]["unsafeSkipCAVerification"] is True
    assert join["discovery"]["bootstrapToken"]["caCertHashes"] == []
    assert join["discovery"]["tlsBootstrapToken"] == "abcdef.0123456789abcdef"
    assert join["skipPhases"] == ["preflight"] and join["patches"] == {"directory": kubeadm_args.PATCHES_DIR}


@pytest.mark.parametrize("names, ok", [
    (["kube-apiserver0+merge.yaml", "etcd.json", "kubeletconfiguration+strategic.yaml"], True),
    (["corednsdeployment+json.json"], True),
    (["apiserver.yaml"], False), (["etcd.txt"], False), ([], False),
])
def test_patch_files_must_have_names_kubeadm_reads(names, ok):
    if ok:
        assert kubeadm_args.check_patch_names("/p", names) == sorted(names)
    else:
        with pytest.raises(ConfigError) as err:
            kubeadm_args.check_patch_names("/p", names)
        assert err.value.variable == "DIND_KUBEADM_PATCHES"


def test_cli_init_refuses_a_flag_before_creating_anything():
    env = {"DIND_CONFIG": None, "EMBEDDED_CONFIG": "y", "DOCKER_HOST": "unix:///nonexistent.sock"}
    result = CliRunner().invoke(cli.app, ["init", "--pod-network-cidr=10.1.0.0/16"], env=env)
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.strip()] == [
        "ERROR: kubeadm init --pod-network-cidr: can't be passed to kubeadm beside the config dind-cluster "
        "writes; set POD_NETWORK_CIDR"]
