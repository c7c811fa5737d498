"""Pure: what the registry and proxy settings (registries.py) make of a cluster.

Per-node files: containerd's per-registry host files (`<registry>/hosts.toml` under `config_path`,
the same format for containerd 1.6, 1.7 and 2.x) and systemd drop-ins carrying the proxy
environment to containerd and the kubelet; the proxy environment with the cluster's NO_PROXY; the
local registry's addresses and its KEP-1755 ConfigMap; what `config` shows. Values in, values out.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from netaddr import IPAddress, IPNetwork

from dind_cluster.errors import ConfigError
from dind_cluster.registries import (DOCKER_HUB, REGISTRY_CONTAINER_PORT, Proxy, RegistryConfig,
                                     redact_url)

CERTS_DIR = "/etc/containerd/certs.d"          # containerd's config_path in the node image
DROPIN_NAME = "30-proxy.conf"
PROXY_UNITS = ("containerd", "kubelet")
DOCKER_HUB_SERVER = "https://registry-1.docker.io"
ALWAYS_NO_PROXY = ("localhost", "127.0.0.1", "::1", ".svc", ".cluster.local")
CONFIGMAP_NAME, CONFIGMAP_NAMESPACE = "local-registry-hosting", "kube-public"
# The local registry's static address on each cluster network, far from the nodes (which count up
# from host 2): IPv4 the last address before the broadcast, IPv6 host ::300 (above the IPv6 helpers'
# ::100 and ::200, beyond any node id). Static, so that a node joining later never finds it taken.
REGISTRY_V4_FROM_TOP = 1
REGISTRY_V6_HOST = 0x300


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
