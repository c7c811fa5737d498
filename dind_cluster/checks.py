"""Every setting checked in one place, before anything is created; every problem reported at once.

`CHECKS` is a table: variable name -> function(value, values) that returns the parsed value or
raises ConfigError. A branch adding a variable adds one entry:

    @check("DIND_REGISTRY_MIRROR")
    def registry_mirror(text, values): ...

or, for one rule shared by several variables, `for_each(rule, "A", "B")` with rule(variable, text).

`validated_plan(values)` runs every entry whose variable is set (blank means "the default"), then
the plan's cross-variable rules (networks that must fit together, names that must stay short),
and raises ConfigErrors with one ConfigError per variable. `dind-cluster config` and every command
that makes a plan call it, so `config` fails exactly where `up` would.

Pure apart from looking at the paths the settings name (is DIND_K8S_BIN_DIR a directory with
the binaries?); no Docker, no os.environ (PATH comes from `values`, which hold the environment).
"""
from __future__ import annotations

import os
import re
import shutil
from urllib.parse import urlsplit
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

from . import kubeadm, naming, registries, validation
from .errors import ConfigError, ConfigErrors
from .images import K8S_BINARIES, NO_IMAGES
from .network import nat64_prefix, parse_cidr
from .numbers import parse_int, parse_seconds
from .plan import ClusterPlan, make_plan
from .settings import COMPONENT_ARG

Check = Callable[[str, Mapping[str, str]], Any]
CHECKS: Dict[str, Check] = {}
MAX_WAIT_TIMEOUT = 7 * 24 * 3600
# A Docker image reference: [host[:port]/]path[:tag][@sha256:digest] (distribution's grammar, simplified).
_IMAGE_REF = re.compile(r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
                        r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
                        r"(?:@sha256:[0-9a-f]{64})?$")
DOCKER_HOST_FORMS = "use unix:///path/docker.sock, tcp://host:port or ssh://user@host"


def check(*names: str) -> Callable[[Check], Check]:
    """Register `func` as the check of each of `names`."""
    def register(func: Check) -> Check:
        for name in names:
            CHECKS[name] = func
        return func
    return register


def _checked(values: Mapping[str, str], label_ids: Optional[Mapping[str, int]]) -> tuple:
    """(every ConfigError the settings have: one per variable, table entries first, then the
    plan's; the plan, None when it couldn't be made)."""
    found: List[ConfigError] = []
    for name, func in CHECKS.items():
        text = (values.get(name) or "").strip()
        if text:
            _collect(found, func, text, values)
    for name in sorted(n for n in values if COMPONENT_ARG.match(n)):
        _collect(found, lambda text, _v, n=name: component_arg(n, text), values.get(name) or "", values)
    try:
        return found, make_plan(values, label_ids)
    except ConfigError as exc:
        if exc.variable not in {e.variable for e in found}:
            found.append(exc)
    return found, None


def _collect(found: List[ConfigError], func: Check, text: str, values: Mapping[str, str]) -> None:
    try:
        func(text, values)
    except ConfigError as exc:
        # one check may serve several variables (registries.parse): report its problem once
        if all((e.variable, e.message) != (exc.variable, exc.message) for e in found):
            found.append(exc)


def validated_plan(values: Mapping[str, str], label_ids: Optional[Mapping[str, int]] = None) -> ClusterPlan:
    """The plan, once every setting passed; else ConfigErrors listing every problem."""
    errors, plan = _checked(values, label_ids)
    if errors:
        raise ConfigErrors(errors)
    return plan


# --- the table --------------------------------------------------------------------------------

@check("NUM_NODES")
def num_nodes(text: str, values: Mapping[str, str]) -> int:
    return validation.parse_num_nodes(text)


@check("CLUSTER_ID")
def cluster_id(text: str, values: Mapping[str, str]) -> int:
    return naming.parse_cluster_id(text)


@check("DIND_LABEL")
def dind_label(text: str, values: Mapping[str, str]) -> str:
    naming.resolve_identity(text, None)
    return text


@check("IP_MODE")
def ip_mode(text: str, values: Mapping[str, str]) -> str:
    return validation.choice("IP_MODE", text, validation.IP_MODES, "ipv4")


