"""Shrinking a cluster: `remove-node NAME…` drains each node, deletes its Node, runs `kubeadm reset`
in it, removes its container, volume and snapshot, and drops the routes to it on the nodes left.

It refuses names that aren't this cluster's nodes and removing every master. `--force` goes on
when the node (or its kubelet) no longer answers: drain, delete and reset failures are reported
as warnings instead of errors.
"""
from __future__ import annotations

from typing import Sequence

from dind_cluster import cni
from dind_cluster.actions import kube
from dind_cluster.actions.context import ActionContext
from dind_cluster.actions.steps import live, reshaped
from dind_cluster.backend import nodes as backend, snapshots
from dind_cluster.backend.containers import exec_in
from dind_cluster.errors import CommandFailed, DindError, DockerError
from dind_cluster.naming import ROLE_LABEL, parse_node_name

DRAIN = ("drain", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s")


def check_removal(plan, names: Sequence[str]) -> list:
    """Pure: the NodePlans to remove, or a one-line error for a name that isn't one of this
    cluster's nodes or for removing every master."""
    by_name = {node.name: node for node in plan.nodes}
    strangers = [name for name in names if name not in by_name]
    if strangers:
        raise DindError(f"remove-node: {', '.join(strangers)} is not a node of cluster {plan.context}; "
                        f"its nodes are {', '.join(by_name)}")
    removing = [by_name[name] for name in dict.fromkeys(names)]
    if len([n for n in removing if n.role == "master"]) >= len(plan.masters):
        raise DindError(f"remove-node: cluster {plan.context} would have no master left",
                        "remove workers or extra masters; 'dind-cluster clean' removes the whole cluster")
    return removing


def remove_nodes(ctx: ActionContext, names: Sequence[str], force: bool = False) -> list[str]:
    """Remove the named nodes one after another; returns what was removed."""
    ctx = live(ctx)
    removing = check_removal(ctx.plan, names)
    containers = {c.name: c for c in backend.node_containers(ctx.client, ctx.plan.cluster_key)}
    gone = {n.name for n in removing}
    master = next((c for name, c in containers.items() if name not in gone and c.status == "running"
                   and c.labels.get(ROLE_LABEL) == "master"), None)
    if master is None:
        raise DindError(f"remove-node: cluster {ctx.plan.context} has no running master to drain the nodes from",
                        "run 'dind-cluster up' first")
    shape = ctx.plan.shape
    for node in removing:
        with ctx.progress.step(f"Removing {node.name}"):
            _leave_cluster(ctx, master, containers.get(node.name), node.name, force)
            _remove_objects(ctx, containers.get(node.name), node)
        shape = shape.without(*parse_node_name(node.name, ctx.plan.suffix))
        _update_the_rest(reshaped(ctx, shape), node, [c for n, c in containers.items() if n not in gone])
    return [node.name for node in removing]


def _leave_cluster(ctx: ActionContext, master, container, name: str, force: bool) -> None:
    """Drain and delete the Node (from a master), then `kubeadm reset` in the node itself."""
    steps = [(master, ["kubectl", f"--kubeconfig={kube.ADMIN_CONF}", *DRAIN, *(["--force"] if force else []), name]),
             (master, ["kubectl", f"--kubeconfig={kube.ADMIN_CONF}", "delete", "node", name])]
    if container is not None and container.status == "running":
        steps.append((container, ["kubeadm", "reset", "-f"]))
    elif not force:
        raise DindError(f"remove-node: {name} is not running, so it can't be drained and reset",
                        "add --force to remove it anyway")
    for where, argv in steps:
        try:
            exec_in(where, argv)
        except (CommandFailed, DockerError) as exc:
            if not force:
                raise DindError(exc.message, (exc.hint + "\n" if exc.hint else "") + "add --force to go on anyway")
            ctx.progress.line(f"WARNING: {exc.message} (going on: --force)")


def _remove_objects(ctx: ActionContext, container, node) -> None:
    """The container, its /var volume and its snapshot image: nothing of the node is left to restore."""
    if container is not None:
        backend.remove_container(container)
    backend.remove_volume(ctx.client, ctx.plan, node.volume)
    snapshots.remove_snapshot(ctx.client, ctx.plan, node.name)


def _update_the_rest(shrunk: ActionContext, removed, containers: list) -> None:
    """Routes to the removed node's pods go, also from the routes file each node applies at boot
    (else a restart or restore brings them back); the balancer forgets a removed master."""
    running = [c for c in containers if c.status == "running"]
    commands = cni.route_removal_commands(shrunk.plan, removed)
    if commands:   # a route some node lacks is no reason to stop: -force goes on
        kube.update_routes(shrunk, running, {c.name: commands for c in running}, tolerate_errors=True)
    if removed.role == "master" and shrunk.plan.balancer is not None:
        from dind_cluster.backend.balancer import reconfigure

        reconfigure(shrunk.client, shrunk.plan)
