"""One factory for the Docker client, and Docker errors turned into DindErrors."""
from __future__ import annotations

import contextlib
from typing import Iterator, Mapping, Optional

import docker
import docker.errors
import requests.exceptions

from dind_cluster.checks import DOCKER_HOST_FORMS
from dind_cluster.errors import ConfigError, DockerError, EngineUnreachable

_clients: dict = {}
# Bounded waits, per kind of call: the first answer (the API version) shows an engine that accepts
# connections and never answers; any later call (a commit, a build's next line, an exec's stdin
# making progress) gets CALL_TIMEOUT. An exec's output is not bounded: kubeadm bounds its own
# waits, and may be silent for longer. The SDK's own default would hang a command for 600 s.
ANSWER_TIMEOUT = 10.0
CALL_TIMEOUT = 300.0
DEFAULT_HOST = "unix:///var/run/docker.sock"
MAX_CONNECTIONS = 64   # many nodes are created, started and waited for at once: a pooled connection each


def docker_client(environ: Optional[Mapping[str, str]] = None,
                  answer_timeout: float = ANSWER_TIMEOUT) -> docker.DockerClient:
    """A client for the engine named by DOCKER_HOST/DOCKER_* in `environ` (the caller's environment).

    Connection failures become EngineUnreachable ("is it running? set DOCKER_HOST …").
    """
    env = dict(environ or {})
    key = tuple(sorted((k, v) for k, v in env.items() if k.startswith("DOCKER_")))
    if key not in _clients:
        where = env.get("DOCKER_HOST") or DEFAULT_HOST
        with _connecting(where, answer_timeout):
            # Asking the API version is the first answer: one round trip, then none for the real client.
            version = docker.from_env(environment=env, timeout=answer_timeout).api.api_version
            _clients[key] = docker.from_env(environment=env, timeout=CALL_TIMEOUT, version=version,
                                            max_pool_size=MAX_CONNECTIONS)
    return _clients[key]


@contextlib.contextmanager
def _connecting(where: str, answer_timeout: float) -> Iterator[None]:
    try:
        yield
    except (ValueError, TypeError) as exc:  # urllib/SDK parsing of a malformed DOCKER_HOST
        raise ConfigError("DOCKER_HOST", f"'{where}' is not an engine address ({exc})", DOCKER_HOST_FORMS) from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        timed_out = isinstance(exc, requests.exceptions.Timeout) or _reason(exc) == "timed out"
        reason = f"no answer within {answer_timeout:g} s" if timed_out else _reason(exc)
        raise EngineUnreachable(f"at {where}: {reason}") from None




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
    except requests.exceptions.Timeout:
        raise DockerError(f"{doing}: the Docker engine gave no answer within its {CALL_TIMEOUT:g} s",
                          "is the engine overloaded or stuck? `docker info` shows whether it answers") from None
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
