"""Growing a cluster: `init` (the master alone) and `join` (one more worker, routes and all)."""
from __future__ import annotations

from typing import Sequence

from dind_cluster.actions import kube, registry as registry_steps
from dind_cluster.actions.cluster import fresh_up
from dind_cluster.actions.context import ActionContext
from dind_cluster.actions.steps import NODE_BOOT_TIMEOUT, check_node_setup, node_run_mode, undone_on_failure
from dind_cluster.backend import nodes as backend
from dind_cluster.backend.containers import wait_for_nodes
from dind_cluster.errors import DindError
from dind_cluster.kubeadm_args import parse as parse_kubeadm_args


def init(ctx: ActionContext, kubeadm_args: Sequence[str], retain: bool = False) -> None:
    """The master alone, with `kubeadm init <kubeadm_args>` (workers come with `join`); the
    arguments become config fields or kubeadm's few --config-compatible flags (kubeadm_args.py)."""
    args = parse_kubeadm_args("init", kubeadm_args)   # refused before anything is created
    fresh_up(_with_workers(ctx, 0), retain=retain, init_args=args, finish=False)


def join(ctx: ActionContext, kubeadm_args: Sequence[str], retain: bool = False) -> str:
    """Add one worker to the running cluster: container, kubeadm join, CNI config and routes."""
    args = parse_kubeadm_args("join", kubeadm_args)
    kube.kubeadm_patches(ctx)
    existing = backend.node_containers(ctx.client, ctx.plan.cluster_key)
    if not any(c.name == ctx.plan.master.name and c.status == "running" for c in existing):
        raise DindError(f"cluster {ctx.plan.context} has no running master", "run 'dind-cluster up' or 'init' first")
    registry_steps.config(ctx)                         # a bad registry or proxy setting fails before anything is made
    grown = _with_workers(ctx, len(existing))          # the next kube-node-<k> with its planned addresses
    node = grown.plan.nodes[-1]
    image = existing[0].image.id
    run_mode = node_run_mode(ctx, image)
    registry_steps.for_cluster(grown)                  # DIND_LOCAL_REGISTRY: running and on the network
    with undone_on_failure(ctx, retain) as created:
        with ctx.progress.step(f"Starting node container {node.name}"):
            container = backend.create_nodes(ctx.client, grown.plan, image, run_mode, created=created, nodes=(node,),
                                             extra_files=registry_steps.node_files(grown))[0]
            wait_for_nodes([container], timeout=NODE_BOOT_TIMEOUT)
            registry_steps.drop_stale_hosts(grown, [container])   # its image may be the master's snapshot
        check_node_setup(ctx, [container])
        master = existing[0]
        with ctx.progress.step(f"Joining {node.name}"):
            kube.join_nodes(grown, master, [container], kube.kubeadm_version(master), args)
        if grown.plan.cni_plugin in kube.LOCAL_CNI:
            with ctx.progress.step("Updating CNI configuration and static routes"):
                everyone = backend.node_containers(ctx.client, ctx.plan.cluster_key)
                kube.write_cni_configs(grown, everyone)
                kube.add_static_routes(grown, everyone)
    return node.name


def _with_workers(ctx: ActionContext, workers: int) -> ActionContext:
    """The same cluster planned with another number of workers (names and addresses are stable)."""
    from dind_cluster.plan import make_plan

    values = {**ctx.values, "NUM_NODES": str(workers)}
    return ActionContext(plan=make_plan(values), values=values, environ=ctx.environ,
                         progress=ctx.progress, _client=ctx._client)
