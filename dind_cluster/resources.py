"""Pure: per-node CPU and memory limits, and the kubelet reservation that makes a node's
allocatable match its limit.

DIND_NODE_CPUS / DIND_NODE_MEMORY apply to every node; DIND_MASTER_* and DIND_WORKER_* override
them for masters and workers. CPUs as Docker's --cpus (1, 1.5) or millicores (1500m); memory with
a unit: k, m, g, t (Docker's, binary) or Ki, Mi, Gi, Ti. They become Docker's nano_cpus and
mem_limit. A real kubelet reads the host's CPUs and memory (/proc), not its cgroup's, so the node's
KubeletConfiguration reserves the rest: systemReserved = host capacity − limit (kind#877).
Each check raises one ConfigError; the parsers take values, never the environment.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional

from dind_cluster.errors import ConfigError
from dind_cluster.numbers import MAX_DIGITS, clip
from dind_cluster.kubeadm_args import PATCHES_DIR  # shared with DIND_KUBEADM_PATCHES

MIB = 1024 ** 2
MIN_MEMORY = 6 * MIB               # Docker refuses less
# ASCII digits only, and no longer than numbers.MAX_DIGITS: '٣' or 400 digits are not sizes.
_CPUS = re.compile(r"^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(m?)$")
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([kmgt]i?|[KMGT]i|[KMGT])?[bB]?$")
_UNITS = {"k": 1, "m": 2, "g": 3, "t": 4}
CPU_ALLOWED = "use a positive number of CPUs such as 2 or 1.5, or millicores such as 1500m"
MEMORY_ALLOWED = "use a positive size with a unit, e.g. 2g, 1536m or 2Gi (at least 6m)"


@dataclass(frozen=True)
class NodeLimits:
    cpus: Optional[float] = None     # CPUs (1.5 = one and a half)
    memory: Optional[int] = None     # bytes
    cpus_from: str = ""              # the variable each came from, for error messages
    memory_from: str = ""

    @property
    def any(self) -> bool:
        return self.cpus is not None or self.memory is not None


def parse_cpus(variable: str, text: str) -> float:
    match = _CPUS.match(text.strip())
    if not match or len(match.group(1)) > MAX_DIGITS:
        raise ConfigError(variable, f"'{clip(text)}' is not a number of CPUs", CPU_ALLOWED)
    cpus = float(match.group(1)) / (1000 if match.group(2) else 1)
    if cpus <= 0:
        raise ConfigError(variable, f"'{text}' is not more than 0 CPUs", CPU_ALLOWED)
    return cpus


def parse_memory(variable: str, text: str) -> int:
    match = _MEMORY.match(text.strip())
    if not match or not match.group(2) or len(match.group(1)) > MAX_DIGITS:
        raise ConfigError(variable, f"'{clip(text)}' is not a memory size", MEMORY_ALLOWED)
    size = int(float(match.group(1)) * 1024 ** _UNITS[match.group(2)[0].lower()])
    if size < MIN_MEMORY:
        raise ConfigError(variable, f"'{text}' is less than Docker's minimum of 6 MiB", MEMORY_ALLOWED)
    return size


def limits_for(values: Mapping[str, str], role: str) -> NodeLimits:
    """The limits of a master or a worker: DIND_<ROLE>_* first, then DIND_NODE_*."""
    specific = "DIND_MASTER" if role == "master" else "DIND_WORKER"
    found = {}
    for kind in ("CPUS", "MEMORY"):
        for variable in (f"{specific}_{kind}", f"DIND_NODE_{kind}"):
            text = (values.get(variable) or "").strip()
            if text:
                found[kind] = (variable, text)
                break
    cpus = found.get("CPUS")
    memory = found.get("MEMORY")
    return NodeLimits(cpus=parse_cpus(*cpus) if cpus else None,
                      memory=parse_memory(*memory) if memory else None,
                      cpus_from=cpus[0] if cpus else "", memory_from=memory[0] if memory else "")


LIMITS_LABEL = "dind-cluster.io/limits"   # on node containers and their snapshots: what they were made with


def limits_label(limits: NodeLimits) -> str:
    """LIMITS_LABEL's value: 'cpus=1.5,memory=1073741824', only what is set; 'none' without limits."""
    parts = ([f"cpus={limits.cpus!r}"] if limits.cpus is not None else []) + \
            ([f"memory={limits.memory}"] if limits.memory is not None else [])
    return ",".join(parts) or "none"


def parse_limits_label(text: str) -> Optional[NodeLimits]:
    """The limits a LIMITS_LABEL value records; None when it isn't one (a label set by hand)."""
    if text == "none":
        return NodeLimits()
    found: dict = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key in found or len(value) > MAX_DIGITS or not re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
            return None
        if key == "cpus":
            found[key] = float(value)
        elif key == "memory" and value.isdigit():
            found[key] = int(value)
        else:
            return None
    return NodeLimits(cpus=found.get("cpus"), memory=found.get("memory"))


def same_limits(a: NodeLimits, b: NodeLimits) -> bool:
    return (a.cpus, a.memory) == (b.cpus, b.memory)


def describe_limits(limits: NodeLimits) -> str:
    """'1 CPU and 768 MiB', '2 CPUs', 'no limits'."""
    parts = ([f"{limits.cpus:g} CPU{'' if limits.cpus == 1 else 's'}"] if limits.cpus is not None else []) + \
            ([f"{limits.memory // MIB} MiB" if limits.memory % MIB == 0 else f"{limits.memory} bytes"]
             if limits.memory is not None else [])
    return " and ".join(parts) or "no limits"


def check_against_host(limits: NodeLimits, host_cpus: int, host_memory: int) -> None:
    """A node can't have more than the engine's host has."""
    if limits.cpus is not None and limits.cpus > host_cpus:
        raise ConfigError(limits.cpus_from, f"{limits.cpus:g} CPUs is more than the host's {host_cpus}",
                          f"use at most {host_cpus}")
    if limits.memory is not None and limits.memory > host_memory:
        raise ConfigError(limits.memory_from, f"{limits.memory // MIB} MiB is more than the host's "
                          f"{host_memory // MIB} MiB", f"use at most {host_memory // MIB}m")


def reservation(limits: NodeLimits, host_cpus: int, host_memory: int) -> dict[str, str]:
    """systemReserved for the kubelet: what the host has beyond the node's limit, as quantities
    ("1500m" CPU, "<n>Ki" memory); empty without limits."""
    reserved = {}
    if limits.cpus is not None:
        millis = round((host_cpus - limits.cpus) * 1000)
        if millis > 0:
            reserved["cpu"] = f"{millis}m"
    if limits.memory is not None:
        rest = host_memory - limits.memory
        if rest > 0:
            reserved["memory"] = f"{rest // 1024}Ki" if rest % 1024 == 0 else str(rest)
    return reserved


KUBELET_PATCH = f"{PATCHES_DIR}/kubeletconfiguration+merge.yaml"


def render_kubelet_patch(reserved: Mapping[str, str]) -> str:
    """The node's KubeletConfiguration patch (kubeadm applies it on init and join)."""
    from dind_cluster.templates import render

    return render("kubelet-reserved.yaml.j2", reserved=dict(reserved))


def docker_limits(limits: NodeLimits) -> dict:
    """containers.create keywords: nano_cpus, and mem_limit with no swap beyond it."""
    opts = {}
    if limits.cpus is not None:
        opts["nano_cpus"] = int(round(limits.cpus * 1e9))
    if limits.memory is not None:
        opts["mem_limit"] = opts["memswap_limit"] = limits.memory
    return opts
