"""Settings: defaults < config.sh < --env-file < environment < flags, each value with its source.

config.sh is evaluated by bash, as the original sourced it, so `${VAR:-default}` and `if` blocks
work. It sees the higher layers (environment, env file, flags) so that its conditions read the
values that will win; what it sets only counts where no higher layer sets the same name.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional

from dind_cluster.errors import ConfigError

DEFAULT_K8S_VERSION = "v1.31.4"
DEFAULT_BASE_IMAGE = "debian:bookworm-slim"

# The tool's own defaults that don't depend on IP_MODE (mode-dependent ones live in the plan).
DEFAULTS: dict[str, str] = {
    "NUM_NODES": "2",
    "IP_MODE": "ipv4",
    "CNI_PLUGIN": "bridge",
    "DNS_SERVICE": "coredns",
    "FEATURE_GATES": "none",
    "KUBELET_FEATURE_GATES": "none",
    "DIND_K8S_VERSION": DEFAULT_K8S_VERSION,
    "DIND_BASE_IMAGE": DEFAULT_BASE_IMAGE,
}

# Variables `dind-cluster config` always lists, in this order (others only when set).
KNOWN = (
    "NUM_NODES", "NUM_MASTERS", "IP_MODE", "CLUSTER_ID", "DIND_LABEL", "MGMT_CIDRS", "DIND_SUBNET", "DIND_SUBNET_SIZE",
    "POD_NETWORK_CIDR", "SERVICE_CIDR", "DNS64_PREFIX", "DNS64_PREFIX_SIZE", "NAT64_V4_SUBNET_PREFIX",
    "REMOTE_DNS64_V4SERVER", "DIND_ALLOW_AAAA_USE", "USE_HAIRPIN", "CNI_PLUGIN", "DNS_SERVICE",
    "FEATURE_GATES", "KUBELET_FEATURE_GATES", "DIND_K8S_VERSION", "DIND_K8S_BIN_DIR", "DIND_K8S_IMAGES_DIR",
    "DIND_BASE_IMAGE", "DIND_IMAGE", "APISERVER_PORT", "DIND_PORT_FORWARDER", "KUBECTL_DIR", "SKIP_SNAPSHOT",
    "E2E_REPORT_DIR", "DIND_NO_PARALLEL_E2E",
    "DIND_NODE_CPUS", "DIND_NODE_MEMORY", "DIND_MASTER_CPUS", "DIND_MASTER_MEMORY", "DIND_WORKER_CPUS",
    "DIND_WORKER_MEMORY",
)
_COMPONENT_ARG = re.compile(r"^(APISERVER|CONTROLLER_MANAGER|SCHEDULER)_[a-z][a-z0-9_]*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SOURCE_DEFAULT = "default"
SOURCE_ENV_FILE = "env-file"
SOURCE_ENVIRONMENT = "environment"
SOURCE_FLAG = "flag"


@dataclass(frozen=True)
class Setting:
    value: str
    source: str


class Settings(Mapping[str, Setting]):
    """The resolved settings: name -> Setting(value, source)."""

    def __init__(self, entries: Mapping[str, Setting]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> Setting:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def values_map(self) -> dict[str, str]:
        """Plain name -> value strings, as the pure core takes them."""
        return {name: s.value for name, s in self._entries.items()}

    def get_value(self, name: str, default: str = "") -> str:
        entry = self._entries.get(name)
        return entry.value if entry is not None else default

    def listed(self) -> list[tuple[str, Setting]]:
        """What `config` prints: the known variables, then any component extra-arg variables."""
        names = [n for n in KNOWN if n in self._entries]
        names += sorted(n for n in self._entries if _COMPONENT_ARG.match(n) and n not in names)
        return [(n, self._entries[n]) for n in names]


def resolve(
    environ: Mapping[str, str],
    *,
    flags: Optional[Mapping[str, Optional[str]]] = None,
    env_file: Optional[Path] = None,
    config_path: Optional[Path] = None,
) -> Settings:
    """Merge every layer; the highest layer that sets a name wins and is recorded as its source."""
    flag_values = {k: v for k, v in (flags or {}).items() if v is not None}
    file_values = read_env_file(env_file) if env_file else {}
    upper = {**file_values, **environ, **flag_values}
    shell_values = read_config_sh(config_path, upper) if config_path else {}
    layers = [
        (SOURCE_DEFAULT, DEFAULTS),
        (str(config_path), shell_values),
        (SOURCE_ENV_FILE, file_values),
        (SOURCE_ENVIRONMENT, environ),
        (SOURCE_FLAG, flag_values),
    ]
    merged: dict[str, Setting] = {}
    for source, values in layers:
        for name, value in values.items():
            merged[name] = Setting(value, source)
    return Settings(merged)


def default_config_path(environ: Mapping[str, str]) -> Optional[Path]:
    """DIND_CONFIG, else config.sh next to dind-cluster.sh (DIND_ROOT) or the source checkout.

    EMBEDDED_CONFIG (as in the original's "fixed" scripts) means: read no config.sh.
    """
    if environ.get("EMBEDDED_CONFIG"):
        return None
    if environ.get("DIND_CONFIG"):
        path = Path(environ["DIND_CONFIG"])
        if not path.is_file():
            raise ConfigError("DIND_CONFIG", f"{path} is not a readable file", "a path to a config.sh")
        return path
    for root in (environ.get("DIND_ROOT"), Path(__file__).resolve().parent.parent):
        if root and (Path(root) / "config.sh").is_file():
            return Path(root) / "config.sh"
    return None


def read_env_file(path: Path) -> dict[str, str]:
    """A dotenv file (python-dotenv syntax); a missing file is a configuration error."""
    from dotenv import dotenv_values  # imported here: only needed with --env-file

    if not Path(path).is_file():
        raise ConfigError("--env-file", f"{path} does not exist", "a readable dotenv file of NAME=value lines")
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def read_config_sh(path: Path, visible: Mapping[str, str]) -> dict[str, str]:
    """Source `path` in bash with `visible` as its environment; return what it set or changed."""
    script = 'set -a; . "$1" >&2 || exit $?; env -0'
    env = {"PATH": os.defpath, **visible}
    try:
        proc = subprocess.run(
            ["bash", "-c", script, "bash", str(path)],
            env=env, capture_output=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError("DIND_CONFIG", f"couldn't evaluate {path} ({exc})", "a bash script of assignments")
    if proc.returncode != 0:
        last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["exit status %d" % proc.returncode])[-1]
        raise ConfigError("DIND_CONFIG", f"{path} failed: {last}", "a bash script that bash can source")
    result = {}
    for item in proc.stdout.split(b"\0"):
        name, sep, value = item.decode(errors="replace").partition("=")
        if sep and _NAME.match(name) and env.get(name) != value and name not in _SHELL_NOISE:
            result[name] = value
    return result


# Variables bash itself sets or changes while sourcing; never configuration.
_SHELL_NOISE = {"_", "SHLVL", "PWD", "OLDPWD", "BASH_EXECUTION_STRING"}
