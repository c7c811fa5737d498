"""Pure: the Kubernetes minors this tool supports, each with the patch release it pins (used by the
per-version scripts in fixed/, by `--k8s-version` completion), and the default version.

PROVISIONAL (branch `install`): the `versions` work owns these numbers; when both land, this table
and its DEFAULT must come from that one place (its default constant), not be kept twice.
"""
from __future__ import annotations

from dind_cluster.settings import DEFAULT_K8S_VERSION

# minor -> pinned patch release (the latest published on kubernetes.io/releases when pinned)
SUPPORTED = {
    "1.31": "v1.31.14",
    "1.32": "v1.32.10",
    "1.33": "v1.33.10",
    "1.34": "v1.34.9",
    "1.35": "v1.35.9",
    "1.36": "v1.36.4",
    "1.37": "v1.37.1",
}
DEFAULT = DEFAULT_K8S_VERSION


def pinned(minor: str) -> str:
    """The pinned patch of a supported minor ('1.33' -> 'v1.33.10')."""
    return SUPPORTED[minor]
