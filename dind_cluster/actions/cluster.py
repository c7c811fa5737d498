"""`up` and the other lifecycle commands, as lists of small steps sharing one ActionContext."""
from __future__ import annotations

import dataclasses
import functools
import secrets
import sys
from typing import Callable, Optional, Sequence

from dind_cluster import locks, resources

from dind_cluster.actions import hostconfig, kube, registry as registry_steps
from dind_cluster.actions.context import ActionContext
from dind_cluster.actions.steps import (NODE_BOOT_TIMEOUT, SETUP_UNITS, booted, check_host_limits, check_node_setup,
                                        check_values, forget_old_state, in_background, join_booting, live, network_and_helpers,
                                        node_image, node_run_mode, pinned_port, publish_kubeconfig, running_master,
                                        start_balancer, start_nodes, undone_on_failure, wait_for_balancer,
                                        wait_until_ready, wanted_port)
from dind_cluster.backend import helpers64, nodes as backend, snapshots
from dind_cluster.backend.containers import wait_for_nodes
from dind_cluster.errors import DindError, DockerError
from dind_cluster.kubeadm_args import KubeadmArgs
from dind_cluster.paths import cache_dir


def exclusive(doing: str) -> Callable:
    """Run a lifecycle command holding the cluster's lock: a second `up` of the same cluster (or a
    `down` during it) says what the first is doing instead of building the cluster twice."""
    def wrap(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(ctx: ActionContext, *args, **kwargs):
            path = cache_dir(ctx.environ) / "locks" / f"cluster-{ctx.plan.cluster_key}.lock"
            with locks.hold(path, busy=lambda holder: _busy(ctx, holder), note=doing):
                return func(ctx, *args, **kwargs)
        return run
    return wrap


def _busy(ctx: ActionContext, holder: str) -> DindError:
    pid, _, doing = holder.partition(" ")
    return DindError(f"cluster {ctx.plan.context} is being {doing or 'changed'} by another dind-cluster "
                     f"(process {pid})", "wait for it to finish, then run this again")


@exclusive("created")
def up(ctx: ActionContext, retain: bool = False, skip_preflight: bool = False) -> None:
    """Restore the snapshot when there is one, otherwise bring up a new cluster."""
    if running_master(ctx):
        ctx.progress.line(f"Cluster {ctx.plan.context} is already up; use 'down' or 'clean' first to recreate it.")
        return
    ctx = free_label_id(ctx)
    if not skip_preflight:
        preflight(ctx)
    if not ctx.flag("SKIP_SNAPSHOT") and snapshots.has_snapshot(ctx.client, live(ctx).plan):
        restore(ctx, retain=retain)
    else:
        fresh_up(ctx, retain=retain)
    print_cluster_info(ctx)
    print_summary(ctx)


@exclusive("created")
def fresh_up(ctx: ActionContext, retain: bool = False, init_args: Optional[KubeadmArgs] = None,
             finish: bool = True) -> None:
    """Every step of a new cluster; a failure removes what this run created unless `retain`.

    `finish=False` (the `init` command) stops after the master's pod network: no wait, no snapshot.
    """
    check_values(ctx, finish)
    check_host_limits(ctx)
    image = node_image(ctx)
    run_mode = node_run_mode(ctx, image)
    forget_old_state(ctx)
    certificate_key = secrets.token_hex(32) if ctx.plan.balancer else ""   # HA: kubeadm --upload-certs
    with undone_on_failure(ctx, retain) as created:
        master, others_started = start_nodes(ctx, image, run_mode, created)   # the others boot meanwhile
        booted(ctx, [master])
        with ctx.progress.step(f"Running kubeadm init on {master.name}"):
            version, discovery = kube.init_master(ctx, master, run_mode.cgroup_version == 1, init_args,
                                                  certificate_key=certificate_key)
        publish_kubeconfig(ctx, master)
        wait_for_balancer(ctx, master)
        if len(ctx.plan.nodes) > 1:
            with ctx.progress.step(_joining(ctx)):
                join_booting(ctx, master, others_started, version, certificate_key=certificate_key,
                             discovery=discovery)
        if ctx.plan.cni_plugin not in kube.LOCAL_CNI:   # bridge/ptp nodes started with theirs
            with ctx.progress.step(f"Setting up the pod network ({ctx.plan.cni_plugin})"):
                kube.apply_cni_manifest(ctx, master)
        registry_steps.publish_configmap(ctx, master)
        if finish:
            wait_until_ready(ctx, master)
            if not ctx.flag("SKIP_SNAPSHOT"):
                snapshot(ctx)


def _joining(ctx: ActionContext) -> str:
    extra = len(ctx.plan.masters) - 1
    workers = f"{len(ctx.plan.workers)} node(s)"
    joining = f"Joining {extra} master(s) one by one, then {workers}" if extra else f"Joining {workers}"
    return f"{joining}, each once booted"


@exclusive("restored")
def restore(ctx: ActionContext, retain: bool = False) -> None:
    """Recreate the nodes from their snapshots on their kept volumes; kubeadm doesn't run again."""
    check_values(ctx)
    ctx = kept_limits(live(ctx))
    check_host_limits(ctx)
    run_mode = node_run_mode(ctx, snapshots.snapshot_ref(ctx.plan.master.name))
    with undone_on_failure(ctx, retain) as created:
        network_and_helpers(ctx, created)
        with ctx.progress.step("Restoring node containers from the snapshot"):
            port = pinned_port(ctx)   # the master's, or in an HA control plane the balancer's
            containers = snapshots.restore_nodes(ctx.client, ctx.plan, run_mode, created=created,
                                                 apiserver_port=port,
                                                 extra_files=registry_steps.node_files(ctx))
            reports = wait_for_nodes(containers, timeout=NODE_BOOT_TIMEOUT, units=SETUP_UNITS)
            registry_steps.drop_stale_hosts(ctx, containers)
        start_balancer(ctx, created, port)
        check_node_setup(ctx, containers, reports)
        publish_kubeconfig(ctx, containers[0])
        registry_steps.publish_configmap(ctx, containers[0])
        wait_until_ready(ctx, containers[0])


def kept_limits(ctx: ActionContext) -> ActionContext:
    """Restored nodes keep the CPU and memory limits they were made with, whatever DIND_*_CPUS and
    _MEMORY say now: the kubelet's reservation in their /var was computed for those (new Docker
    limits under it would make allocatable lie). minikube refuses such a change alike."""
    recorded = snapshots.recorded_limits(ctx.client, ctx.plan)
    changed = [(node, recorded[node.name]) for node in ctx.plan.nodes
               if node.name in recorded and not resources.same_limits(node.limits, recorded[node.name])]
    if not changed:
        return ctx
    groups: dict = {}   # 30 workers changed alike make one clause, not 30
    for node, old in changed:
        key = (resources.describe_limits(old), resources.describe_limits(node.limits))
        groups.setdefault(key, []).append(node.name)
    ctx.progress.line("WARNING: the node limits asked for differ from the cluster's; "
                      + "; ".join(f"{', '.join(names)} keep{'s' if len(names) == 1 else ''} {old} (asked: {new})"
                                  for (old, new), names in groups.items())
                      + f". 'dind-cluster clean' then 'up' makes {ctx.plan.context} anew with the new limits")
    kept = {node.name: old for node, old in changed}
    nodes = tuple(dataclasses.replace(n, limits=kept.get(n.name, n.limits)) for n in ctx.plan.nodes)
    return dataclasses.replace(ctx, plan=dataclasses.replace(ctx.plan, nodes=nodes))


@exclusive("taken down")
def down(ctx: ActionContext) -> None:
    """Snapshot the running nodes (so the next `up` comes back with today's state), then remove them."""
    ctx = live(ctx)
    if not ctx.flag("SKIP_SNAPSHOT") and running_master(ctx):
        try:
            snapshot(ctx, is_live=True)
        except DockerError as exc:  # e.g. a node is missing: keep the previous snapshot, still go down
            ctx.progress.line(f"WARNING: no new snapshot: {exc.message}")
    with ctx.progress.step(f"Removing the node containers of {ctx.plan.context} (volumes and snapshot kept)"):
        backend.remove_nodes(ctx.client, ctx.plan.cluster_key)
    _drop_aaaa_rules(ctx)


def _drop_aaaa_rules(ctx: ActionContext) -> None:
    """Take back the host's IPv6 NAT rules of `up`, with an image already here (never build one)."""
    if not (ctx.plan.allow_aaaa_use and ctx.plan.cni_plugin in kube.LOCAL_CNI):
        return
    from dind_cluster.backend.images import any_node_image

    snapshots_here = backend.list_cluster(ctx.client, ctx.plan.cluster_key).images
    image = snapshots_here[0].id if snapshots_here else any_node_image(ctx.client)
    if image is None:
        ctx.progress.line("WARNING: no node image here to remove the host's IPv6 NAT rules with; "
                          "they stay (see `ip6tables -t nat -S`)")
        return
    helpers64.set_aaaa_rules(ctx.client, ctx.plan, ctx.environ, image, add=False, progress=ctx.progress.line)


def free_label_id(ctx: ActionContext) -> ActionContext:
    """A DIND_LABEL without CLUSTER_ID whose ID another of our clusters uses: take the next free
    ID and remember it for the label (label_ids.py), instead of failing preflight."""
    from dind_cluster import label_ids, naming
    from dind_cluster.plan import make_plan
    from dind_cluster.preflight import taken_by_another_cluster

    label = ctx.value("DIND_LABEL").strip()
    if not naming.is_label_derived(label, ctx.value("CLUSTER_ID")):
        return ctx
    facts = ctx.facts()
    if not taken_by_another_cluster(facts, ctx.plan):
        return ctx
    for candidate in naming.label_id_candidates(label):
        plan = make_plan(ctx.values, {label: candidate})
        if not taken_by_another_cluster(facts, plan):
            label_ids.remember(ctx.environ, label, candidate)
            ctx.progress.line(f"Cluster ID {ctx.plan.cluster_id} of DIND_LABEL={label} is another cluster's: "
                              f"using {candidate} (remembered for this label)")
            return dataclasses.replace(ctx, plan=plan)
    return ctx


def preflight_problems(ctx: ActionContext) -> list:
    """run_preflight on the facts of ctx's engine and host, for its plan."""
    from dind_cluster.preflight import run_preflight

    return run_preflight(ctx.facts(), ctx.plan, btrfs_anyway=ctx.flag("RUN_ON_BTRFS_ANYWAY"))


def preflight(ctx: ActionContext) -> None:
    """Problems that would make `up` fail later, each with its fix; `--skip-preflight` bypasses."""
    with ctx.progress.step("Checking the host and the engine (preflight)"):
        if hostconfig.load_br_netfilter(ctx):
            ctx.progress.detail("loaded br_netfilter on this host (the bridge CNI needs it)")
        found = preflight_problems(ctx)
        for warning in (p for p in found if p.warning):
            ctx.progress.line(f"WARNING: {warning.message}; fix: {warning.fix}")
        problems = [p for p in found if not p.warning]
        if problems:
            raise DindError(f"preflight: {problems[0].message}",
                            "\n".join([problems[0].fix] + [f"also: {p}" for p in problems[1:]]
                                      + ["(up --skip-preflight skips these checks)"]))


@exclusive("removed")
def clean(ctx: ActionContext, everything: bool = False, registry: bool = False) -> None:
    """Remove every Docker object with this cluster's label (or any cluster's), and the kubeconfig entry;
    the shared local registry only with `registry`, once no cluster uses it."""
    key = None if everything else ctx.plan.cluster_key
    if not everything:
        _drop_aaaa_rules(ctx)
    with ctx.progress.step("Removing " + ("every dind-cluster cluster" if everything else f"cluster {ctx.plan.context}")):
        backend.clean(ctx.client, key)
    registry_steps.after_clean(ctx, registry)
    if not everything and hostconfig.forget_kubeconfig(ctx):
        ctx.progress.line(f"Removed context {ctx.plan.context} from the kubeconfig")


@exclusive("snapshotted")
def snapshot(ctx: ActionContext, is_live: bool = False) -> None:
    """Commit every node the cluster has (`is_live`: ctx already knows them, skip asking again)."""
    ctx = ctx if is_live else live(ctx)
    with ctx.progress.step("Taking a snapshot of the cluster"):
        snapshots.snapshot_nodes(ctx.client, ctx.plan)


def pause(ctx: ActionContext) -> None:
    with ctx.progress.step("Pausing the cluster"):
        backend.pause(ctx.client, ctx.plan.cluster_key)


def unpause(ctx: ActionContext) -> None:
    with ctx.progress.step("Unpausing the cluster"):
        backend.unpause(ctx.client, ctx.plan.cluster_key)


def apiserver_port(ctx: ActionContext) -> int:
    """APISERVER_PORT when set, else the master's published port, else 0 (as the original)."""
    return wanted_port(ctx) or backend.master_port(ctx.client, live(ctx).plan) or 0


def print_cluster_info(ctx: ActionContext) -> None:
    plan = ctx.plan
    mgmt = [s for s in plan.network.subnets if s != plan.nat64_v4_subnet]
    print(f"Network Mode: {plan.ip_mode}\nCluster context: {plan.context}\nCluster ID: {plan.cluster_id}\n"
          f"Management CIDR(s): {' '.join(mgmt)}\nService CIDR/mode: {plan.service_cidr}/{plan.service_net_mode}\n"
          f"Pod CIDR(s): {' '.join(plan.pod_network_cidrs)}", file=sys.stdout, flush=True)


def print_summary(ctx: ActionContext) -> None:
    from dind_cluster.actions.summary import up_summary

    print(up_summary(ctx.plan, backend.master_port(ctx.client, ctx.plan)), file=sys.stdout, flush=True)


def copy_image(ctx: ActionContext, images: Sequence[str], nodes: Sequence[str] = ()) -> None:
    from dind_cluster.backend.transfer import copy_image as copy

    def report(node: str, ref: str, imported: bool) -> None:
        ctx.progress.line(f"  {node}: {ref} " + ("loaded" if imported else "already there"))

    with ctx.progress.step(f"Copying {', '.join(images)} into the nodes"):
        copy(ctx.client, ctx.plan, images, progress=report, only=nodes)


