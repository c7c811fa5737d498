"""The host kubeconfig: admin.conf renamed to the cluster's context and merged under a file lock.

Other clusters, contexts and users in the file are kept; the file stays mode 0600.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator, Mapping

import yaml

from dind_cluster.errors import DindError


def kubeconfig_path(environ: Mapping[str, str]) -> Path:
    """Where kubectl looks: the first entry of $KUBECONFIG, else ~/.kube/config."""
    first = (environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    if first:
        return Path(first)
    return Path(environ.get("HOME") or Path.home()) / ".kube" / "config"


def server_url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def cluster_entry(admin_conf: str, context: str, server: str) -> dict:
    """admin.conf with its cluster, user and context all named `context`, pointing at `server`."""
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


LOCK_WAIT = 10.0  # seconds a merge waits for another writer (kubectl, another dind-cluster)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """kubectl's lock (client-go clientcmd): `<kubeconfig>.lock` created exclusively and removed
    afterwards, so neither kubectl nor another dind-cluster writes the file at the same time."""
    lock = Path(f"{path}.lock")
    deadline = time.monotonic() + LOCK_WAIT
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DindError(f"can't write the kubeconfig {path}: {exc.strerror or exc}", _HINT) from None
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise DindError(f"the kubeconfig {path} stays locked by {lock}",
                                "remove the lock file if no kubectl or dind-cluster is writing the kubeconfig") from None
            time.sleep(0.05)
        except OSError as exc:
            raise DindError(f"can't write the kubeconfig {path}: {exc.strerror or exc}", _HINT) from None
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _load(path: Path) -> dict:
    """The kubeconfig at `path` ({} when missing); one it can't read is the user's to fix."""
    try:
        conf = yaml.safe_load(path.read_text()) if path.exists() else {}
    except (OSError, yaml.YAMLError) as exc:
        raise DindError(f"can't read the kubeconfig {path}: {_first_line(exc)}", _HINT) from None
    if not isinstance(conf, (dict, type(None))):
        raise DindError(f"the kubeconfig {path} is not a mapping of clusters, users and contexts", _HINT)
    return conf or {}


def _write(path: Path, conf: dict) -> None:
    """Replace `path` whole (mode 0600); a failure leaves the old file and no temp file."""
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
    with _locked(path):
        _write(path, merged(_load(path), entry, use_context))


def remove_from(path: Path, context: str) -> bool:
    """Remove the context's entries; True if there was anything to remove."""
    if not path.exists():
        return False
    with _locked(path):
        conf = _load(path)
        if not any(i.get("name") == context for k in ("clusters", "contexts") for i in conf.get(k) or []):
            return False
        _write(path, without(conf, context))
    return True


def write_standalone(directory: Path, context: str, entry: dict) -> Path:
    """A kubeconfig holding only this cluster, in KUBECTL_DIR."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{context}.kubeconfig"
    with _locked(path):
        _write(path, entry)
    return path
