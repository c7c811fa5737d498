"""Pure: registry mirrors, insecure registries, proxies and the local registry, planned as files.

Settings in, values out: `parse(values)` reads and checks every variable of this feature (one
ConfigError naming the variable), `node_files(...)` gives the files every node gets —
containerd's per-registry host files (hosts.toml under `config_path`, the same format for
containerd 1.6, 1.7 and 2.x) and systemd drop-ins carrying the proxy environment to containerd
and the kubelet. Nothing here talks to Docker or reads os.environ.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence
from urllib.parse import urlsplit

from netaddr import IPAddress, IPNetwork

from dind_cluster.errors import ConfigError
from dind_cluster.redact import redact_text

CERTS_DIR = "/etc/containerd/certs.d"          # containerd's config_path in the node image
DROPIN_NAME = "30-proxy.conf"
PROXY_UNITS = ("containerd", "kubelet")
DOCKER_HUB = "docker.io"
DOCKER_HUB_SERVER = "https://registry-1.docker.io"
REGISTRY_CONTAINER_PORT = 5000                 # the registry's own port inside its container
DEFAULT_LOCAL_PORT = 5000
# The local registry's static address on each cluster network, far from the nodes (which count up
# from host 2): IPv4 the last address before the broadcast, IPv6 host ::300 (above the IPv6 helpers'
# ::100 and ::200, beyond any node id). Static, so that a node joining later never finds it taken.
REGISTRY_V4_FROM_TOP = 1
REGISTRY_V6_HOST = 0x300
ALWAYS_NO_PROXY = ("localhost", "127.0.0.1", "::1", ".svc", ".cluster.local")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
CONFIGMAP_NAME, CONFIGMAP_NAMESPACE = "local-registry-hosting", "kube-public"
REGISTRY_LABEL = "dind-cluster.io/registry"    # value: the host port; no cluster label (it is shared)
REGISTRY_REPOSITORY = "dind-cluster-registry"
REGISTRY_STORAGE = "/var/lib/docker-registry"

_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                   r"|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$")
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
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ConfigError("DIND_LOCAL_REGISTRY_PORT", f"'{text}' is not a port number",
                          f"use 1..65535 (default {DEFAULT_LOCAL_PORT})")
    return int(text)


def container_name(port: int) -> str:
    """dind-registry for the default port, dind-registry-<port> for another."""
    return "dind-registry" if port == DEFAULT_LOCAL_PORT else f"dind-registry-{port}"


def volume_name(port: int) -> str:
    return f"{container_name(port)}-data"


# ---- redaction ----

def redact_url(text: str) -> str:
    """user:password@ in any URL of `text` becomes user:[REDACTED]@ (redact.py's rule)."""
    return redact_text(text)


# ---- the proxy environment ----

def no_proxy(proxy: Proxy, plan=None, extra: Sequence[str] = ()) -> tuple:
    """The user's NO_PROXY plus, as kind does, what must never go through a proxy: the cluster's
    management, pod and service networks, its node names, cluster DNS suffixes and loopback."""
    entries = list(proxy.no_proxy) + list(ALWAYS_NO_PROXY) + list(extra)
    if plan is not None:
        entries += list(plan.network.subnets) + list(plan.pod_network_cidrs) + [plan.service_cidr]
        entries += [node.name for node in plan.nodes]
    return tuple(dict.fromkeys(entries))


def proxy_env(proxy: Proxy, plan=None, extra: Sequence[str] = ()) -> dict:
    """HTTP_PROXY, HTTPS_PROXY, NO_PROXY in both cases (tools read one or the other); {} without a proxy."""
    if not proxy.wanted:
        return {}
    env = {"HTTP_PROXY": proxy.http, "HTTPS_PROXY": proxy.https,
           "NO_PROXY": ",".join(no_proxy(proxy, plan, extra))}
    env = {k: v for k, v in env.items() if v}
    return {**env, **{k.lower(): v for k, v in env.items()}}


def urllib_proxies(proxy: Proxy) -> Optional[dict]:
    """{"http": …, "https": …} for the host's own downloads; None: the process environment decides."""
    found = {scheme: url for scheme, url in (("http", proxy.http), ("https", proxy.https)) if url}
    return found or None


def _systemd_quote(item: str) -> str:
    """One Environment= item: in double quotes, `\\` and `"` escaped, `%` doubled (a specifier)."""
    return '"' + item.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def proxy_dropin(env: Mapping[str, str]) -> str:
    """A systemd drop-in setting `env`; without a proxy it sets nothing (and so replaces an old one)."""
    lines = ["# Written by dind-cluster at every up, restore and join (DIND_*_PROXY).", "[Service]"]
    lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in env.items()]
    return "\n".join(lines) + "\n"


def dropin_files(env: Mapping[str, str]) -> dict:
    return {f"/etc/systemd/system/{unit}.service.d/{DROPIN_NAME}": proxy_dropin(env) for unit in PROXY_UNITS}


# ---- containerd host files ----

@dataclass(frozen=True)
class HostsEntry:
    server: str
    hosts: tuple               # (url, capabilities, skip_verify), tried in order before the server


