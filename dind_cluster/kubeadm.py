"""Pure: kubeadm init/join configuration for a planned cluster, rendered from templates/.

The kubeadm API version follows the Kubernetes version (versions.MINORS: v1beta4, with list-
shaped extraArgs, for every supported minor). The init file carries four documents: InitConfiguration,
ClusterConfiguration, KubeletConfiguration and KubeProxyConfiguration; workers get a
JoinConfiguration and fetch the kubelet configuration from the cluster.

Settings read from `values`: FEATURE_GATES and KUBELET_FEATURE_GATES (`A=true,B=false`, or
`none`/empty for nothing) and every APISERVER_x_y / CONTROLLER_MANAGER_x_y / SCHEDULER_x_y
(name part in lowercase letters and underscores as in the original, digits allowed after the
first character so that flags such as node-cidr-mask-size-ipv4 can be set), which becomes the
component flag `x-y`. With bridge/ptp the controller manager doesn't allocate node pod CIDRs
(the nodes' CNI configs carry the plan's). `extra` holds the fields that `init`/`join`
kubeadm-args set (kubeadm_args.py); `patches` names kubeadm_args.PATCHES_DIR for
DIND_KUBEADM_PATCHES. `pause_image(version)` is the sandbox image kubeadm of that version expects.
"""
from __future__ import annotations

import re
import shlex
from typing import Mapping, Optional, Sequence

from netaddr import IPAddress, IPNetwork

from dind_cluster import versions
from dind_cluster.cni import CONFLIST_PLUGINS
from dind_cluster.errors import ConfigError, DindError
from dind_cluster.kubeadm_args import PATCHES_DIR
from dind_cluster.network import same_family
from dind_cluster.plan import ClusterPlan, NodePlan
from dind_cluster.templates import render
from dind_cluster.versions import pause_image  # noqa: F401  (node image: containerd's sandbox image)

CRI_SOCKET = "unix:///run/containerd/containerd.sock"
API_PORT = 6443
DNS_DOMAIN = "cluster.local"
POD_RESOLV_CONF = "/etc/dind/pod-resolv.conf"   # written at every boot by the node's dind-node-setup
CGROUP_DRIVERS = ("systemd", "cgroupfs")
# kubeadm preflight checks that can't pass in a container, ignored by name (never "all": a real
# problem such as a port in use, a missing binary or a wrong cgroup driver must stop `up`).
PREFLIGHT_IGNORED = {
    # kernel config (/proc/config.gz, /boot/config-*) and modules aren't visible in a container;
    # on cgroup v1 it also errors out for Kubernetes 1.35+ (we set failCgroupV1: false instead)
    "SystemVerification": "the kernel's config and modules can't be read from inside a container",
    # the host's swap is the node's; the kubelet runs with failSwapOn: false
    "Swap": "nodes share the host's swap; the kubelet is configured with failSwapOn: false",
}
COMPONENT_PREFIXES = {"apiserver": "APISERVER", "controller_manager": "CONTROLLER_MANAGER",
                      "scheduler": "SCHEDULER"}

_GATE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def api_version_for(k8s_version: str) -> str:
    """The kubeadm config API ('v1beta4') for a version such as 'v1.37.1' or '1.35'."""
    return versions.minor_of(k8s_version).kubeadm_api


def kubernetes_version(k8s_version: str) -> str:
    """The ClusterConfiguration value: a full release with a leading 'v'. kubeadm would take
    anything else for a release label and look it up online."""
    if not versions.parse(k8s_version)[1]:
        raise ConfigError("DIND_K8S_VERSION", f"'{k8s_version}' has no patch number",
                          f"use a full release such as {versions.DEFAULT_K8S_VERSION}")
    return "v" + k8s_version.strip().lstrip("v")


def parse_feature_gates(variable: str, text: str | None) -> dict[str, bool]:
    """`A=true,B=false` → {A: True, B: False}; `none` or empty → {}."""
    text = (text or "").strip()
    if text.lower() in ("", "none"):
        return {}
    gates: dict[str, bool] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not _GATE_NAME.match(name) or value.lower() not in ("true", "false"):
            raise ConfigError(variable, f"bad feature gate '{item}' in '{text}'",
                              "use Name=true or Name=false, separated by commas, or none")
        gates[name] = value.lower() == "true"
    return gates


def _gates_flag(gates: Mapping[str, bool]) -> str:
    return ",".join(f"{name}={'true' if on else 'false'}" for name, on in gates.items())


def extra_args(values: Mapping[str, str], prefix: str) -> dict[str, str]:
    """Flags from `<PREFIX>_<name>=value` variables: APISERVER_audit_log_path=/x gives
    {'audit-log-path': '/x'}. Only lowercase names count (APISERVER_PORT does not)."""
    pattern = re.compile(rf"^{re.escape(prefix.rstrip('_'))}_([a-z_][a-z0-9_]*)$")
    found = {}
    for name, value in values.items():
        match = pattern.match(name)
        if match:
            found[match.group(1).replace("_", "-")] = value
    return dict(sorted(found.items()))


