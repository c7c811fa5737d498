"""Kubernetes release binaries on the host: taken from DIND_K8S_BIN_DIR, or downloaded from
dl.k8s.io with their published sha256 checked and kept under ~/.cache/dind-cluster/."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional

from dind_cluster import locks
from dind_cluster.checks import k8s_bin_dir
from dind_cluster.download import open_url
from dind_cluster.errors import DindError
from dind_cluster.images import (K8S_BINARIES, OFFLINE_HINT, RELEASE_BASE, binary_url,
                                 checksum_url, parse_sha256)
from dind_cluster.paths import cache_dir

Progress = Optional[Callable[[str], None]]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def binaries_from_dir(bin_dir: str) -> Dict[str, Path]:
    """kubeadm, kubelet and kubectl from a user's directory; all three must be there."""
    return k8s_bin_dir(bin_dir, {})


def download_binaries(version: str, arch: str, environ: Mapping[str, str],
                      progress: Progress = None, base: str = RELEASE_BASE,
                      proxies: Optional[Mapping[str, str]] = None) -> Dict[str, Path]:
    """Release binaries for `version`, downloaded once into the cache, each checked against its
    published sha256 (a cached file is checked again before use)."""
    target = cache_dir(environ) / "k8s" / version / arch
    target.mkdir(parents=True, exist_ok=True)
    return {name: _cached_binary(target, version, arch, name, progress, base, proxies) for name in K8S_BINARIES}


def _cached_binary(target: Path, version: str, arch: str, name: str, progress: Progress,
                   base: str, proxies: Optional[Mapping[str, str]] = None) -> Path:
    """One process downloads an artefact at a time (a lock per file); the others then find it."""
    with locks.hold(target / f".{name}.lock"):
        if _is_cached(target, name):
            return target / name
        return _download(target, version, arch, name, progress, base, proxies)


def _is_cached(target: Path, name: str) -> bool:
    path, sum_path = target / name, target / f"{name}.sha256"
    return path.is_file() and sum_path.is_file() and parse_sha256(sum_path.read_text()) == sha256_file(path)


def _download(target: Path, version: str, arch: str, name: str, progress: Progress, base: str,
              proxies: Optional[Mapping[str, str]] = None) -> Path:
    path, sum_path = target / name, target / f"{name}.sha256"
    if progress:
        progress(f"downloading {name} {version} ({arch})")
    expected = parse_sha256(_fetch(checksum_url(version, arch, name, base), proxies).decode(errors="replace"))
    url = binary_url(version, arch, name, base)
    if expected is None:
        raise DindError(f"no sha256 digest in {checksum_url(version, arch, name, base)}", OFFLINE_HINT)
    fd, partial = tempfile.mkstemp(dir=target, prefix=f".{name}.", suffix=".partial")  # this process's own
    try:
        with os.fdopen(fd, "wb") as out, open_url(url, OFFLINE_HINT, proxies=proxies) as response:
            shutil.copyfileobj(response, out, 1 << 20)
        actual = sha256_file(Path(partial))
        if actual != expected:
            raise DindError(f"{url}: sha256 {actual} doesn't match the published {expected}", OFFLINE_HINT)
        os.chmod(partial, 0o755)
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    sum_path.write_text(expected + "\n")
    return path


def _fetch(url: str, proxies: Optional[Mapping[str, str]] = None) -> bytes:
    with open_url(url, OFFLINE_HINT, proxies=proxies) as response:
        return response.read()
