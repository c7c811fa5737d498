"""Where the tool keeps files on the host (pure: the environment is passed in)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional


def cache_dir(environ: Mapping[str, str]) -> Path:
    """XDG_CACHE_HOME (else ~/.cache) / dind-cluster: downloads and what was learnt about the engine."""
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "dind-cluster"


def image_dir(package_root: Optional[Path] = None) -> Path:
    """The node and helper images' files: dind_cluster/image/ in an installed wheel (package data),
    else image/ at the top of the source checkout (editable installs, `python -m` from a clone)."""
    package = package_root or Path(__file__).resolve().parent
    installed = package / "image"
    return installed if installed.is_dir() else package.parent / "image"
