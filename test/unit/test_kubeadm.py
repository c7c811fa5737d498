"""kubeadm init/join configuration: golden files per minor family and IP mode, plus the rules.

Regenerate the golden files with UPDATE_GOLDEN=1 (then read the diff before committing).
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest
import yaml

from dind_cluster import kubeadm, versions
from dind_cluster.errors import ConfigError, DindError
from dind_cluster.templates import render
from kubeadm_plans import PLANS, dual_stack, ipv4, ipv6, master_only

GOLDEN = Path(__file__).parent / "golden"
# A minor family: the supported minors that render the same documents (apart from
# kubernetesVersion). Each has golden files rendered for its newest minor.
FAMILIES = {api: max(m for m, facts in versions.MINORS.items() if facts.kubeadm_api == api)
            for api in {facts.kubeadm_api for facts in versions.MINORS.values()}}
VERSIONS = {api: f"v1.{minor}.0" for api, minor in FAMILIES.items()}
TOKEN = "abcdef.0123456789abcdef"
HASH = "sha256:" + "0123456789abcdef" * 4
DEFAULT_VALUES = {"FEATURE_GATES": "none", "KUBELET_FEATURE_GATES": "none"}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file"


def documents(text: str) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


def args_of(section: dict, key: str = "extraArgs") -> dict[str, str]:
    """extraArgs as a dict whichever shape the API version uses (map or name/value list)."""
    raw = section[key]
    return {a["name"]: a["value"] for a in raw} if isinstance(raw, list) else dict(raw)


def init(plan=None, values=None, version=versions.DEFAULT_K8S_VERSION, **kw) -> dict[str, dict]:
    text = kubeadm.render_init_config(plan or ipv4(), values or DEFAULT_VALUES,
                                      k8s_version=version, **kw)
    return documents(text)


@pytest.mark.parametrize("mode", PLANS)
@pytest.mark.parametrize("api", VERSIONS)
def test_init_config_matches_golden_file(api, mode):
    text = kubeadm.render_init_config(PLANS[mode](), DEFAULT_VALUES, k8s_version=VERSIONS[api])
    check_golden(f"init-{api}-{mode}.yaml", text)


@pytest.mark.parametrize("mode", PLANS)
@pytest.mark.parametrize("api", VERSIONS)
def test_join_config_matches_golden_file(api, mode):
    plan = PLANS[mode]()
    endpoint = kubeadm.host_port(plan.advertise_address)
    text = kubeadm.render_join_config(plan, plan.workers[0], k8s_version=VERSIONS[api],
                                      api_endpoint=endpoint, token=TOKEN, ca_cert_hashes=[HASH])
    check_golden(f"join-{api}-{mode}.yaml", text)


@pytest.mark.parametrize("mode", PLANS)
@pytest.mark.parametrize("api", VERSIONS)
def test_init_config_has_four_documents_of_the_chosen_api(api, mode):
    docs = init(PLANS[mode](), version=VERSIONS[api])
    assert set(docs) == {"InitConfiguration", "ClusterConfiguration",
                         "KubeletConfiguration", "KubeProxyConfiguration"}
    assert docs["InitConfiguration"]["apiVersion"] == f"kubeadm.k8s.io/{api}"
    assert docs["ClusterConfiguration"]["apiVersion"] == f"kubeadm.k8s.io/{api}"
    assert docs["KubeletConfiguration"]["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
    assert docs["KubeProxyConfiguration"]["apiVersion"] == "kubeproxy.config.k8s.io/v1alpha1"


@pytest.mark.parametrize("minor", sorted(versions.MINORS))
@pytest.mark.parametrize("mode", PLANS)
def test_every_supported_minor_renders_its_familys_golden_documents(minor, mode):
    api = versions.MINORS[minor].kubeadm_api
    rendered = kubeadm.render_init_config(PLANS[mode](), DEFAULT_VALUES, k8s_version=f"v1.{minor}.0")
    golden = (GOLDEN / f"init-{api}-{mode}.yaml").read_text()
    assert rendered == golden.replace(f'"{VERSIONS[api]}"', f'"v1.{minor}.0"')


@pytest.mark.parametrize("version, api", [
    ("v1.31.0", "v1beta4"), ("v1.33.1-rc.0", "v1beta4"), ("1.35", "v1beta4"), ("v1.37.1", "v1beta4"),
])
def test_api_version_follows_kubernetes_version(version, api):
    assert kubeadm.api_version_for(version) == api


@pytest.mark.parametrize("version", ["v1.30.14", "v1.26.0", "1.13", "v1.38.0", "v2.0.0", "latest", "", "v1.x.0"])
def test_unsupported_kubernetes_versions_are_config_errors_naming_the_range(version):
    with pytest.raises(ConfigError) as err:
        kubeadm.api_version_for(version)
    assert err.value.variable == "DIND_K8S_VERSION"
    assert f"1.{versions.OLDEST} to 1.{versions.NEWEST}" in err.value.message


def test_the_default_is_the_newest_supported_minor_with_a_patch_number():
    minor, has_patch = versions.parse(versions.DEFAULT_K8S_VERSION)
    assert minor == versions.NEWEST and has_patch


@pytest.mark.parametrize("version, image", [
    ("v1.31.4", "registry.k8s.io/pause:3.10"), ("v1.33.0", "registry.k8s.io/pause:3.10"),
    ("v1.34.1", "registry.k8s.io/pause:3.10.1"), ("1.35", "registry.k8s.io/pause:3.10.1"),
    ("v1.36.3", "registry.k8s.io/pause:3.10.2"), ("v1.37.1", "registry.k8s.io/pause:3.10.2"),
])
def test_pause_image_is_the_one_each_kubeadm_expects(version, image):
    assert kubeadm.pause_image(version) == image


def test_kubernetes_version_needs_a_patch_number_so_kubeadm_stays_offline():
    with pytest.raises(ConfigError, match="patch"):
        kubeadm.render_init_config(ipv4(), DEFAULT_VALUES, k8s_version="1.31")
    assert init(version="1.31.4")["ClusterConfiguration"]["kubernetesVersion"] == "v1.31.4"


@pytest.mark.parametrize("mode, endpoint, node_ip", [
    ("ipv4", "10.192.0.2:6443", "10.192.0.2"),
    ("ipv6", "[fd00:20::2]:6443", "fd00:20::2"),
    ("dual-stack", "[fd00:20::2]:6443", "fd00:20::2,10.192.0.2"),
])
@pytest.mark.parametrize("api", VERSIONS)
def test_master_advertises_its_address_and_registers_with_its_node_ips(api, mode, endpoint, node_ip):
    plan = PLANS[mode]()
    docs = init(plan, version=VERSIONS[api])
    init_cfg, cluster = docs["InitConfiguration"], docs["ClusterConfiguration"]
    assert init_cfg["localAPIEndpoint"] == {"advertiseAddress": plan.advertise_address,
                                            "bindPort": 6443}
    assert cluster["controlPlaneEndpoint"] == endpoint
    registration = init_cfg["nodeRegistration"]
    assert registration["name"] == "kube-master"
    assert registration["criSocket"] == "unix:///run/containerd/containerd.sock"
    assert args_of(registration, "kubeletExtraArgs") == {"node-ip": node_ip}
    sans = cluster["apiServer"]["certSANs"]
    assert {"localhost", "127.0.0.1", "::1", *plan.master.ips} <= set(sans)


@pytest.mark.parametrize("mode", PLANS)
def test_networking_carries_every_pod_family_and_the_service_cidr(mode):
    plan = PLANS[mode]()
    docs = init(plan)
    networking = docs["ClusterConfiguration"]["networking"]
    assert networking["podSubnet"] == ",".join(plan.pod_network_cidrs)
    assert networking["serviceSubnet"] == plan.service_cidr
    assert networking["dnsDomain"] == "cluster.local"
    assert docs["KubeProxyConfiguration"]["clusterCIDR"] == networking["podSubnet"]


@pytest.mark.parametrize("plan, masks", [
    (ipv4(), {"node-cidr-mask-size-ipv4": "24"}),
    (ipv6(), {"node-cidr-mask-size-ipv6": "80"}),
    (dual_stack(), {"node-cidr-mask-size-ipv4": "24", "node-cidr-mask-size-ipv6": "80"}),
])
def test_controller_manager_node_masks_match_the_planned_node_subnets(plan, masks):
    # kubeadm rejects a /72 IPv6 pod network with the controller manager's default /64 mask
    cm = args_of(init(plan)["ClusterConfiguration"]["controllerManager"])
    assert {k: v for k, v in cm.items() if k.startswith("node-cidr-mask")} == masks


@pytest.mark.parametrize("cni, allocates", [("bridge", False), ("ptp", False), ("flannel", True),
                                            ("calico", True)])
def test_controller_manager_allocates_node_pod_cidrs_only_for_manifest_cnis(cni, allocates):
    # bridge/ptp nodes use the plan's ranges; spec.podCIDR must not name others
    cm = args_of(init(replace(ipv4(), cni_plugin=cni))["ClusterConfiguration"]["controllerManager"])
    assert cm.get("allocate-node-cidrs", "true") == ("true" if allocates else "false")


def test_a_user_variable_turns_node_cidr_allocation_back_on():
    values = {**DEFAULT_VALUES, "CONTROLLER_MANAGER_allocate_node_cidrs": "true"}
    cm = args_of(init(values=values)["ClusterConfiguration"]["controllerManager"])
    assert cm["allocate-node-cidrs"] == "true"


def test_master_is_tainted_when_there_are_workers():
    taints = init(ipv4())["InitConfiguration"]["nodeRegistration"]["taints"]
    assert taints == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]


@pytest.mark.parametrize("api", VERSIONS)
def test_lone_master_has_no_taints_so_it_can_run_pods(api):
    docs = init(master_only(ipv4()), version=VERSIONS[api])
    assert docs["InitConfiguration"]["nodeRegistration"]["taints"] == []


@pytest.mark.parametrize("api", VERSIONS)
def test_feature_gates_go_to_apiserver_controller_manager_and_scheduler(api):
    values = {**DEFAULT_VALUES, "FEATURE_GATES": "Foo=true, BarBaz=false"}
    cluster = init(values=values, version=VERSIONS[api])["ClusterConfiguration"]
    for component in ("apiServer", "controllerManager", "scheduler"):
        assert args_of(cluster[component])["feature-gates"] == "Foo=true,BarBaz=false"


@pytest.mark.parametrize("gates", ["none", "", "NONE"])
def test_feature_gates_none_or_empty_are_omitted(gates):
    values = {"FEATURE_GATES": gates, "KUBELET_FEATURE_GATES": gates}
    docs = init(values=values)
    for component in ("apiServer", "controllerManager", "scheduler"):
        assert "feature-gates" not in args_of(docs["ClusterConfiguration"][component])
    assert "featureGates" not in docs["KubeletConfiguration"]


@pytest.mark.parametrize("api", VERSIONS)
def test_component_variables_become_extra_args_and_win_over_defaults(api):
    values = {**DEFAULT_VALUES,
              "APISERVER_audit_log_path": "/var/log/audit.log",
              "APISERVER_PORT": "8443",  # uppercase: a setting, not a flag
              "CONTROLLER_MANAGER_node_cidr_mask_size_ipv4": "25",
              "SCHEDULER_v": "4"}
    cluster = init(values=values, version=VERSIONS[api])["ClusterConfiguration"]
    assert args_of(cluster["apiServer"]) == {"audit-log-path": "/var/log/audit.log"}
    assert args_of(cluster["controllerManager"]) == {"allocate-node-cidrs": "false",
                                                     "node-cidr-mask-size-ipv4": "25"}
    assert args_of(cluster["scheduler"]) == {"v": "4"}


def test_extra_args_take_only_lowercase_names_of_their_prefix():
    values = {"APISERVER_enable_admission_plugins": "NodeRestriction",
              "APISERVER_PORT": "6443", "APISERVER_Mixed": "x",
              "SCHEDULER_v": "2", "CONTROLLER_MANAGER_bind_address": "::"}
    assert kubeadm.extra_args(values, "APISERVER") == {
        "enable-admission-plugins": "NodeRestriction"}
    assert kubeadm.extra_args(values, "CONTROLLER_MANAGER_") == {"bind-address": "::"}


def test_extra_arg_values_that_look_like_yaml_keywords_stay_strings():
    values = {**DEFAULT_VALUES, "APISERVER_anonymous_auth": "false", "APISERVER_v": "1.30"}
    for version in VERSIONS.values():
        args = args_of(init(values=values, version=version)["ClusterConfiguration"]["apiServer"])
        assert args == {"anonymous-auth": "false", "v": "1.30"}


@pytest.mark.parametrize("variable", ["FEATURE_GATES", "KUBELET_FEATURE_GATES"])
@pytest.mark.parametrize("bad", ["Foo", "Foo=yes", "=true", "Foo=true;Bar=false", "9x=true"])
def test_bad_feature_gate_syntax_is_a_config_error_naming_the_variable(variable, bad):
    with pytest.raises(ConfigError) as err:
        init(values={**DEFAULT_VALUES, variable: bad})
    assert err.value.variable == variable


def test_kubelet_feature_gates_become_a_map_of_booleans():
    values = {**DEFAULT_VALUES, "KUBELET_FEATURE_GATES": "Foo=true,Bar=FALSE"}
    assert init(values=values)["KubeletConfiguration"]["featureGates"] == {
        "Foo": True, "Bar": False}


@pytest.mark.parametrize("service_cidr, dns", [
    ("172.30.0.0/16", "172.30.0.10"), ("10.96.0.0/12", "10.96.0.10"),
])
def test_cluster_dns_follows_the_plans_dns_service_ip(service_cidr, dns):
    plan = replace(ipv4(), service_cidr=service_cidr, dns_svc_ip=dns)
    docs = init(plan)
    assert docs["KubeletConfiguration"]["clusterDNS"] == [dns]
    assert docs["ClusterConfiguration"]["networking"]["serviceSubnet"] == service_cidr


def test_kubelet_never_evicts_for_disk_pressure_and_tolerates_swap():
    kubelet = init()["KubeletConfiguration"]
    assert kubelet["failSwapOn"] is False
    assert kubelet["imageGCHighThresholdPercent"] == 100
    assert set(kubelet["evictionHard"].values()) == {"0%"}
    assert {"nodefs.available", "imagefs.available"} <= set(kubelet["evictionHard"])
    assert kubelet["clusterDomain"] == "cluster.local"


@pytest.mark.parametrize("version", ["v1.31.4", "v1.35.0", "v1.37.1"])
@pytest.mark.parametrize("cgroup_v1, expected", [(True, False), (False, None)])
def test_fail_cgroup_v1_is_turned_off_on_cgroup_v1_hosts(version, cgroup_v1, expected):
    # from 1.35 the kubelet refuses cgroup v1 unless told otherwise
    kubelet = init(version=version, cgroup_v1=cgroup_v1)["KubeletConfiguration"]
    assert kubelet.get("failCgroupV1") == expected


@pytest.mark.parametrize("driver", ["systemd", "cgroupfs"])
def test_cgroup_driver_is_a_parameter(driver):
    assert init(cgroup_driver=driver)["KubeletConfiguration"]["cgroupDriver"] == driver


def test_unknown_cgroup_driver_is_refused():
    with pytest.raises(ValueError):
        init(cgroup_driver="docker")


def test_kubelet_finds_containerd_through_its_config_file():
    assert init()["KubeletConfiguration"]["containerRuntimeEndpoint"] == kubeadm.CRI_SOCKET


@pytest.mark.parametrize("mode, bind", [("ipv4", "0.0.0.0"), ("ipv6", "::"), ("dual-stack", "::")])
def test_kube_proxy_uses_iptables_and_leaves_conntrack_sysctls_alone(mode, bind):
    proxy = init(PLANS[mode]())["KubeProxyConfiguration"]
    assert proxy["mode"] == "iptables"
    assert proxy["bindAddress"] == bind
    assert proxy["conntrack"]["maxPerCore"] == 0


@pytest.mark.parametrize("api", VERSIONS)
@pytest.mark.parametrize("mode", PLANS)
def test_join_config_carries_discovery_and_the_workers_registration(api, mode):
    plan = PLANS[mode]()
    worker = plan.workers[1]
    hashes = [HASH, "sha256:" + "f" * 64]
    text = kubeadm.render_join_config(plan, worker, k8s_version=VERSIONS[api],
                                      api_endpoint="[fd00:20::2]:6443", token=TOKEN,
                                      ca_cert_hashes=hashes)
    (doc,) = yaml.safe_load_all(text)
    assert doc["apiVersion"] == f"kubeadm.k8s.io/{api}" and doc["kind"] == "JoinConfiguration"
    assert doc["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": "[fd00:20::2]:6443", "token": TOKEN, "caCertHashes": hashes}
    registration = doc["nodeRegistration"]
    assert registration["name"] == "kube-node-2"
    assert registration["criSocket"] == "unix:///run/containerd/containerd.sock"
    assert args_of(registration, "kubeletExtraArgs") == {"node-ip": kubeadm.node_ip(plan, worker)}
    assert set(worker.ips) == set(kubeadm.node_ip(plan, worker).split(","))


def test_templates_are_strict_about_missing_variables():
    context = kubeadm.init_context(ipv4(), DEFAULT_VALUES, k8s_version=versions.DEFAULT_K8S_VERSION)
    del context["dns_svc_ip"]
    with pytest.raises(jinja2.UndefinedError, match="dns_svc_ip"):
        render("kubeadm-v1beta4.yaml.j2", **context)


JOIN_OUTPUT = (
    "W1125 10:00:00.123456    1234 version.go:104] could not fetch a Kubernetes version\n"
    "kubeadm join 10.192.0.2:6443 --token abcdef.0123456789abcdef "
    f"--discovery-token-ca-cert-hash {HASH} \n"
)


def test_parse_join_command_reads_endpoint_token_and_hash():
    assert kubeadm.parse_join_command(JOIN_OUTPUT) == ("10.192.0.2:6443", TOKEN, [HASH])


def test_parse_join_command_accepts_ipv6_continuations_and_equals_forms():
    text = ("kubeadm join [fd00:20::2]:6443 --token=abcdef.0123456789abcdef \\\n"
            f"\t--discovery-token-ca-cert-hash={HASH} \\\n"
            f"\t--discovery-token-ca-cert-hash sha256:{'e' * 64}\n")
    assert kubeadm.parse_join_command(text) == (
        "[fd00:20::2]:6443", TOKEN, [HASH, "sha256:" + "e" * 64])


@pytest.mark.parametrize("text", [
    "", "error: something went wrong\n",
    "kubeadm join 10.192.0.2:6443 --token abcdef.0123456789abcdef\n",
    f"kubeadm join 10.192.0.2:6443 --token bad --discovery-token-ca-cert-hash {HASH}\n",
    f"kubeadm join --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash {HASH}\n",
])
def test_parse_join_command_refuses_incomplete_output(text):
    with pytest.raises(DindError):
        kubeadm.parse_join_command(text)


def test_preflight_ignores_only_named_checks_each_with_a_reason():
    assert "all" not in {c.lower() for c in kubeadm.PREFLIGHT_IGNORED}
    assert all(reason.strip() for reason in kubeadm.PREFLIGHT_IGNORED.values())


# The end of `kubeadm init` output with --upload-certs and a controlPlaneEndpoint (kubeadm prints the
# control-plane join first, then the worker join), as in the kubeadm HA set-up guide.
INIT_OUTPUT_HA = (
    "[bootstrap-token] Using token: abcdef.0123456789abcdef\n"
    "Your Kubernetes control-plane has initialized successfully!\n\n"
    "You can now join any number of control-plane nodes running the following command on each as root:\n\n"
    "  kubeadm join kube-lb:6443 --token abcdef.0123456789abcdef \\\n"
    f"\t--discovery-token-ca-cert-hash {HASH} \\\n"
    f"\t--control-plane --certificate-key {'f' * 64}\n\n"
    "Please note that the certificate-key gives access to cluster sensitive data, keep it secret!\n\n"
    "Then you can join any number of worker nodes by running the following on each as root:\n\n"
    "kubeadm join kube-lb:6443 --token abcdef.0123456789abcdef \\\n"
    f"\t--discovery-token-ca-cert-hash {HASH} \n"
)


@pytest.mark.parametrize("text, endpoint", [(JOIN_OUTPUT, "10.192.0.2:6443"), (INIT_OUTPUT_HA, "kube-lb:6443")])
def test_the_join_discovery_is_read_from_kubeadm_init_output(text, endpoint):
    """`up` joins with the token `kubeadm init` printed: no `kubeadm token create` round trip."""
    assert kubeadm.join_from_init_output(text) == (endpoint, TOKEN, [HASH])


def test_init_output_without_a_join_line_means_asking_for_a_token():
    # e.g. `init --skip-token-print`: the caller falls back to `kubeadm token create`
    assert kubeadm.join_from_init_output("Your Kubernetes control-plane has initialized successfully!\n") is None
