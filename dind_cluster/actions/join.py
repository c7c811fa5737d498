"""Growing a cluster: `init` (the master alone) and `join` (one more worker, routes and all;
`remove-node` in remove.py shrinks it)."""
from __future__ import annotations

from typing import Sequence

from dind_cluster import naming
from dind_cluster.actions import kube, registry as registry_steps
from dind_cluster.actions.cluster import fresh_up
from dind_cluster.actions.context import ActionContext
from dind_cluster.actions.steps import (NODE_BOOT_TIMEOUT, SETUP_UNITS, check_host_limits, check_node_setup, live, node_files, node_image,
                                        node_run_mode, reshaped, undone_on_failure)
from dind_cluster.backend import nodes as backend, snapshots
from dind_cluster.backend.containers import exec_in, wait_for_nodes
from dind_cluster.errors import DindError
from dind_cluster.kubeadm_args import parse as parse_kubeadm_args
from dind_cluster.naming import ROLE_LABEL
from dind_cluster.plan import Shape


def init(ctx: ActionContext, kubeadm_args: Sequence[str], retain: bool = False) -> None:
    """The master alone, with `kubeadm init <kubeadm_args>` (workers come with `join`); the
    arguments become config fields or kubeadm's few --config-compatible flags (kubeadm_args.py)."""
    args = parse_kubeadm_args("init", kubeadm_args)   # refused before anything is created
    alone = reshaped(ctx, Shape((1,), (), False))
    fresh_up(alone, retain=retain, init_args=args, finish=False)


def join(ctx: ActionContext, kubeadm_args: Sequence[str], retain: bool = False) -> str:
    """Add one worker to the running cluster: its container (started with its CNI config and routes),
    kubeadm join, the others' routes to it; its snapshot makes it part of the cluster that `down`
    and `up` bring back."""
    args = parse_kubeadm_args("join", kubeadm_args)
    kube.kubeadm_patches(ctx)
    existing = backend.node_containers(ctx.client, ctx.plan.cluster_key)
    master = running_master_container(ctx, existing)
    registry_steps.config(ctx)                         # a bad registry or proxy setting fails before anything is made
    now = live(ctx)
    k = now.plan.shape.next_worker()                   # the lowest free kube-node-<k>, its planned addresses
    grown = reshaped(now, now.plan.shape.with_worker(k))
    node = next(n for n in grown.plan.workers if n.name == naming.worker_name(k, ctx.plan.suffix))
    check_host_limits(grown)
    image = node_image(ctx)   # the node image `up` uses: the master's own may be a snapshot of it
    run_mode = node_run_mode(ctx, image)
    registry_steps.for_cluster(grown)                  # DIND_LOCAL_REGISTRY: running and on the network
    with undone_on_failure(ctx, retain) as created:
        with ctx.progress.step(f"Starting node container {node.name}"):
            container = backend.create_nodes(ctx.client, grown.plan, image, run_mode, created=created, nodes=(node,),
                                             extra_files=node_files(grown))[0]   # its CNI config and routes too
            reports = wait_for_nodes([container], timeout=NODE_BOOT_TIMEOUT, units=SETUP_UNITS)
            registry_steps.drop_stale_hosts(grown, [container])
        check_node_setup(ctx, [container], reports)
        with ctx.progress.step(f"Joining {node.name}"):
            kube.join_nodes(grown, master, [container], kube.kubeadm_version(master), args)
        if grown.plan.cni_plugin in kube.LOCAL_CNI:
            with ctx.progress.step("Updating the static routes of the other nodes"):
                kube.add_static_routes(grown, existing)
        if not ctx.flag("SKIP_SNAPSHOT"):
            with ctx.progress.step(f"Taking a snapshot of {node.name}"):
                snapshots.snapshot_nodes(ctx.client, grown.plan, only=(node,))
    return node.name


def running_master_container(ctx: ActionContext, existing: Sequence):
    """A running master of the cluster (the first one that runs), or a one-line error."""
    for container in existing:
        if container.labels.get(ROLE_LABEL) == "master" and container.status == "running":
            return container
    raise DindError(f"cluster {ctx.plan.context} has no running master", "run 'dind-cluster up' or 'init' first")
