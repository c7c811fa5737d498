"""The cluster IDs remembered for DIND_LABELs given without CLUSTER_ID.

A label's own ID (naming.legacy_cluster_id) can be the one another of our clusters already uses;
`up` then takes the next free one and remembers it here, so that every later command (down,
clean, config) finds the same cluster. Kept in the cache as JSON {label: id}; only cli.py
(load) and the `up` action (remember) use it.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Mapping

from dind_cluster import locks
from dind_cluster.paths import cache_dir


def _path(environ: Mapping[str, str]):
    return cache_dir(environ) / "label-ids.json"


def load(environ: Mapping[str, str]) -> dict[str, int]:
    """{label: id}; a missing or damaged file counts as empty (the labels' own IDs apply)."""
    try:
        data = json.loads(_path(environ).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int) and 1 <= v <= 254}


def remember(environ: Mapping[str, str], label: str, cluster_id: int) -> None:
    path = _path(environ)
    with locks.hold(path.with_suffix(".lock")):
        data = {**load(environ), label: cluster_id}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".label-ids.")
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.replace(tmp, path)
