"""Settings: defaults < config.sh < --env-file < environment < flags, each value with its source.

config.sh is evaluated by bash, as the original sourced it, so `${VAR:-default}` and `if` blocks
work. It sees the higher layers (environment, env file, flags) so that its conditions read the
values that will win; what it sets only counts where no higher layer sets the same name.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional

from dind_cluster.errors import ConfigError
from dind_cluster.versions import DEFAULT_K8S_VERSION

DEFAULT_BASE_IMAGE = "debian:trixie-slim"

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
    "REMOTE_DNS64_V4SERVER", "DIND_DNS_SERVER", "DIND_ALLOW_AAAA_USE", "USE_HAIRPIN", "CNI_PLUGIN", "DNS_SERVICE",
    "FEATURE_GATES", "KUBELET_FEATURE_GATES", "DIND_K8S_VERSION", "DIND_K8S_BIN_DIR", "DIND_K8S_IMAGES_DIR",
    "DIND_KUBEADM_PATCHES",
    "DIND_BASE_IMAGE", "DIND_IMAGE", "APISERVER_PORT", "DIND_PORT_FORWARDER", "KUBECTL_DIR", "SKIP_SNAPSHOT",
    "E2E_REPORT_DIR", "DIND_NO_PARALLEL_E2E",
    "DIND_REGISTRY_MIRROR", "DIND_INSECURE_REGISTRIES", "DIND_PROPAGATE_HTTP_PROXY", "DIND_HTTP_PROXY",
    "DIND_HTTPS_PROXY", "DIND_NO_PROXY", "DIND_LOCAL_REGISTRY", "DIND_LOCAL_REGISTRY_PORT",
    "DIND_NODE_CPUS", "DIND_NODE_MEMORY", "DIND_MASTER_CPUS", "DIND_MASTER_MEMORY", "DIND_WORKER_CPUS",
    "DIND_WORKER_MEMORY",
)
COMPONENT_ARG = re.compile(r"^(APISERVER|CONTROLLER_MANAGER|SCHEDULER)_[a-z][a-z0-9_]*$")
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
        names += sorted(n for n in self._entries if COMPONENT_ARG.match(n) and n not in names)
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
        # Anything readable that isn't a directory: /dev/null, a pipe from <(…), a file.
        if not _readable(path) or path.is_dir():
            raise ConfigError("DIND_CONFIG", f"{path} is not a readable file", "a path to a config.sh")
        return path
    for root in (environ.get("DIND_ROOT"), Path(__file__).resolve().parent.parent):
        if root and (Path(root) / "config.sh").is_file():
            return Path(root) / "config.sh"
    return None


def _readable(path: Path) -> bool:
    try:
        return os.access(path, os.R_OK)
    except (OSError, ValueError):
        return False


_ENV_FILE_ALLOWED = "a readable UTF-8 dotenv file of NAME=value lines"


def read_env_file(path: Path) -> dict[str, str]:
    """A dotenv file (python-dotenv syntax); a missing, unreadable or malformed one is a
    configuration error naming the line (python-dotenv itself only warns and goes on)."""
    from dotenv.parser import parse_stream  # imported here: only needed with --env-file

    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("--env-file", f"{path} is not UTF-8 text (byte {exc.start})", _ENV_FILE_ALLOWED) from None
    except OSError as exc:
        raise ConfigError("--env-file", f"can't read {path}: {exc.strerror or exc}", _ENV_FILE_ALLOWED) from None
    values = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.line
            raise ConfigError("--env-file", f"{path} line {line}: can't parse '{binding.original.string.strip()}'",
                              _ENV_FILE_ALLOWED)
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


# Sourced, then a marker and the environment: a config.sh that runs `exit` or `exec` never
# reaches the marker. `env` is called by the path found here, so config.sh may set PATH.
_READER = 'set -a; . "$1" >&2 || exit $?; printf "%s\\0" "$3"; "$2" -0'


def read_config_sh(path: Path, visible: Mapping[str, str]) -> dict[str, str]:
    """Source `path` in bash with `visible` as its environment; return what it set or changed."""
    env = {"PATH": os.defpath, **visible}
    marker = f"__DIND_CONFIG_DONE_{os.getpid()}__"
    with _sourceable(path) as source:
        code, out, err = _run_bash(_READER, [str(source), shutil.which("env") or "/usr/bin/env", marker], env, path)
    if code != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["exit status %d" % code])[-1]
        raise ConfigError("DIND_CONFIG", f"{path} failed: {last}", "a bash script that bash can source")
    head, sep, rest = out.partition(marker.encode() + b"\0")
    if not sep:
        raise ConfigError("DIND_CONFIG", f"{path} stopped bash before its end (exit or exec)",
                          "a bash script of assignments, without exit or exec at its top level")
    result = {}
    for item in rest.split(b"\0"):
        name, sep, value = item.decode(errors="replace").partition("=")
        if sep and _NAME.match(name) and env.get(name) != value and name not in _SHELL_NOISE:
            result[name] = value
    return result


@contextlib.contextmanager
def _sourceable(path: Path) -> Iterator[Path]:
    """`path` itself, or for a pipe or device (<(…), /dev/null) a copy bash can open: the
    child doesn't inherit our /dev/fd/N."""
    if path.is_file():
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="dind-config-", suffix=".sh") as copy:
        try:
            copy.write(path.read_bytes())
        except OSError as exc:
            raise ConfigError("DIND_CONFIG", f"can't read {path}: {exc.strerror or exc}", "a path to a config.sh") from None
        copy.flush()
        yield Path(copy.name)


def _run_bash(script: str, args: list, env: dict, path: Path) -> tuple:
    """Run bash with output to files (not pipes: a background job config.sh leaves would hold a
    pipe open); its process group, background jobs included, is ended once bash exits."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(["bash", "-c", script, "bash", *args], env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True)
            try:
                code = proc.wait(timeout=30)
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError("DIND_CONFIG", f"couldn't evaluate {path} ({exc})", "a bash script of assignments") from None
        out.seek(0)
        err.seek(0)
        return code, out.read(), err.read()


# Variables bash itself sets or changes while sourcing; never configuration.
_SHELL_NOISE = {"_", "SHLVL", "PWD", "OLDPWD", "BASH_EXECUTION_STRING"}
