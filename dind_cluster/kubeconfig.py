"""The host kubeconfig: admin.conf renamed to the cluster's context and merged under kubectl's lock.

Other clusters, contexts and users in the file are kept; the file stays mode 0600. The lock is
kubectl's own (client-go clientcmd `lockFile`): `<file>.lock` created with O_CREAT|O_EXCL and
removed after the write, so kubectl and we exclude each other; we wait while another holds it.
A symlinked kubeconfig (dotfiles) is written through, as kubectl does.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator, Mapping

from dind_cluster.errors import DindError

# yaml is imported by the functions that read or write a kubeconfig: `down`, `pause` and the other
# commands that import this module never touch one, and yaml's import (its resolver's regexes) is
# a noticeable part of a command's start-up.


LOCK_WAIT = 10.0   # seconds to wait for kubectl (or another dind-cluster) to finish its write


def kubeconfig_path(environ: Mapping[str, str]) -> Path:
    """The file kubectl writes new entries to: the first existing entry of $KUBECONFIG (empty
    entries skipped), else its first entry, else ~/.kube/config (client-go GetDefaultFilename)."""
    entries = [Path(e) for e in (environ.get("KUBECONFIG") or "").split(os.pathsep) if e]
    existing = [e for e in entries if _exists(e)]
    if existing or entries:
        return (existing or entries)[0]
    return Path(environ.get("HOME") or Path.home()) / ".kube" / "config"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def server_url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def cluster_entry(admin_conf: str, context: str, server: str) -> dict:
    """admin.conf with its cluster, user and context all named `context`, pointing at `server`."""
    import yaml

    conf = yaml.safe_load(admin_conf)
    cluster = dict(conf["clusters"][0]["cluster"], server=server)
    user = conf["users"][0]["user"]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "preferences": {},
    }


def merged(existing: dict, entry: dict, use_context: bool) -> dict:
    """`existing` with the entries of `entry` added or replaced by name."""
    result = dict(existing or {"apiVersion": "v1", "kind": "Config", "preferences": {}})
    for key in ("clusters", "users", "contexts"):
        names = {item["name"] for item in entry[key]}
        result[key] = [item for item in (result.get(key) or []) if item.get("name") not in names] + entry[key]
    if use_context or not result.get("current-context"):
        result["current-context"] = entry["current-context"]
    return result


def without(existing: dict, context: str) -> dict:
    """`existing` minus the cluster, user and context named `context`."""
    result = dict(existing or {})
    for key in ("clusters", "users", "contexts"):
        result[key] = [item for item in (result.get(key) or []) if item.get("name") != context]
    if result.get("current-context") == context:
        result["current-context"] = ""
    return result


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold kubectl's lock on `path`: `<path>.lock`, made exclusively, removed on the way out."""
    lock = Path(f"{path}.lock")
    deadline = time.monotonic() + LOCK_WAIT
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        while not _take(lock):
            if time.monotonic() > deadline:
                raise DindError(f"the kubeconfig {path} stays locked: {lock} exists",
                                "kubectl or dind-cluster is writing it; if neither runs, remove the lock file")
            time.sleep(0.05)
    except OSError as exc:
        raise DindError(f"can't write the kubeconfig {path}: {exc.strerror or exc}", _HINT) from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()


def _take(lock: Path) -> bool:
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        return False


_LISTS = ("clusters", "users", "contexts")


def _load(path: Path) -> dict:
    """The kubeconfig at `path` ({} when missing); one it can't read is the user's to fix."""
    import yaml

    try:
        conf = yaml.safe_load(path.read_bytes().decode("utf-8")) if path.exists() else {}
    except UnicodeDecodeError:
        raise DindError(f"can't read the kubeconfig {path}: it is not UTF-8 text", _HINT) from None
    except (OSError, yaml.YAMLError) as exc:
        raise DindError(f"can't read the kubeconfig {path}: {_first_line(exc)}", _HINT) from None
    problem = _shape_problem(conf)
    if problem:
        raise DindError(f"the kubeconfig {path} is not a kubeconfig: {problem}", _HINT)
    return conf or {}


def _shape_problem(conf) -> str:
    """What makes `conf` something other than kubectl's Config shape ('' when nothing)."""
    if conf is None:
        return ""
    if not isinstance(conf, dict):
        return "not a mapping of clusters, users and contexts"
    for key in _LISTS:
        items = conf.get(key)
        if items is not None and not (isinstance(items, list) and all(isinstance(i, dict) for i in items)):
            return f"'{key}' is not a list of named entries"
    if not isinstance(conf.get("current-context") or "", str):
        return "'current-context' is not a name"
    return ""


def context_server(path: Path, context: str):
    """The server URL the kubeconfig's `context` leads to; None when there is no such context."""
    conf = _load(path) if _exists(path) else {}
    entry = next((c.get("context") or {} for c in conf.get("contexts") or [] if c.get("name") == context), None)
    if entry is None:
        return None
    cluster = next((c.get("cluster") or {} for c in conf.get("clusters") or [] if c.get("name") == entry.get("cluster")), {})
    return cluster.get("server") if isinstance(cluster, dict) else None


def check_usable(path: Path) -> None:
    """Before a cluster is made: the kubeconfig we will merge into must be readable and well-formed."""
    _load(path)


def _write(path: Path, conf: dict) -> None:
    """Replace the file whole (mode 0600), through a symlink; a failure leaves the old file and no
    temp file."""
    import yaml

    path = Path(os.path.realpath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as out:
                yaml.safe_dump(conf, out, default_flow_style=False, sort_keys=False)
            os.replace(tmp, path)  # mkstemp made it 0600
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise DindError(f"can't write the kubeconfig {path}: {exc.strerror or exc}", _HINT) from None


_HINT = "fix or move the file, or point KUBECONFIG at another one"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def merge_into(path: Path, entry: dict, use_context: bool) -> None:
    with locked(path):
        _write(path, merged(_load(path), entry, use_context))


def remove_from(path: Path, context: str) -> bool:
    """Remove the context's entries; True if there was anything to remove."""
    if not path.exists():
        return False
    with locked(path):
        conf = _load(path)
        if not any(i.get("name") == context for k in ("clusters", "contexts") for i in conf.get(k) or []):
            return False
        _write(path, without(conf, context))
    return True


def write_standalone(directory: Path, context: str, entry: dict) -> Path:
    """A kubeconfig holding only this cluster, in KUBECTL_DIR."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{context}.kubeconfig"
    with locked(path):
        _write(path, entry)
    return path
