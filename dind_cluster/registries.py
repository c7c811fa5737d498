"""Pure: the settings of registry mirrors, insecure registries, proxies and the local registry.

`parse(values)` reads and checks every variable of this feature, each check a small function
raising one ConfigError that names the variable (DIND_REGISTRY_MIRROR, DIND_INSECURE_REGISTRIES,
DIND_*_PROXY or the user's HTTP_PROXY/HTTPS_PROXY/NO_PROXY, DIND_LOCAL_REGISTRY_PORT), plus the
local registry's names and label. What the settings make of the nodes is in registry_plan.py.
Nothing here talks to Docker or reads os.environ.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence
from urllib.parse import urlsplit

from dind_cluster.errors import ConfigError
from dind_cluster.numbers import parse_int
from dind_cluster.redact import redact_text

DOCKER_HUB = "docker.io"
REGISTRY_CONTAINER_PORT = 5000                 # the registry's own port inside its container
DEFAULT_LOCAL_PORT = 5000
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
REGISTRY_LABEL = "dind-cluster.io/registry"    # value: the host port; no cluster label (it is shared)
REGISTRY_REPOSITORY = "dind-cluster-registry"
REGISTRY_STORAGE = "/var/lib/docker-registry"

_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                   r"|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$")
_FALSE = ("", "false", "no", "n", "0", "off")


@dataclass(frozen=True)
class Mirror:
    registry: str              # the registry it stands in for: docker.io, or host[:port]
    url: str                   # scheme://host[:port][/path]


@dataclass(frozen=True)
class Proxy:
    http: str = ""
    https: str = ""
    no_proxy: tuple = ()       # the user's entries, before the cluster's are added

    @property
    def wanted(self) -> bool:
        return bool(self.http or self.https)


@dataclass(frozen=True)
class LocalRegistry:
    enabled: bool
    port: int


@dataclass(frozen=True)
class RegistryConfig:
    mirrors: tuple = ()        # of Mirror, in the order given
    insecure: tuple = ()       # host[:port] names
    proxy: Proxy = Proxy()
    local: LocalRegistry = LocalRegistry(False, DEFAULT_LOCAL_PORT)


def parse(values: Mapping[str, str]) -> RegistryConfig:
    """Every variable of this module, checked; the first bad one is a ConfigError."""
    return RegistryConfig(mirrors=parse_mirrors(values.get("DIND_REGISTRY_MIRROR")),
                          insecure=parse_insecure(values.get("DIND_INSECURE_REGISTRIES")),
                          proxy=parse_proxy(values), local=parse_local(values))


# ---- parsing ----

def registry_host(variable: str, text: str) -> str:
    """A registry as images name it: host or host:port (an IPv6 host in brackets)."""
    match = _HOST.match(text)
    if not match or "/" in text or (match.group(1) and not 1 <= int(match.group(1)) <= 65535):
        raise ConfigError(variable, f"'{text}' is not a registry host",
                          "give host or host:port, e.g. registry.local:5000 (no scheme, no path)")
    return text


def registry_url(variable: str, text: str, schemes: Sequence[str] = ("http", "https")) -> str:
    """scheme://host[:port][/path] with a known scheme."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme not in schemes or not parts.hostname or parts.query
            or parts.fragment or (port is not None and not 1 <= port <= 65535)):
        raise ConfigError(variable, f"'{redact_url(text)}' is not a URL",
                          f"give {'|'.join(schemes)}://host[:port], e.g. {schemes[0]}://mirror.local:5000")
    return text.rstrip("/")


def _items(text: Optional[str]) -> list:
    return [item for item in re.split(r"[\s,]+", text or "") if item]


def parse_mirrors(text: Optional[str]) -> tuple:
    """DIND_REGISTRY_MIRROR: URLs (mirrors of Docker Hub, as Docker's registry-mirrors) or
    REGISTRY=URL (a mirror of that registry), comma- or space-separated."""
    variable = "DIND_REGISTRY_MIRROR"
    mirrors = []
    for item in _items(text):
        registry, sep, url = item.partition("=")
        if not sep:
            registry, url = DOCKER_HUB, item
        mirrors.append(Mirror(registry_host(variable, registry), registry_url(variable, url)))
    return tuple(mirrors)


def parse_insecure(text: Optional[str]) -> tuple:
    """DIND_INSECURE_REGISTRIES: the original's JSON list (`["a:5000", "b"]`) or a comma list."""
    variable = "DIND_INSECURE_REGISTRIES"
    text = (text or "").strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError(variable, f"'{text}' is not a JSON list of strings",
                              'give a JSON list such as ["registry.local:5000"] or a comma list')
    else:
        items = _items(text)
    return tuple(registry_host(variable, item.strip()) for item in items if item.strip())


def is_set(text: Optional[str]) -> bool:
    return (text or "").strip().lower() not in _FALSE


def _env_value(values: Mapping[str, str], name: str) -> str:
    """NAME from the user's environment, upper case first, then lower case."""
    return (values.get(name) or values.get(name.lower()) or "").strip()


def parse_proxy(values: Mapping[str, str]) -> Proxy:
    """DIND_HTTP_PROXY/DIND_HTTPS_PROXY/DIND_NO_PROXY; with DIND_PROPAGATE_HTTP_PROXY the user's
    HTTP_PROXY/HTTPS_PROXY/NO_PROXY (either case) fill what the DIND_* ones leave empty."""
    propagate = is_set(values.get("DIND_PROPAGATE_HTTP_PROXY"))
    found = {}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        own = (values.get(f"DIND_{name}") or "").strip()
        found[name] = (own, f"DIND_{name}") if own or not propagate else (_env_value(values, name), name)
    urls = [proxy_url(var, text) if text else "" for text, var in (found["HTTP_PROXY"], found["HTTPS_PROXY"])]
    return Proxy(urls[0], urls[1], tuple(_items(found["NO_PROXY"][0])))


def proxy_url(variable: str, text: str) -> str:
    """A proxy URL; a bare host:port means http://host:port (as curl and Go read it)."""
    if "://" not in text:
        text = f"http://{text}"
    return registry_url(variable, text, PROXY_SCHEMES)


def parse_local(values: Mapping[str, str]) -> LocalRegistry:
    return LocalRegistry(is_set(values.get("DIND_LOCAL_REGISTRY")), local_port(values.get("DIND_LOCAL_REGISTRY_PORT")))


def local_port(text: Optional[str]) -> int:
    text = (text or "").strip()
    if not text:
        return DEFAULT_LOCAL_PORT
    return parse_int("DIND_LOCAL_REGISTRY_PORT", text, 1, 65535, f"use 1..65535 (default {DEFAULT_LOCAL_PORT})",
                     "a port number")


def container_name(port: int) -> str:
    """dind-registry for the default port, dind-registry-<port> for another."""
    return "dind-registry" if port == DEFAULT_LOCAL_PORT else f"dind-registry-{port}"


def volume_name(port: int) -> str:
    return f"{container_name(port)}-data"


# ---- redaction ----

def redact_url(text: str) -> str:
    """user:password@ in any URL of `text` becomes user:[REDACTED]@ (redact.py's rule)."""
    return redact_text(text)
