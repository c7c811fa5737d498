"""Pure: the extra arguments of `dind-cluster init|join [kubeadm-args]`.

kubeadm refuses most flags beside `--config` ("can not mix '--config' with arguments"; the ones it
allows are kubeadm's `isAllowedFlag`: ignore-preflight-errors, dry-run, v, skip-*, ...). So a flag
with a field in the config documents becomes that field (`--token-ttl 2h` → bootstrapTokens[0].ttl),
the few kubeadm allows stay flags, and every other is refused in one line that says how to set it.
For `join`, the endpoint and the discovery flags replace the token dind-cluster would create.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import re
from typing import Iterable, Mapping, Sequence

from dind_cluster.errors import ConfigError

PATCHES_DIR = "/etc/kubeadm/patches"  # DIND_KUBEADM_PATCHES is copied here in every node
# kubeadm's patch file names: target[suffix][+patchtype].extension
_PATCH_NAME = re.compile(r"^(kube-apiserver|kube-controller-manager|kube-scheduler|etcd|kubeletconfiguration|"
                         r"corednsdeployment)[A-Za-z0-9_-]*(\+(strategic|merge|json))?\.(json|yaml)$")

# flag -> context key of the rendered documents (lists: repeated or comma-separated values)
INIT_FIELDS = {
    "apiserver-cert-extra-sans": "extra_cert_sans", "cert-dir": "certificates_dir",
    "certificate-key": "certificate_key", "control-plane-endpoint": "control_plane_endpoint",
    "feature-gates": "kubeadm_feature_gates", "image-repository": "image_repository",
    "service-dns-domain": "dns_domain", "skip-phases": "skip_phases", "token": "bootstrap_token",
    "token-ttl": "bootstrap_token_ttl",
}
JOIN_FIELDS = {
    "token": "token", "discovery-token": "token", "tls-bootstrap-token": "tls_bootstrap_token",
    "discovery-token-ca-cert-hash": "ca_cert_hashes", "skip-phases": "skip_phases",
    "discovery-token-unsafe-skip-ca-verification": "unsafe_skip_ca_verification",
}
LISTS = {"extra_cert_sans", "skip_phases", "ca_cert_hashes"}
SWITCHES = {"discovery-token-unsafe-skip-ca-verification", "dry-run", "upload-certs",
            "skip-token-print", "skip-certificate-key-print"}
# kubeadm takes these beside --config
PASSED = {"init": {"v", "dry-run", "upload-certs", "skip-token-print", "skip-certificate-key-print",
                   "ignore-preflight-errors"},
          "join": {"v", "dry-run", "ignore-preflight-errors"}}
HOW = {
    "config": "dind-cluster writes the kubeadm config; change what it renders with DIND_KUBEADM_PATCHES "
              "or the APISERVER_/CONTROLLER_MANAGER_/SCHEDULER_ variables",
    "patches": "set DIND_KUBEADM_PATCHES to a directory of kubeadm patch files",
    "pod-network-cidr": "set POD_NETWORK_CIDR", "service-cidr": "set SERVICE_CIDR",
    "kubernetes-version": "set DIND_K8S_VERSION",
    "apiserver-advertise-address": "the master's address comes from MGMT_CIDRS",
    "apiserver-bind-port": "the apiserver listens on 6443 in the node; set APISERVER_PORT for the host port",
    "node-name": "node names come from CLUSTER_ID or DIND_LABEL",
    "cri-socket": "nodes run containerd at unix:///run/containerd/containerd.sock",
    "control-plane": "dind-cluster join adds workers",
    "discovery-file": "dind-cluster join discovers the master with a bootstrap token",
}


@dataclass
class KubeadmArgs:
    """What the extra arguments become: config fields, and the flags kubeadm takes beside --config."""

    fields: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)


def parse(command: str, args: Sequence[str]) -> KubeadmArgs:
    """`init`/`join` arguments as fields and flags, or a ConfigError naming the first refused one."""
    fields_of = INIT_FIELDS if command == "init" else JOIN_FIELDS
    result = KubeadmArgs()
    words = list(args)
    while words:
        word = words.pop(0)
        if not word.startswith("-"):
            _positional(command, word, result)
            continue
        name, eq, value = word.lstrip("-").partition("=")
        if not eq and name in SWITCHES:
            value = "true"
        elif not eq and words and not words[0].startswith("-"):
            value = words.pop(0)
        _take(command, name, value, fields_of, result)
    return result


def _positional(command: str, word: str, result: KubeadmArgs) -> None:
    if command != "join" or "api_endpoint" in result.fields:
        raise ConfigError(f"kubeadm {command} {word}", "is not a flag",
                          "give flags (--name=value); join also takes the master's endpoint")
    result.fields["api_endpoint"] = word


def _take(command: str, name: str, value: str, fields_of: Mapping[str, str], result: KubeadmArgs) -> None:
    flag = f"kubeadm {command} --{name}"
    if name in fields_of:
        key = fields_of[name]
        if key in LISTS:
            result.fields.setdefault(key, []).extend(v for v in value.split(",") if v)
        else:
            result.fields[key] = value
    elif name in PASSED[command]:
        result.flags.append(f"--{name}" if name in SWITCHES and value == "true" else f"--{name}={value}")
    elif name in HOW:
        raise ConfigError(flag, "can't be passed to kubeadm beside the config dind-cluster writes", HOW[name])
    else:
        known = sorted(set(fields_of) | PASSED[command])
        raise ConfigError(flag, "is not a flag dind-cluster can pass on",
                          f"use one of --{', --'.join(known)}")


def check_patch_names(directory: str, names: Iterable[str]) -> list:
    """The files of DIND_KUBEADM_PATCHES, sorted; a name kubeadm would not read is an error."""
    names = sorted(names)
    bad = [n for n in names if not _PATCH_NAME.match(n)]
    if bad or not names:
        raise ConfigError("DIND_KUBEADM_PATCHES", f"{directory} has {'no patch files' if not names else repr(bad[0])}",
                          "kubeadm patch files are named target[suffix][+patchtype].json|yaml, target one of "
                          "kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kubeletconfiguration, "
                          "corednsdeployment")
    return names
