"""Pure: the names and labels of everything a cluster owns (reference §4).

The original derives one suffix from DIND_LABEL and CLUSTER_ID and appends it to every
name; we keep its names and add our own ownership label, `dind-cluster.io/cluster`.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Mapping, Optional

from .errors import ConfigError
from .numbers import parse_int

DEFAULT_DIND_LABEL = "mirantis.kubeadm_dind_cluster_runtime"
CLUSTER_LABEL = "dind-cluster.io/cluster"
ROLE_LABEL = "dind-cluster.io/role"
IP_MODE_LABEL = "dind-cluster.io/ip-mode"  # so that `list` shows a cluster's mode, even when down
DEFAULT_CLUSTER_KEY = "default"
MAX_CLUSTER_ID = 254

# A suffix ends up in node names, which kubeadm and the apiserver take as RFC 1123 names.
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_RESERVED_LABEL_RE = re.compile(r"^(default|cluster-[0-9]+)$")
# `<label>-<N>` is what DIND_LABEL=<label> CLUSTER_ID=<N> makes: read it that way.
_NUMBERED_LABEL_RE = re.compile(r"^(.+)-([1-9][0-9]{0,2})$")
LONGEST_NODE_PREFIX = "kube-node-254-"
MAX_NAME = 63                     # a hostname / node name label
MAX_LABEL = MAX_NAME - len(LONGEST_NODE_PREFIX) - len("-254")


@dataclass(frozen=True)
class Identity:
    """The final DIND_LABEL, CLUSTER_ID and name suffix of a cluster (reference §4.1)."""
    dind_label: str
    cluster_id: int
    suffix: str

    @property
    def cluster_key(self) -> str:
        return self.suffix[1:] if self.suffix else DEFAULT_CLUSTER_KEY


def legacy_cluster_id(label: str) -> int:
    """A stable 1..12 ID for a DIND_LABEL given without CLUSTER_ID.

    The original draws `$RANDOM % 12 + 1` on every call; a hash of the label keeps the
    range but gives the same network on every invocation.
    """
    return zlib.crc32(label.encode()) % 12 + 1


def parse_cluster_id(text: Optional[str]) -> int:
    if text is None or text.strip() == "":
        return 0
    return parse_int("CLUSTER_ID", text, 0, MAX_CLUSTER_ID,
                     "use an integer from 0 to 254 (0 is the default cluster)", "a cluster number")


def check_dind_label(label: str) -> None:
    if not _LABEL_RE.match(label):
        raise ConfigError("DIND_LABEL", f"'{label}' can't be part of a node name (RFC 1123)",
                          "use lower-case letters, digits, '-' and '.', starting and ending with a letter "
                          "or digit")
    if len(label) > MAX_LABEL:
        raise ConfigError("DIND_LABEL", f"'{label[:20]}…' has {len(label)} characters",
                          f"use at most {MAX_LABEL}, so that node names stay within {MAX_NAME}")
    if _RESERVED_LABEL_RE.match(label):
        raise ConfigError("DIND_LABEL", f"'{label}' is reserved (it names the default "
                          "or a numbered cluster)", "use CLUSTER_ID for numbered clusters")


def is_label_derived(label_text: Optional[str], id_text: Optional[str]) -> bool:
    """True when the cluster ID comes from DIND_LABEL alone (no CLUSTER_ID, no `-<N>` ending)."""
    label = (label_text or "").strip()
    if (id_text or "").strip() or label in ("", DEFAULT_DIND_LABEL):
        return False
    return numbered(label) is None


def numbered(label: str) -> Optional[tuple[str, str]]:
    """(label, ID) of a label ending in `-<N>` with N a cluster ID, e.g. ('foo', '3'), else None."""
    match = _NUMBERED_LABEL_RE.match(label)
    return (match.group(1), match.group(2)) if match and int(match.group(2)) <= MAX_CLUSTER_ID else None


def label_id_candidates(label: str) -> list[int]:
    """The IDs a label-derived cluster may take, its own first, then the next ones round 1..254."""
    first = legacy_cluster_id(label)
    return [(first - 1 + i) % MAX_CLUSTER_ID + 1 for i in range(MAX_CLUSTER_ID)]


def resolve_identity(label_text: Optional[str], id_text: Optional[str],
                     label_ids: Optional[Mapping[str, int]] = None) -> Identity:
    """Apply the table of reference §4.1; an empty or default label counts as unset. `label_ids`
    holds the ID remembered for a label whose own was taken by another cluster (label_ids.py)."""
    cluster_id = parse_cluster_id(id_text)
    label = (label_text or "").strip()
    if label in ("", DEFAULT_DIND_LABEL):
        if cluster_id == 0:
            return Identity(DEFAULT_DIND_LABEL, 0, "")
        label = f"cluster-{cluster_id}"
        return Identity(label, cluster_id, f"-{label}")
    check_dind_label(label)
    label_and_id = numbered(label)
    if cluster_id == 0 and label_and_id:
        return resolve_identity(*label_and_id)
    if cluster_id == 0:
        return Identity(label, (label_ids or {}).get(label) or legacy_cluster_id(label), f"-{label}")
    label = f"{label}-{cluster_id}"
    return Identity(label, cluster_id, f"-{label}")


def network_name(suffix: str) -> str:
    return f"kubeadm-dind-net{suffix}"


def master_name(suffix: str, m: int = 1) -> str:
    """The first master keeps the original's name; extra control planes are kube-master-<m>."""
    return f"kube-master{suffix}" if m == 1 else f"kube-master-{m}{suffix}"


def worker_name(k: int, suffix: str) -> str:
    """Name of kube-node-k (k counts from 1)."""
    return f"kube-node-{k}{suffix}"


def balancer_name(suffix: str) -> str:
    """The load balancer in front of the apiservers of an HA control plane."""
    return f"kube-lb{suffix}"


def parse_node_name(name: str, suffix: str) -> Optional[tuple[str, int]]:
    """("master", m) or ("worker", k) for a node name of this suffix, else None."""
    match = re.fullmatch(rf"kube-(master|node)(?:-([1-9][0-9]*))?{re.escape(suffix)}", name)
    if not match:
        return None
    role, number = match.group(1), match.group(2)
    if role == "node":
        return ("worker", int(number)) if number else None
    return None if number == "1" else ("master", int(number or 1))


def volume_name(container: str) -> str:
    return f"kubeadm-dind-{container}"


def dns64_name(suffix: str) -> str:
    return f"bind9{suffix}"


def nat64_name(suffix: str) -> str:
    return f"tayga{suffix}"


def context_name(suffix: str) -> str:
    return f"dind{suffix}"


def suffix_of_key(cluster_key: str) -> str:
    """The name suffix of a cluster key (the inverse of Identity.cluster_key)."""
    return "" if cluster_key == DEFAULT_CLUSTER_KEY else f"-{cluster_key}"


def key_of_context(context: str) -> Optional[str]:
    """The cluster key of a context name (`dind` -> default, `dind-cluster-10` -> cluster-10)."""
    if context == context_name(""):
        return DEFAULT_CLUSTER_KEY
    prefix = context_name("-")
    if not context.startswith(prefix) or context == prefix:
        return None
    return context[len(prefix):]


def cluster_labels(identity: Identity) -> dict[str, str]:
    """Labels for every object of the cluster: ours plus the original's DIND_LABEL key."""
    return {CLUSTER_LABEL: identity.cluster_key, identity.dind_label: ""}