def registry_addresses(plan) -> tuple:
    """The local registry's static address on each of the cluster's management networks."""
    found = []
    for subnet in plan.network.subnets[:len(plan.network.gateways)]:
        net = IPNetwork(subnet)
        if net.version == 4:
            found.append(str(IPAddress(net.last - REGISTRY_V4_FROM_TOP, 4)))
        else:
            found.append(str(IPAddress(net.first + REGISTRY_V6_HOST, 6)))
    return tuple(found)


def registry_endpoint(plan) -> str:
    """host:port at which nodes and pods reach the local registry (the plan's first family)."""
    address = registry_addresses(plan)[0]
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{REGISTRY_CONTAINER_PORT}"


def check_registry_room(plan) -> None:
    """The registry's address must not be one a node takes."""
    taken = {ip for node in plan.nodes for ip in node.ips}
    clash = [ip for ip in registry_addresses(plan) if ip in taken]
    if clash:
        raise ConfigError("NUM_NODES", f"{len(plan.workers)} workers leave no address for the local "
                          f"registry ({clash[0]})", "use fewer workers or a bigger management network")


def hosts_entries(config: RegistryConfig, local_endpoint: Optional[str] = None) -> dict:
    """{registry: HostsEntry}: mirrors first, then (insecure) the registry itself over HTTPS without
    verification, the server last; `localhost:<port>` and `127.0.0.1:<port>` reach the local registry."""
    names = [m.registry for m in config.mirrors] + list(config.insecure)
    entries = {}
    for name in dict.fromkeys(names):
        hosts = [(m.url, ("pull", "resolve"), False) for m in config.mirrors if m.registry == name]
        server = DOCKER_HUB_SERVER if name == DOCKER_HUB else f"https://{name}"
        if name in config.insecure:
            hosts.append((f"https://{name}", ("pull", "resolve", "push"), True))
            server = f"http://{name}"
        entries[name] = HostsEntry(server, tuple(hosts))
    if local_endpoint:
        url = f"http://{local_endpoint}"
        for name in (f"localhost:{config.local.port}", f"127.0.0.1:{config.local.port}"):
            mirrors = entries.get(name, HostsEntry(url, ())).hosts
            entries[name] = HostsEntry(url, mirrors + ((url, ("pull", "resolve", "push"), False),))
    return entries


def render_hosts_toml(entry: HostsEntry) -> str:
    lines = ["# Written by dind-cluster (DIND_REGISTRY_MIRROR, DIND_INSECURE_REGISTRIES, DIND_LOCAL_REGISTRY).",
             f"server = {json.dumps(entry.server)}", ""]
    for url, capabilities, skip_verify in entry.hosts:
        lines.append(f"[host.{json.dumps(url)}]")
        lines.append(f"  capabilities = {json.dumps(list(capabilities))}")
        if skip_verify:
            lines.append("  skip_verify = true")
        lines.append("")
    return "\n".join(lines)


def hosts_files(config: RegistryConfig, local_endpoint: Optional[str] = None) -> dict:
    """{path under CERTS_DIR: hosts.toml text}."""
    return {f"{CERTS_DIR}/{name}/hosts.toml": render_hosts_toml(entry)
            for name, entry in hosts_entries(config, local_endpoint).items()}


def node_files(config: RegistryConfig, plan, local_endpoint: Optional[str] = None) -> dict:
    """Every file of this feature a node gets before it starts: host files and proxy drop-ins."""
    env = proxy_env(config.proxy, plan)
    return {**hosts_files(config, local_endpoint), **dropin_files(env)}


def stale_hosts_argv(files: Mapping[str, str]) -> list:
    """Remove host directories a node kept (snapshot) for registries no longer configured."""
    keep = sorted({path.split("/")[-2] for path in files if path.startswith(CERTS_DIR + "/")})
    tests = " ".join(f"! -name {json.dumps(name)}" for name in keep)
    return ["sh", "-c", f"mkdir -p {CERTS_DIR} && find {CERTS_DIR} -mindepth 1 -maxdepth 1 {tests} -exec rm -rf {{}} +"]


# ---- the local registry's ConfigMap (KEP-1755) ----

def local_registry_configmap(port: int, cluster_endpoint: str) -> str:
    """The `local-registry-hosting` ConfigMap in kube-public, for Tilt, Skaffold and friends."""
    body = (f'host: "localhost:{port}"\n'
            f'hostFromContainerRuntime: "localhost:{port}"\n'
            f'hostFromClusterNetwork: "{cluster_endpoint}"\n')
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {CONFIGMAP_NAME}\n"
            f"  namespace: {CONFIGMAP_NAMESPACE}\ndata:\n  localRegistryHosting.v1: |\n{indented}")


# ---- what `config` shows ----

def summary(config: RegistryConfig, plan=None) -> dict:
    """The result of these settings, secrets redacted: for `config` and `config --json`."""
    env = proxy_env(config.proxy, plan)
    return {
        "mirrors": [{"registry": m.registry, "url": redact_url(m.url)} for m in config.mirrors],
        "insecure_registries": list(config.insecure),
        "proxy": {k: redact_url(v) for k, v in env.items() if k.isupper()},
        "local_registry": {"enabled": config.local.enabled, "port": config.local.port,
                           "from_nodes": f"localhost:{config.local.port}"},
    }


def derived_lines(config: RegistryConfig, plan=None) -> list:
    """`config` lines for what the settings make of the nodes' proxy environment."""
    where = "nodes' containerd and kubelet"
    return [f"{name}={value}  ({where})" for name, value in summary(config, plan)["proxy"].items()]
