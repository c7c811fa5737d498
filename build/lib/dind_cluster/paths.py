"""Where the tool keeps files on the host (pure: the environment is passed in)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping


def cache_dir(environ: Mapping[str, str]) -> Path:
    """XDG_CACHE_HOME (else ~/.cache) / dind-cluster: downloads and what was learnt about the engine."""
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "dind-cluster"
