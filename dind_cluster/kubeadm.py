"""Pure: kubeadm init/join configuration for a planned cluster, rendered from templates/.

The kubeadm API version follows the Kubernetes version: v1beta3 for 1.26-1.30, v1beta4 (list-
shaped extraArgs) from 1.31. The init file carries four documents: InitConfiguration,
ClusterConfiguration, KubeletConfiguration and KubeProxyConfiguration; workers get a
JoinConfiguration and fetch the kubelet configuration from the cluster.

Settings read from `values`: FEATURE_GATES and KUBELET_FEATURE_GATES (`A=true,B=false`, or
`none`/empty for nothing) and every APISERVER_x_y / CONTROLLER_MANAGER_x_y / SCHEDULER_x_y
(name part in lowercase letters and underscores as in the original, digits allowed after the
first character so that flags such as node-cidr-mask-size-ipv4 can be set), which becomes the
component flag `x-y`.
"""
from __future__ import annotations

import re
import shlex
from typing import Mapping, Sequence

from netaddr import IPAddress, IPNetwork

from dind_cluster.errors import ConfigError, DindError
from dind_cluster.network import same_family
from dind_cluster.plan import ClusterPlan, NodePlan
from dind_cluster.templates import render

CRI_SOCKET = "unix:///run/containerd/containerd.sock"
API_PORT = 6443
DNS_DOMAIN = "cluster.local"
OLDEST, FIRST_V1BETA4 = (1, 26), (1, 31)
CGROUP_DRIVERS = ("systemd", "cgroupfs")
COMPONENT_PREFIXES = {"apiserver": "APISERVER", "controller_manager": "CONTROLLER_MANAGER",
                      "scheduler": "SCHEDULER"}

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(\.\d+)?([-+][0-9A-Za-z.+-]*)?$")
_GATE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_SUPPORTED = "supported: 1.26 or later (kubeadm config v1beta3 up to 1.30, v1beta4 from 1.31)"


def _version_match(k8s_version: str) -> re.Match:
    match = _VERSION.match(k8s_version.strip())
    if not match or int(match.group(1)) != 1:
        raise ConfigError("DIND_K8S_VERSION", f"'{k8s_version}' is not a Kubernetes version",
                          f"use a release such as v1.31.4; {_SUPPORTED}")
    if (1, int(match.group(2))) < OLDEST:
        raise ConfigError("DIND_K8S_VERSION", f"Kubernetes {k8s_version} is too old", _SUPPORTED)
    return match


def api_version_for(k8s_version: str) -> str:
    """'v1beta3' or 'v1beta4' for a version such as 'v1.31.4' or '1.28'."""
    minor = int(_version_match(k8s_version).group(2))
    return "v1beta4" if (1, minor) >= FIRST_V1BETA4 else "v1beta3"


def kubernetes_version(k8s_version: str) -> str:
    """The ClusterConfiguration value: a full release with a leading 'v'. kubeadm would take
    anything else for a release label and look it up online."""
    match = _version_match(k8s_version)
    if not match.group(3):
        raise ConfigError("DIND_K8S_VERSION", f"'{k8s_version}' has no patch number",
                          "use a full release such as v1.31.4")
    return "v" + k8s_version.strip().lstrip("v")


def _minor(k8s_version: str) -> int:
    return int(_version_match(k8s_version).group(2))


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


def _node_cidr_mask_args(plan: ClusterPlan) -> dict[str, str]:
    """The controller manager hands out node pod CIDRs of the plan's size. Its IPv6 default
    (/64) is larger than our /72 pod network, which kubeadm rejects."""
    args = {}
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
            args.update(_node_cidr_mask_args(plan))
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