@check("CNI_PLUGIN")
def cni_plugin(text: str, values: Mapping[str, str]) -> str:
    return validation.choice("CNI_PLUGIN", text, validation.CNI_PLUGINS, "bridge")


@check("DNS_SERVICE")
def dns_service(text: str, values: Mapping[str, str]) -> str:
    return validation.choice("DNS_SERVICE", text, ("coredns", "kube-dns"), "coredns")


@check("DIND_SUBNET")
def dind_subnet(text: str, values: Mapping[str, str]):
    return parse_cidr("DIND_SUBNET", f"{text}/{values.get('DIND_SUBNET_SIZE') or 24}")


@check("DIND_SUBNET_SIZE")
def dind_subnet_size(text: str, values: Mapping[str, str]) -> int:
    return parse_int("DIND_SUBNET_SIZE", text, 0, 128, "use a prefix length, e.g. 24 or 64", "a prefix length")


@check("DNS64_PREFIX")
def dns64_prefix(text: str, values: Mapping[str, str]):
    return validation.dns64_network(text, (values.get("DNS64_PREFIX_SIZE") or "96").strip())


@check("DNS64_PREFIX_SIZE")
def dns64_prefix_size(text: str, values: Mapping[str, str]):
    return validation.dns64_network("::", text)


@check("NAT64_V4_SUBNET_PREFIX")
def nat64_v4_subnet_prefix(text: str, values: Mapping[str, str]) -> str:
    return nat64_prefix(text, 0)


@check("REMOTE_DNS64_V4SERVER")
def remote_dns64_v4server(text: str, values: Mapping[str, str]) -> str:
    return validation.remote_dns64_server(text)


@check("USE_HAIRPIN")
def use_hairpin(text: str, values: Mapping[str, str]) -> bool:
    return validation.parse_bool("USE_HAIRPIN", text, False)


@check("DIND_K8S_VERSION")
def k8s_version(text: str, values: Mapping[str, str]) -> str:
    """kubeadm.py's own rules: a full release of a minor versions.py knows."""
    return kubeadm.kubernetes_version(text)


@check("DIND_K8S_BIN_DIR")
def k8s_bin_dir(text: str, values: Mapping[str, str]) -> Dict[str, Path]:
    """A directory holding kubeadm, kubelet and kubectl."""
    allowed = "expected a directory with kubeadm, kubelet and kubectl"
    root = _path("DIND_K8S_BIN_DIR", text)
    if not _is(Path.is_dir, root):
        raise ConfigError("DIND_K8S_BIN_DIR", f"{text} is not a directory", allowed)
    missing = [name for name in K8S_BINARIES if not _is(Path.is_file, root / name)]
    if missing:
        raise ConfigError("DIND_K8S_BIN_DIR", f"{text} has no {', '.join(missing)}", allowed)
    return {name: root / name for name in K8S_BINARIES}


@check("DIND_K8S_IMAGES_DIR")
def k8s_images_dir(text: str, values: Mapping[str, str]) -> str:
    if text != NO_IMAGES and not _is(Path.is_dir, _path("DIND_K8S_IMAGES_DIR", text)):
        raise ConfigError("DIND_K8S_IMAGES_DIR", f"{text} is not a directory",
                          f"a directory of control-plane image archives (.tar), or '{NO_IMAGES}'")
    return text


def image_ref(variable: str, text: str) -> str:
    if not _IMAGE_REF.match(text) or len(text) > 255:
        raise ConfigError(variable, f"'{text}' is not an image reference",
                          "use [registry/]name[:tag], e.g. debian:bookworm-slim")
    return text


@check("APISERVER_PORT")
def apiserver_port(text: str, values: Mapping[str, str]) -> int:
    return parse_int("APISERVER_PORT", text, 1, 65535, "use 1..65535, or leave it empty for a free port",
                     "a port number")


@check("DIND_WAIT_TIMEOUT")
def wait_timeout(text: str, values: Mapping[str, str]) -> float:
    return parse_seconds("DIND_WAIT_TIMEOUT", text, MAX_WAIT_TIMEOUT,
                         f"use a positive number of seconds up to {MAX_WAIT_TIMEOUT}, e.g. 300")


