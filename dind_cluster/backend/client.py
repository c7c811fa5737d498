"""One factory for the Docker client, and Docker errors turned into DindErrors."""
from __future__ import annotations

import contextlib
from typing import Iterator, Mapping, Optional

import docker
import docker.errors
import requests.exceptions

from dind_cluster.errors import DockerError, EngineUnreachable

_clients: dict = {}
MAX_CONNECTIONS = 64


def docker_client(environ: Optional[Mapping[str, str]] = None) -> docker.DockerClient:
    """A client for the engine named by DOCKER_HOST/DOCKER_* in `environ` (the caller's environment).

    Connection failures become EngineUnreachable ("is it running? set DOCKER_HOST …").
    """
    env = dict(environ or {})
    key = tuple(sorted((k, v) for k, v in env.items() if k.startswith("DOCKER_")))
    if key not in _clients:
        try:
            # Many nodes are created, started and waited for at once: one pooled connection each.
            client = docker.from_env(environment=env, timeout=600, max_pool_size=MAX_CONNECTIONS)
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            where = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            raise EngineUnreachable(f"at {where}: {_reason(exc)}") from None
        _clients[key] = client
    return _clients[key]


@contextlib.contextmanager
def docker_errors(doing: str, keep: tuple = ()) -> Iterator[None]:
    """Turn SDK exceptions raised while `doing` something into one-line DockerErrors; those of the
    types in `keep` (e.g. docker.errors.NotFound, which the caller handles) pass unchanged."""
    try:
        yield
    except keep:
        raise
    except docker.errors.APIError as exc:
        raise DockerError(f"{doing}: {exc.explanation or exc}") from None
    except requests.exceptions.ConnectionError as exc:
        raise EngineUnreachable(_short(exc)) from None


_REASONS = ("Connection refused", "No such file or directory", "Permission denied", "timed out")


def _reason(exc: BaseException) -> str:
    """The innermost reason of a connection failure ('connection refused'), not urllib3's retry story."""
    text = str(exc)
    return next((reason.lower() for reason in _REASONS if reason in text), _short(exc))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else exc.__class__.__name__
