"""Pure: the pod network of a planned cluster.

bridge and ptp: a CNI conflist per node (`render_cni_conflist`) plus static routes between the
nodes (`static_route_commands`). Every other plugin is a manifest applied with kubectl
(`cni_manifest_url`).
"""
from __future__ import annotations

import re
from typing import Mapping

from netaddr import IPNetwork

from dind_cluster.errors import ConfigError
from dind_cluster.network import static_routes
from dind_cluster.plan import ClusterPlan, NodePlan
from dind_cluster.templates import render

CONFLIST_PATH = "/etc/cni/net.d/10-dindnet.conflist"
CONFLIST_PLUGINS = ("bridge", "ptp")
_DEFAULT_ROUTE = {4: "0.0.0.0/0", 6: "::/0"}

# plugin -> (variable prefix, pinned version, URL pattern). Modern calico.yaml keeps its data in
# the Kubernetes API, so "calico" (etcd-backed in the original) and "calico-kdd" share it.
MANIFESTS = {
    "flannel": ("FLANNEL", "v0.26.1",
                "https://github.com/flannel-io/flannel/releases/download/{v}/kube-flannel.yml"),
    "calico": ("CALICO", "v3.28.2",
               "https://raw.githubusercontent.com/projectcalico/calico/{v}/manifests/calico.yaml"),
    "calico-kdd": ("CALICO", "v3.28.2",
                   "https://raw.githubusercontent.com/projectcalico/calico/{v}/manifests/calico.yaml"),
    "weave": ("WEAVE", "v2.8.1",
              "https://github.com/weaveworks/weave/releases/download/{v}/weave-daemonset-k8s.yaml"),
    "kube-router": ("KUBE_ROUTER", "v2.4.0",
                    "https://raw.githubusercontent.com/cloudnativelabs/kube-router/{v}"
                    "/daemonset/kubeadm-kuberouter.yaml"),
}
_RELEASE = re.compile(r"^v\d+\.\d+\.\d+$")


def render_cni_conflist(plan: ClusterPlan, node: NodePlan) -> str:
    """The JSON text of CONFLIST_PATH on `node` (bridge `dind0` or ptp, host-local IPAM)."""
    if plan.cni_plugin not in CONFLIST_PLUGINS:
        raise ValueError(f"CNI plugin {plan.cni_plugin!r} brings its own configuration")
    versions = [IPNetwork(cidr).version for cidr in node.pod_cidrs]
    return render(
        "dindnet.conflist.j2",
        plugin=plan.cni_plugin, hairpin=plan.use_hairpin,
        ranges=list(zip(node.pod_cidrs, node.pod_gateways)),
        routes=[_DEFAULT_ROUTE[v] for v in versions],
    )


def static_route_commands(plan: ClusterPlan) -> dict[str, list[list[str]]]:
    """node name -> argv lists `ip [-6] route replace <other node's pod CIDR> via <its address>`.
    `replace` makes re-running harmless. Empty for plugins that route by themselves."""
    return {
        name: [_route_argv(dest, via) for dest, via in routes]
        for name, routes in static_routes(plan).items()
    }


ROUTES_PATH = "/etc/dind/routes"   # read by the node's dind-node-setup at every boot
ROUTE_BATCH_PATH = "/run/dind-route-commands"   # `ip -batch` input of a route update (tmpfs)


def route_files(plan: ClusterPlan) -> dict[str, str]:
    """node name -> ROUTES_PATH text, one `-4|-6 <dest> <via>` line a route: a node restarted
    by the engine puts its routes back by itself."""
    return {name: "".join(f"-{IPNetwork(dest).version} {dest} {via}\n" for dest, via in routes)
            for name, routes in static_routes(plan).items()}


def boot_files(plan: ClusterPlan) -> dict[str, dict[str, str]]:
    """node name -> {path: text} a new bridge/ptp node starts with (written before systemd
    starts): its conflist and the routes its dind-node-setup applies at boot (all planned, so `up`
    has no pod-network step after kubeadm). Empty for plugins that bring their own manifest."""
    if plan.cni_plugin not in CONFLIST_PLUGINS:
        return {}
    routes = route_files(plan)
    return {node.name: {CONFLIST_PATH: render_cni_conflist(plan, node), ROUTES_PATH: routes.get(node.name, "")}
            for node in plan.nodes}


def ip_batch(argvs: list[list[str]]) -> str:
    """The same `ip` commands as input for `ip -batch -` (the family follows from the addresses)."""
    return "".join(" ".join(a for a in argv[1:] if a != "-6") + "\n" for argv in argvs)


def route_removal_commands(plan: ClusterPlan, removed: NodePlan) -> list[list[str]]:
    """argv lists that drop the routes to a removed node's pod subnets (run on every node left).
    Empty for plugins that route by themselves."""
    if plan.cni_plugin not in CONFLIST_PLUGINS:
        return []
    return [["ip", *(["-6"] if ":" in cidr else []), "route", "del", cidr] for cidr in removed.pod_cidrs]


def _route_argv(dest: str, via: str) -> list[str]:
    family = ["-6"] if IPNetwork(dest).version == 6 else []
    return ["ip", *family, "route", "replace", dest, "via", via]


def cni_manifest_url(plugin: str, values: Mapping[str, str]) -> str:
    """The manifest `kubectl apply -f` installs for a CNI plugin other than bridge/ptp.

    Overrides, most specific first: FLANNEL_MANIFEST_URL, CALICO_MANIFEST_URL (calico and
    calico-kdd), WEAVE_MANIFEST_URL, KUBE_ROUTER_MANIFEST_URL take any URL; FLANNEL_VERSION,
    CALICO_VERSION, WEAVE_VERSION, KUBE_ROUTER_VERSION take a release tag `vX.Y.Z` and keep the
    pinned URL pattern. Without them: flannel v0.26.1, calico v3.28.2, weave v2.8.1,
    kube-router v2.4.0.
    """
    if plugin not in MANIFESTS:
        raise ConfigError("CNI_PLUGIN", f"'{plugin}' has no manifest",
                          f"manifests exist for {', '.join(MANIFESTS)}")
    prefix, pinned, pattern = MANIFESTS[plugin]
    url = (values.get(f"{prefix}_MANIFEST_URL") or "").strip()
    if url:
        return url
    version = (values.get(f"{prefix}_VERSION") or "").strip() or pinned
    if not _RELEASE.match(version):
        raise ConfigError(f"{prefix}_VERSION", f"'{version}' is not a release tag",
                          f"use a full tag such as {pinned}, or set {prefix}_MANIFEST_URL")
    return pattern.format(v=version)


def manifest_variable(plugin: str) -> str:
    """The variable that overrides the plugin's manifest URL (named in errors)."""
    return f"{MANIFESTS[plugin][0]}_MANIFEST_URL"