def _node_cidr_args(plan: ClusterPlan) -> dict[str, str]:
    """Node pod CIDRs: with bridge/ptp the plan gives each node its range and the node's CNI
    config uses it, so the controller manager must not record others (`spec.podCIDR` in another
    order); manifest CNIs (flannel, calico, ...) read `spec.podCIDR`, so it allocates them.
    The mask sizes are the plan's either way: kubeadm checks them against podSubnet, and the
    IPv6 default (/64) is larger than our /72 pod network."""
    args = {"allocate-node-cidrs": "false"} if plan.cni_plugin in CONFLIST_PLUGINS else {}
    for cidr in plan.master.pod_cidrs:
        net = IPNetwork(cidr)
        args[f"node-cidr-mask-size-ipv{net.version}"] = str(net.prefixlen)
    return args


def component_args(plan: ClusterPlan, values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """extraArgs of apiserver, controller_manager and scheduler; the user's variables win."""
    gates = parse_feature_gates("FEATURE_GATES", values.get("FEATURE_GATES"))
    result = {}
    for component, prefix in COMPONENT_PREFIXES.items():
        args = {"feature-gates": _gates_flag(gates)} if gates else {}
        if component == "controller_manager":
            args.update(_node_cidr_args(plan))
        args.update(extra_args(values, prefix))
        result[component] = dict(sorted(args.items()))
    return result


def node_ip(plan: ClusterPlan, node: NodePlan) -> str:
    """kubelet --node-ip: every management address, the service family's first (primary)."""
    primary = 6 if plan.service_net_mode == "ipv6" else 4
    ips = sorted(node.ips, key=lambda ip: IPAddress(ip).version != primary)
    return ",".join(ips)


def host_port(address: str, port: int = API_PORT) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def cert_sans(plan: ClusterPlan) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1", plan.advertise_address, *plan.master.ips]
    if plan.balancer is not None:   # every apiserver is reached through the balancer too
        names += [plan.balancer.name, *plan.balancer.ips]
    return list(dict.fromkeys(names))


CERTIFICATE_KEY = re.compile(r"^[0-9a-f]{64}$")


def check_certificate_key(key: str) -> str:
    """kubeadm's certificate key (upload-certs): 32 bytes, hex-encoded."""
    if not CERTIFICATE_KEY.match(key):
        raise ValueError("a kubeadm certificate key is 64 lowercase hex digits")
    return key


def _kubelet_context(values: Mapping[str, str], cgroup_driver: str, cgroup_v1: bool) -> dict:
    if cgroup_driver not in CGROUP_DRIVERS:
        raise ValueError(f"cgroup driver must be one of {CGROUP_DRIVERS}, got {cgroup_driver!r}")
    return {
        "cgroup_driver": cgroup_driver, "resolv_conf": POD_RESOLV_CONF,
        "container_runtime_endpoint": CRI_SOCKET,
        # failCgroupV1 defaults to true from 1.35: a cgroup v1 host must turn it off
        "set_fail_cgroup_v1": cgroup_v1,
        "kubelet_feature_gates": parse_feature_gates("KUBELET_FEATURE_GATES",
                                                     values.get("KUBELET_FEATURE_GATES")),
    }


def _init_extras(plan: ClusterPlan, extra: Mapping, patches: bool, certificate_key: str = "") -> dict:
    """The fields that `init` kubeadm-args (kubeadm_args.INIT_FIELDS), DIND_KUBEADM_PATCHES and an HA
    control plane's certificate key set."""
    key = certificate_key or extra.get("certificate_key", "")
    token = {"token": extra.get("bootstrap_token", ""), "ttl": extra.get("bootstrap_token_ttl", "")}
    return {
        "control_plane_endpoint": extra.get("control_plane_endpoint") or host_port(plan.endpoint_address),
        "dns_domain": extra.get("dns_domain") or DNS_DOMAIN,
        "cert_sans": list(dict.fromkeys(cert_sans(plan) + list(extra.get("extra_cert_sans", ())))),
        "init_fields": {"certificateKey": check_certificate_key(key) if key else ""},
        "cluster_fields": {"certificatesDir": extra.get("certificates_dir", ""),
                           "imageRepository": extra.get("image_repository", "")},
        "kubeadm_feature_gates": parse_feature_gates("kubeadm init --feature-gates",
                                                     extra.get("kubeadm_feature_gates")),
        "bootstrap_token": {k: v for k, v in token.items() if v},
        "skip_phases": list(extra.get("skip_phases", ())),
        "patches_dir": PATCHES_DIR if patches else "",
    }


def init_context(plan: ClusterPlan, values: Mapping[str, str], *, k8s_version: str,
                 cgroup_driver: str = "systemd", cgroup_v1: bool = False,
                 extra: Mapping = None, patches: bool = False, certificate_key: str = "") -> dict:
    """Everything the init templates use, as plain values (also handy for `-v` output).
    `extra`: fields from the `init` kubeadm-args; `patches`: the node gets kubeadm patch files;
    `certificate_key` (HA control planes) encrypts the certificates `kubeadm init --upload-certs`
    shares with the masters that join."""
    args = component_args(plan, values)
    return {
        "advertise_address": plan.advertise_address, "api_port": API_PORT,
        "node_name": plan.master.name, "cri_socket": CRI_SOCKET,
        "ignore_preflight_errors": list(PREFLIGHT_IGNORED),
        "taints": bool(plan.workers),  # masters without workers must take pods
        "kubelet_args": {"node-ip": node_ip(plan, plan.master)},
        "kubernetes_version": kubernetes_version(k8s_version),
        "pod_subnet": ",".join(plan.pod_network_cidrs), "service_subnet": plan.service_cidr,
        "apiserver_args": args["apiserver"],
        "controller_manager_args": args["controller_manager"],
        "scheduler_args": args["scheduler"],
        "dns_svc_ip": plan.dns_svc_ip,
        "proxy_bind_address": "::" if plan.service_net_mode == "ipv6" else "0.0.0.0",
        **_kubelet_context(values, cgroup_driver, cgroup_v1),
        **_init_extras(plan, extra or {}, patches, certificate_key),
    }


def render_init_config(plan: ClusterPlan, values: Mapping[str, str], *, k8s_version: str,
                       cgroup_driver: str = "systemd", cgroup_v1: bool = False,
                       extra: Mapping = None, patches: bool = False, certificate_key: str = "") -> str:
    """/etc/kubeadm/kubeadm.yaml for the master."""
    context = init_context(plan, values, k8s_version=k8s_version, cgroup_driver=cgroup_driver,
                           cgroup_v1=cgroup_v1, extra=extra, patches=patches,
                           certificate_key=certificate_key)
    return render(f"kubeadm-{api_version_for(k8s_version)}.yaml.j2", **context)


def render_join_config(plan: ClusterPlan, node: NodePlan, *, k8s_version: str,
                       api_endpoint: str, token: str, ca_cert_hashes: Sequence[str],
                       extra: Mapping = None, patches: bool = False, certificate_key: str = "") -> str:
    """/etc/kubeadm/join.yaml for a worker, or for an extra master (a control-plane join with
    the certificate key `kubeadm init --upload-certs` used: `controlPlane` in the config is
    what `--control-plane --certificate-key` are on the command line). `extra`: fields from the
    `join` kubeadm-args (kubeadm_args.JOIN_FIELDS; the discovery ones are already in the arguments)."""
    extra = extra or {}
    control_plane = node.role == "master"
    if control_plane:
        check_certificate_key(certificate_key)
    return render(
        f"join-{api_version_for(k8s_version)}.yaml.j2",
        api_endpoint=api_endpoint, token=token, ca_cert_hashes=list(ca_cert_hashes),
        unsafe_skip_ca_verification=extra.get("unsafe_skip_ca_verification") == "true",
        join_fields={"tlsBootstrapToken": extra.get("tls_bootstrap_token", "")},
        skip_phases=list(extra.get("skip_phases", ())), patches_dir=PATCHES_DIR if patches else "",
        node_name=node.name, cri_socket=CRI_SOCKET,
        ignore_preflight_errors=list(PREFLIGHT_IGNORED),
        kubelet_args={"node-ip": node_ip(plan, node)},
        control_plane=control_plane, certificate_key=certificate_key,
        advertise_address=same_family(node.ips, plan.advertise_address), api_port=API_PORT,
        taints=bool(plan.workers),
    )



_TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def _join_words(text: str) -> list[str]:
    joined = text.replace("\\\n", " ")
    for line in joined.splitlines():
        try:
            words = shlex.split(line)
        except ValueError:  # an unbalanced quote: not the line we want
            continue
        if words[:2] == ["kubeadm", "join"]:
            return words[2:]
    raise DindError(f"no 'kubeadm join' line in the output of the join command: {text.strip()!r}")


def parse_join_command(text: str) -> tuple[str, str, list[str]]:
    """(endpoint, token, [ca cert hashes]) from `kubeadm token create --print-join-command`."""
    words = _join_words(text)
    endpoint, token, hashes = "", "", []
    it = iter(words)
    for word in it:
        flag, eq, inline = word.partition("=")
        if flag in ("--token", "--discovery-token-ca-cert-hash"):
            value = inline if eq else next(it, "")
            if flag == "--token":
                token = value
            else:
                hashes.append(value)
        elif not word.startswith("-") and not endpoint:
            endpoint = word
    if not endpoint or not _TOKEN.match(token) or not hashes or not all(map(_HASH.match, hashes)):
        raise DindError(f"couldn't read endpoint, token and CA hash from: {text.strip()!r}")
    return endpoint, token, hashes


def join_from_init_output(text: str) -> Optional[tuple[str, str, list[str]]]:
    """(endpoint, token, [ca cert hashes]) of the join command `kubeadm init` prints at its end, or
    None when it printed none (e.g. --skip-token-print) or an unreadable one: then ask for a token."""
    try:
        return parse_join_command(text)
    except DindError:
        return None
