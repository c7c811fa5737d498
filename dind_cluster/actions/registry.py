"""Registries and proxies in a cluster's life: `registry up|down|status`, the local registry in
`up` (DIND_LOCAL_REGISTRY=y), and the per-node files (host files, proxy drop-ins) of
DIND_REGISTRY_MIRROR, DIND_INSECURE_REGISTRIES and DIND_*_PROXY at every up, restore and join."""
from __future__ import annotations

from typing import Sequence

from dind_cluster import registries, registry_plan
from dind_cluster.actions.context import ActionContext
from dind_cluster.backend import registry as backend
from dind_cluster.backend.containers import exec_in
from dind_cluster.helpers64 import engine_is_local
from dind_cluster.parallel import run_all
from dind_cluster.settings import DEFAULT_BASE_IMAGE


def config(ctx: ActionContext) -> registries.RegistryConfig:
    return registries.parse(ctx.values)


def check(ctx: ActionContext) -> None:
    """Before anything is created: every setting parses, the registry fits, its port is free."""
    cfg = config(ctx)
    if not cfg.local.enabled:
        return
    registry_plan.check_registry_room(ctx.plan)
    running = backend.find(ctx.client, cfg.local.port)
    if (running is None or running.status != "running") and _engine_here(ctx):
        backend.check_port_free(cfg.local.port)


def _engine_here(ctx: ActionContext) -> bool:
    return engine_is_local(ctx.environ.get("DOCKER_HOST") or "")


def build_env(ctx: ActionContext) -> dict:
    """The proxy variables for image builds (apt, downloads) and the preload's containerd."""
    return registry_plan.proxy_env(config(ctx).proxy)


def up(ctx: ActionContext):
    """Start (or reuse) the local registry; returns its container."""
    port = config(ctx).local.port
    base = ctx.value("DIND_BASE_IMAGE") or DEFAULT_BASE_IMAGE
    with ctx.progress.step(f"Starting the local registry {registries.container_name(port)} on 127.0.0.1:{port}"):
        return backend.ensure(ctx.client, port, base, build_env(ctx), check_port=_engine_here(ctx),
                              progress=ctx.progress.detail)


def down(ctx: ActionContext, volumes: bool = False) -> list:
    port = config(ctx).local.port
    with ctx.progress.step(f"Removing the local registry {registries.container_name(port)}"
                           + (" and its data" if volumes else " (its data volume kept)")):
        return backend.remove(ctx.client, port, volumes=volumes)


def status(ctx: ActionContext) -> list:
    """Lines for `registry status`: state, where to push, which clusters pull from it."""
    port = config(ctx).local.port
    container = backend.find(ctx.client, port)
    if container is None:
        return [f"{registries.container_name(port)}: not created (dind-cluster registry up)"]
    networks = backend.cluster_networks(ctx.client, container)
    return [f"{container.name}: {container.status}",
            f"push to: localhost:{port}/<image> (pods and nodes pull the same name)",
            f"cluster networks: {', '.join(networks) or 'none'}"]


def for_cluster(ctx: ActionContext) -> None:
    """DIND_LOCAL_REGISTRY=y: the registry runs and sits on this cluster's network."""
    if not config(ctx).local.enabled:
        return
    container = up(ctx)
    backend.attach(ctx.client, container, ctx.plan.network.name, registry_plan.registry_addresses(ctx.plan))


def node_files(ctx: ActionContext) -> dict:
    """{node name: {path: content}} of host files and proxy drop-ins, written into new nodes before
    systemd starts (backend/nodes.create_nodes)."""
    cfg = config(ctx)
    endpoint = registry_plan.registry_endpoint(ctx.plan) if cfg.local.enabled else None
    files = registry_plan.node_files(cfg, ctx.plan, endpoint)
    return {node.name: files for node in ctx.plan.nodes}


def drop_stale_hosts(ctx: ActionContext, containers: Sequence) -> None:
    """A node restored from a snapshot keeps the host files of its day: drop the unconfigured ones."""
    files = node_files(ctx)

    def clean(container) -> None:
        exec_in(container, registry_plan.stale_hosts_argv(files.get(container.name, {})))

    run_all(clean, containers)


def publish_configmap(ctx: ActionContext, master) -> None:
    """KEP-1755's local-registry-hosting ConfigMap, so that Tilt, Skaffold … find the registry."""
    cfg = config(ctx)
    if not cfg.local.enabled:
        return
    from dind_cluster.actions.kube import kubectl

    manifest = registry_plan.local_registry_configmap(cfg.local.port, registry_plan.registry_endpoint(ctx.plan))
    with ctx.progress.step(f"Publishing the local registry in {registry_plan.CONFIGMAP_NAMESPACE}/"
                           f"{registry_plan.CONFIGMAP_NAME}"):
        kubectl(master, "apply", "-f", "-", stdin=manifest.encode())


def after_clean(ctx: ActionContext, remove_registry: bool) -> None:
    """`clean --registry`: the registry goes once no cluster network uses it."""
    if not remove_registry:
        return
    port = config(ctx).local.port
    container = backend.find(ctx.client, port)
    if container is None:
        return
    users = backend.cluster_networks(ctx.client, container)
    if users:
        ctx.progress.line(f"The local registry stays: {', '.join(users)} still use(s) it")
        return
    down(ctx)
