"""Pure: the Kubernetes versions dind-cluster supports and what each minor needs.

DEFAULT_K8S_VERSION is the one place the default release is written; settings, the node image,
the README table and the fixed scripts read it from here. MINORS holds, per supported minor, the
kubeadm config API it reads and the pause (sandbox) image its kubeadm expects.

Sources (checked 2026-12-01):
- kubeadm API: v1beta4 is read from 1.31 (kubernetes#125029, kubeadm-config.v1beta4 reference);
  v1beta3 was deprecated in 1.31 and removed in 1.37 (kubernetes#136016). Every supported minor
  reads v1beta4, so that is what we render.
- pause: kubeadm's constants.PauseVersion — 3.10 for 1.31-1.33, 3.10.1 for 1.34-1.35,
  3.10.2 for 1.36 (kubeclipper#947, a third-party table). 1.37's value could not be confirmed
  upstream here and is assumed unchanged from 1.36.
- Kubernetes before 1.31: kubeadm's preflight needs crictl (not ignorable), which Debian doesn't
  package (kubernetes#124685 dropped the need in 1.31).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from dind_cluster.errors import ConfigError

@dataclass(frozen=True)
class Minor:
    """What one Kubernetes minor needs from us."""

    kubeadm_api: str         # the kubeadm config API version we render for it
    pause: str               # the sandbox image tag its kubeadm expects
    maintained: bool         # still patched upstream (README table)
    release: str             # the patch release we pin for it (fixed/ scripts, completion)


MINORS = {
    31: Minor("v1beta4", "3.10", False, "v1.31.14"),
    32: Minor("v1beta4", "3.10", False, "v1.32.10"),
    33: Minor("v1beta4", "3.10", False, "v1.33.10"),
    34: Minor("v1beta4", "3.10.1", False, "v1.34.9"),
    35: Minor("v1beta4", "3.10.1", True, "v1.35.9"),
    36: Minor("v1beta4", "3.10.2", True, "v1.36.4"),
    37: Minor("v1beta4", "3.10.2", True, "v1.37.1"),
}
OLDEST, NEWEST = min(MINORS), max(MINORS)
# "1.37" -> "v1.37.1": each minor's pinned patch release
PINNED = {f"1.{minor}": facts.release for minor, facts in MINORS.items()}
DEFAULT_K8S_VERSION = PINNED[f"1.{NEWEST}"]  # the newest patch of the newest minor
PAUSE_REPOSITORY = "registry.k8s.io/pause"
SUPPORTED = f"supported: 1.{OLDEST} to 1.{NEWEST} (e.g. {DEFAULT_K8S_VERSION})"

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(\.\d+)?([-+][0-9A-Za-z.+-]*)?$")


def parse(k8s_version: str) -> tuple[int, bool]:
    """(minor, has a patch number) of a supported version such as 'v1.37.1' or '1.35';
    anything else is a one-line DIND_K8S_VERSION error naming the supported range."""
    match = _VERSION.match((k8s_version or "").strip())
    if not match or int(match.group(1)) != 1:
        raise ConfigError("DIND_K8S_VERSION", f"'{k8s_version}' is not a Kubernetes version", SUPPORTED)
    minor = int(match.group(2))
    if minor < OLDEST:
        raise ConfigError("DIND_K8S_VERSION", f"Kubernetes {k8s_version.strip()} is too old "
                          f"(its kubeadm needs crictl, which Debian doesn't package)", SUPPORTED)
    if minor > NEWEST:
        raise ConfigError("DIND_K8S_VERSION", f"Kubernetes {k8s_version.strip()} is newer than "
                          "this dind-cluster knows", SUPPORTED)
    return minor, bool(match.group(3))


def minor_of(k8s_version: str) -> Minor:
    return MINORS[parse(k8s_version)[0]]


def pause_image(k8s_version: str) -> str:
    """The sandbox image kubeadm of this version expects, e.g. registry.k8s.io/pause:3.10.1
    (containerd's sandbox image must match, or the kubelet pulls a second pause)."""
    return f"{PAUSE_REPOSITORY}:{minor_of(k8s_version).pause}"