def _kubelet_context(k8s_version: str, values: Mapping[str, str], cgroup_driver: str,
                     cgroup_v1: bool) -> dict:
    if cgroup_driver not in CGROUP_DRIVERS:
        raise ValueError(f"cgroup driver must be one of {CGROUP_DRIVERS}, got {cgroup_driver!r}")
    minor = _minor(k8s_version)
    return {
        "cgroup_driver": cgroup_driver,
        # the config field exists from 1.27; kubeadm passes the socket as a flag before that
        "container_runtime_endpoint": CRI_SOCKET if minor >= 27 else "",
        # failCgroupV1 exists from 1.31 (and defaults to true from 1.35)
        "set_fail_cgroup_v1": cgroup_v1 and minor >= 31,
        "kubelet_feature_gates": parse_feature_gates("KUBELET_FEATURE_GATES",
                                                     values.get("KUBELET_FEATURE_GATES")),
    }


def init_context(plan: ClusterPlan, values: Mapping[str, str], *, k8s_version: str,
                 cgroup_driver: str = "systemd", cgroup_v1: bool = False,
                 certificate_key: str = "", patches_dir: str = "") -> dict:
    """Everything the init templates use, as plain values (also handy for `-v` output).
    `certificate_key` (HA control planes) encrypts the certificates `kubeadm init --upload-certs`
    shares with the masters that join; `patches_dir` holds per-node kubelet patches."""
    args = component_args(plan, values)
    return {
        "advertise_address": plan.advertise_address, "api_port": API_PORT,
        "node_name": plan.master.name, "cri_socket": CRI_SOCKET,
        "taints": bool(plan.workers),  # masters without workers must take pods
        "kubelet_args": {"node-ip": node_ip(plan, plan.master)},
        "kubernetes_version": kubernetes_version(k8s_version),
        "control_plane_endpoint": host_port(plan.endpoint_address),
        "certificate_key": check_certificate_key(certificate_key) if certificate_key else "",
        "patches_dir": patches_dir,
        "pod_subnet": ",".join(plan.pod_network_cidrs), "service_subnet": plan.service_cidr,
        "dns_domain": DNS_DOMAIN, "cert_sans": cert_sans(plan),
        "apiserver_args": args["apiserver"],
        "controller_manager_args": args["controller_manager"],
        "scheduler_args": args["scheduler"],
        "dns_svc_ip": plan.dns_svc_ip,
        "proxy_bind_address": "::" if plan.service_net_mode == "ipv6" else "0.0.0.0",
        **_kubelet_context(k8s_version, values, cgroup_driver, cgroup_v1),
    }


def render_init_config(plan: ClusterPlan, values: Mapping[str, str], *, k8s_version: str,
                       cgroup_driver: str = "systemd", cgroup_v1: bool = False,
                       certificate_key: str = "", patches_dir: str = "") -> str:
    """/etc/kubeadm/kubeadm.yaml for the master."""
    context = init_context(plan, values, k8s_version=k8s_version, cgroup_driver=cgroup_driver,
                           cgroup_v1=cgroup_v1, certificate_key=certificate_key,
                           patches_dir=patches_dir)
    return render(f"kubeadm-{api_version_for(k8s_version)}.yaml.j2", **context)


def render_join_config(plan: ClusterPlan, node: NodePlan, *, k8s_version: str,
                       api_endpoint: str, token: str, ca_cert_hashes: Sequence[str],
                       certificate_key: str = "", patches_dir: str = "") -> str:
    """/etc/kubeadm/join.yaml for a worker, or for an extra master (a control-plane join with
    the certificate key `kubeadm init --upload-certs` used: `controlPlane` in the config is
    what `--control-plane --certificate-key` are on the command line)."""
    control_plane = node.role == "master"
    if control_plane:
        check_certificate_key(certificate_key)
    return render(
        f"join-{api_version_for(k8s_version)}.yaml.j2",
        api_endpoint=api_endpoint, token=token, ca_cert_hashes=list(ca_cert_hashes),
        node_name=node.name, cri_socket=CRI_SOCKET,
        kubelet_args={"node-ip": node_ip(plan, node)},
        control_plane=control_plane, certificate_key=certificate_key,
        advertise_address=same_family(node.ips, plan.advertise_address), api_port=API_PORT,
        taints=bool(plan.workers), patches_dir=patches_dir,
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