@check("DIND_PORT_FORWARDER")
def port_forwarder(text: str, values: Mapping[str, str]) -> str:
    """An executable (a path, or a name on PATH) called with the apiserver port."""
    found = shutil.which(str(_path("DIND_PORT_FORWARDER", text)), path=values.get("PATH") or os.defpath)
    if not found:
        raise ConfigError("DIND_PORT_FORWARDER", f"'{text}' is not an executable",
                          "set it to an executable that takes the port as its argument")
    return found


def directory(variable: str, text: str) -> Path:
    """A directory the tool writes to: it may be missing, but nothing else may be in its place."""
    path = _path(variable, text)
    ancestors = [p for p in (path, *path.parents) if _is(Path.exists, p)]
    if ancestors and not _is(Path.is_dir, ancestors[0]):
        raise ConfigError(variable, f"{ancestors[0]} is not a directory", "give a directory (it is created if missing)")
    return path


@check("DIND_ENGINE_TIMEOUT")
def engine_timeout(text: str, values: Mapping[str, str]) -> float:
    """How long the Docker engine may take to give its first answer."""
    return parse_seconds("DIND_ENGINE_TIMEOUT", text, 3600, "use a number of seconds, e.g. 10")


@check("DOCKER_HOST")
def docker_host(text: str, values: Mapping[str, str]) -> str:
    """The forms the Docker SDK takes, with a host and a port in range where they belong."""
    allowed = DOCKER_HOST_FORMS
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError as exc:
        raise ConfigError("DOCKER_HOST", f"'{text}' is not an engine address ({exc})", allowed) from None
    if url.scheme not in ("unix", "tcp", "http", "https", "ssh", "npipe", "fd"):
        raise ConfigError("DOCKER_HOST", f"'{text}' is not an engine address (scheme '{url.scheme}')", allowed)
    if url.scheme in ("tcp", "http", "https", "ssh") and not url.hostname:
        raise ConfigError("DOCKER_HOST", f"'{text}' names no host", allowed)
    if port == 0:
        raise ConfigError("DOCKER_HOST", f"'{text}' has port 0", allowed)
    return text


@check("DIND_DUMP_MAX_BYTES")
def dump_max_bytes(text: str, values: Mapping[str, str]) -> int:
    """What split-dump64 unpacks at most."""
    return parse_int("DIND_DUMP_MAX_BYTES", text, 1, 1 << 50, "use a number of bytes, e.g. 1073741824",
                     "a number of bytes")


def for_each(func: Callable[[str, str], Any], *names: str) -> None:
    """Register func(variable, text) as the check of each of `names` (one rule, several variables)."""
    for name in names:
        CHECKS[name] = lambda text, values, name=name: func(name, text)


def feature_gates(variable: str, text: str) -> Dict[str, bool]:
    return kubeadm.parse_feature_gates(variable, text)


for_each(feature_gates, "FEATURE_GATES", "KUBELET_FEATURE_GATES")
for_each(image_ref, "DIND_BASE_IMAGE", "DIND_IMAGE")
for_each(directory, "KUBECTL_DIR", "E2E_REPORT_DIR")


def component_arg(variable: str, text: str) -> str:
    """APISERVER_x / CONTROLLER_MANAGER_x / SCHEDULER_x: one line, it becomes a flag value."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ConfigError(variable, "the value holds control characters", "give the flag's value on one line")
    return text


def _path(variable: str, text: str) -> Path:
    if "\0" in text:
        raise ConfigError(variable, "the path holds a NUL character", "give a plain path")
    try:
        return Path(text).expanduser()
    except RuntimeError:  # ~user that doesn't exist
        return Path(text)


def _is(test: Callable[[Path], bool], path: Path) -> bool:
    """Path.is_dir & co., where a name too long or a loop counts as "no"."""
    try:
        return test(path)
    except (OSError, ValueError):
        return False


@check("DIND_REGISTRY_MIRROR", "DIND_INSECURE_REGISTRIES", "DIND_HTTP_PROXY", "DIND_HTTPS_PROXY",
       "DIND_NO_PROXY", "DIND_PROPAGATE_HTTP_PROXY", "DIND_LOCAL_REGISTRY", "DIND_LOCAL_REGISTRY_PORT")
def registry_settings(_text: str, values: Mapping[str, str]) -> registries.RegistryConfig:
    """Mirrors, insecure registries, proxies and the local registry (registries.py)."""
    return registries.parse(values)
