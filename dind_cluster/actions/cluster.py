"""`up` and the other lifecycle commands, as lists of small steps sharing one ActionContext."""
from __future__ import annotations

import contextlib
import sys
import threading
from concurrent.futures import Future
from typing import Iterator, Sequence

from dind_cluster import kubeconfig
from dind_cluster.actions import hostconfig, kube
from dind_cluster.actions.context import ActionContext
from dind_cluster.backend import helpers64, nodes as backend, snapshots
from dind_cluster.backend.containers import exec_in, wait_for_nodes
from dind_cluster.backend.network import ensure_network
from dind_cluster.backend.runmode import detect_run_mode
from dind_cluster.errors import ConfigError, DindError, DockerError
from dind_cluster.paths import cache_dir

NODE_BOOT_TIMEOUT = 180.0


def up(ctx: ActionContext, retain: bool = False, skip_preflight: bool = False) -> None:
    """Restore the snapshot when there is one, otherwise bring up a new cluster."""
    if _running_master(ctx):
        ctx.progress.line(f"Cluster {ctx.plan.context} is already up; use 'down' or 'clean' first to recreate it.")
        return
    if not skip_preflight:
        preflight(ctx)
    if not ctx.flag("SKIP_SNAPSHOT") and snapshots.has_snapshot(ctx.client, ctx.plan):
        restore(ctx, retain=retain)
    else:
        fresh_up(ctx, retain=retain)
    print_cluster_info(ctx)


def fresh_up(ctx: ActionContext, retain: bool = False, init_args: Sequence[str] = (), finish: bool = True) -> None:
    """Every step of a new cluster; a failure removes what this run created unless `retain`.

    `finish=False` (the `init` command) stops after the master's pod network: no wait, no snapshot.
    """
    _check_values(ctx, finish)
    image = _node_image(ctx)
    run_mode = _run_mode(ctx, image)
    _forget_old_state(ctx)
    with _undone_on_failure(ctx, retain) as created:
        containers = _start_nodes(ctx, image, run_mode, created)
        master, workers = containers[0], containers[1:]
        _booted(ctx, [master])
        workers_booting = _in_background(_booted, ctx, workers)  # while the master runs kubeadm init
        with ctx.progress.step(f"Running kubeadm init on {master.name}"):
            version = kube.init_master(ctx, master, run_mode.cgroup_version == 1, init_args)
        _publish_kubeconfig(ctx, master)
        if workers:
            with ctx.progress.step(f"Joining {len(workers)} node(s)"):
                workers_booting.result()
                kube.join_nodes(ctx, master, workers, version)
        with ctx.progress.step(f"Setting up the pod network ({ctx.plan.cni_plugin})"):
            kube.setup_pod_network(ctx, containers)
        if finish:
            _wait_until_ready(ctx, master)
            if not ctx.flag("SKIP_SNAPSHOT"):
                snapshot(ctx)


def restore(ctx: ActionContext, retain: bool = False) -> None:
    """Recreate the nodes from their snapshots on their kept volumes; kubeadm doesn't run again."""
    _check_values(ctx)
    run_mode = _run_mode(ctx, snapshots.snapshot_ref(ctx.plan.master.name))
    with _undone_on_failure(ctx, retain) as created:
        _network_and_helpers(ctx, created)
        with ctx.progress.step("Restoring node containers from the snapshot"):
            containers = snapshots.restore_nodes(ctx.client, ctx.plan, run_mode, created=created,
                                                 apiserver_port=_wanted_port(ctx))
            wait_for_nodes(containers, timeout=NODE_BOOT_TIMEOUT)
        _ipv6_node_setup(ctx, containers)
        _publish_kubeconfig(ctx, containers[0])
        if ctx.plan.cni_plugin in kube.LOCAL_CNI:  # routes live in the nodes' network namespaces
            with ctx.progress.step("Restoring static routes between the nodes"):
                kube.add_static_routes(ctx, containers)
        _wait_until_ready(ctx, containers[0])


def down(ctx: ActionContext) -> None:
    """Snapshot the running nodes (so the next `up` comes back with today's state), then remove them."""
    if not ctx.flag("SKIP_SNAPSHOT") and _running_master(ctx):
        try:
            snapshot(ctx)
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


def preflight(ctx: ActionContext) -> None:
    """Problems that would make `up` fail later, each with its fix; `--skip-preflight` bypasses."""
    from dind_cluster.backend.facts import preflight_problems

    with ctx.progress.step("Checking the host and the engine (preflight)"):
        problems = preflight_problems(ctx)
        if problems:
            raise DindError(f"preflight: {problems[0].message}",
                            "\n".join([problems[0].fix] + [f"also: {p}" for p in problems[1:]]
                                      + ["(up --skip-preflight skips these checks)"]))


def clean(ctx: ActionContext, everything: bool = False) -> None:
    """Remove every Docker object with this cluster's label (or any cluster's), and the kubeconfig entry."""
    key = None if everything else ctx.plan.cluster_key
    if not everything:
        _drop_aaaa_rules(ctx)
    with ctx.progress.step("Removing " + ("every dind-cluster cluster" if everything else f"cluster {ctx.plan.context}")):
        backend.clean(ctx.client, key)
    if not everything and hostconfig.forget_kubeconfig(ctx):
        ctx.progress.line(f"Removed context {ctx.plan.context} from the kubeconfig")


def snapshot(ctx: ActionContext) -> None:
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
    return _wanted_port(ctx) or backend.master_port(ctx.client, ctx.plan) or 0


def print_cluster_info(ctx: ActionContext) -> None:
    plan = ctx.plan
    mgmt = [s for s in plan.network.subnets if s != plan.nat64_v4_subnet]
    print(f"Network Mode: {plan.ip_mode}\nCluster context: {plan.context}\nCluster ID: {plan.cluster_id}\n"
          f"Management CIDR(s): {' '.join(mgmt)}\nService CIDR/mode: {plan.service_cidr}/{plan.service_net_mode}\n"
          f"Pod CIDR(s): {' '.join(plan.pod_network_cidrs)}", file=sys.stdout, flush=True)


# --- steps -----------------------------------------------------------------------------------

def _node_image(ctx: ActionContext) -> str:
    if ctx.value("DIND_IMAGE"):
        return ctx.value("DIND_IMAGE")
    from dind_cluster.backend.images import ensure_node_image

    with ctx.progress.step("Making sure the node image is built"):
        return ensure_node_image(ctx.values, ctx.environ, progress=ctx.progress.detail)


def _run_mode(ctx: ActionContext, image: str):
    run_mode = detect_run_mode(ctx.client, image, cache_dir=cache_dir(ctx.environ))
    if not run_mode.privileged:
        ctx.progress.detail(f"--privileged isn't available here; nodes run without {', '.join(run_mode.cap_drop)}")
    return run_mode


def _forget_old_state(ctx: ActionContext) -> None:
    """A new cluster starts from empty volumes: drop old node containers, volumes and snapshots."""
    objs = backend.list_cluster(ctx.client, ctx.plan.cluster_key)
    if objs.containers or objs.volumes or objs.images:
        with ctx.progress.step("Removing the previous state of this cluster"):
            backend.clean(ctx.client, ctx.plan.cluster_key)


def _start_nodes(ctx: ActionContext, image: str, run_mode, created) -> list:
    """Create and start every node container at once; `_booted` waits for them."""
    _network_and_helpers(ctx, created)
    with ctx.progress.step(f"Starting {len(ctx.plan.nodes)} node container(s)"):
        return backend.create_nodes(ctx.client, ctx.plan, image, run_mode, created=created,
                                    apiserver_port=_wanted_port(ctx))


def _booted(ctx: ActionContext, containers: list) -> None:
    """Wait until systemd and containerd run in these nodes, then finish their network set-up."""
    if containers:
        with ctx.progress.step(f"Waiting for {', '.join(c.name for c in containers)} to boot"):
            wait_for_nodes(containers, timeout=NODE_BOOT_TIMEOUT)
        _ipv6_node_setup(ctx, containers)


@contextlib.contextmanager
def _undone_on_failure(ctx: ActionContext, retain: bool) -> Iterator[backend.Created]:
    """Records what a run creates; a failure (Ctrl-C included) removes it unless `retain`."""
    created = backend.Created()
    try:
        yield created
    except BaseException:
        if not retain:
            with ctx.progress.step("Removing what this run created (--retain keeps it)"):
                created.rollback()
        raise


def _in_background(func, *args) -> Future:
    """Run func in a daemon thread: a failed `up` doesn't wait for it before cleaning up."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(func(*args))
        except BaseException as exc:  # handed to whoever calls result()
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def _network_and_helpers(ctx: ActionContext, created) -> None:
    """The cluster network, and in IPv6 mode its DNS64 and NAT64 helpers (kept by `down`)."""
    with ctx.progress.step(f"Creating network {ctx.plan.network.name}"):
        ensure_network(ctx.client, ctx.plan, created)
    if ctx.plan.ip_mode == "ipv6":
        with ctx.progress.step(f"Starting DNS64 ({ctx.plan.dns64.name}) and NAT64 ({ctx.plan.nat64.name})"):
            helpers64.ensure_helpers(ctx.client, ctx.plan, {**ctx.environ, **ctx.values}, created=created,
                                     progress=ctx.progress.line)
    if ctx.plan.allow_aaaa_use and ctx.plan.cni_plugin in kube.LOCAL_CNI:
        helpers64.set_aaaa_rules(ctx.client, ctx.plan, ctx.environ, _node_image(ctx), add=True,
                                 progress=ctx.progress.line)


def _ipv6_node_setup(ctx: ActionContext, containers: list) -> None:
    """IPv6-only nodes resolve through the DNS64 helper and reach the DNS64 prefix through NAT64."""
    if ctx.plan.ip_mode != "ipv6":
        return
    resolv = f"nameserver {ctx.plan.dns_server}\noptions ndots:1\n".encode()
    for container in containers:
        # Docker bind-mounts /etc/resolv.conf: it can be rewritten in place, not replaced by a tar.
        exec_in(container, ["tee", "/etc/resolv.conf"], stdin=resolv)
        exec_in(container, ["ip", "-6", "route", "replace", ctx.plan.dns64_prefix_cidr,
                            "via", ctx.plan.local_nat64_server])


def _publish_kubeconfig(ctx: ActionContext, master) -> None:
    master.reload()
    port = backend.master_port(ctx.client, ctx.plan)
    if not port:
        raise DindError(f"{master.name} publishes no apiserver port", "run 'dind-cluster down' and 'up' again")
    with ctx.progress.step(f"Setting kubectl context {ctx.plan.context} "
                           f"({kubeconfig.server_url(ctx.plan.apiserver_host, port)})"):
        hostconfig.export_kubeconfig(ctx, master, port)
    hostconfig.run_port_forwarder(ctx, port)


def _check_values(ctx: ActionContext, waits: bool = True) -> None:
    """Settings read late in a run are checked before anything is created."""
    _wanted_port(ctx)
    if waits:
        _wait_timeout(ctx)


def _wait_timeout(ctx: ActionContext) -> float:
    text = ctx.value("DIND_WAIT_TIMEOUT", "300")
    try:
        timeout = float(text)
    except ValueError:
        timeout = -1.0
    if not 0 < timeout < float("inf"):
        raise ConfigError("DIND_WAIT_TIMEOUT", f"'{text}' is not a number of seconds", "use a positive number, e.g. 300")
    return timeout


def _wait_until_ready(ctx: ActionContext, master) -> None:
    timeout = _wait_timeout(ctx)
    with ctx.progress.step("Waiting for the nodes and kube-system pods to be Ready"):
        kube.wait_until_ready(ctx, master, timeout)


def _wanted_port(ctx: ActionContext):
    """APISERVER_PORT, or None for a free random port."""
    port = ctx.value("APISERVER_PORT")
    if not port:
        return None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError("APISERVER_PORT", f"'{port}' is not a port number", "use 1..65535, or leave it empty for a free port")
    return int(port)


def _running_master(ctx: ActionContext) -> bool:
    found = [c for c in backend.node_containers(ctx.client, ctx.plan.cluster_key) if c.name == ctx.plan.master.name]
    return bool(found) and found[0].status in ("running", "paused")


def init(ctx: ActionContext, kubeadm_args: Sequence[str], retain: bool = False) -> None:
    """The master alone, with `kubeadm init <kubeadm_args>` (workers come with `join`)."""
    fresh_up(_with_workers(ctx, 0), retain=retain, init_args=kubeadm_args, finish=False)


def join(ctx: ActionContext, kubeadm_args: Sequence[str], retain: bool = False) -> str:
    """Add one worker to the running cluster: container, kubeadm join, CNI config and routes."""
    existing = backend.node_containers(ctx.client, ctx.plan.cluster_key)
    if not any(c.name == ctx.plan.master.name and c.status == "running" for c in existing):
        raise DindError(f"cluster {ctx.plan.context} has no running master", "run 'dind-cluster up' or 'init' first")
    grown = _with_workers(ctx, len(existing))          # the next kube-node-<k> with its planned addresses
    node = grown.plan.nodes[-1]
    image = existing[0].image.id
    run_mode = _run_mode(ctx, image)
    with _undone_on_failure(ctx, retain) as created:
        with ctx.progress.step(f"Starting node container {node.name}"):
            container = backend.create_nodes(ctx.client, grown.plan, image, run_mode, created=created, nodes=(node,))[0]
            wait_for_nodes([container], timeout=NODE_BOOT_TIMEOUT)
        master = existing[0]
        with ctx.progress.step(f"Joining {node.name}"):
            if kubeadm_args:
                exec_in(container, ["kubeadm", "join", "--ignore-preflight-errors=all", *kubeadm_args])
            else:
                kube.join_nodes(grown, master, [container], kube.kubeadm_version(master))
        if grown.plan.cni_plugin in kube.LOCAL_CNI:
            with ctx.progress.step("Updating CNI configuration and static routes"):
                everyone = backend.node_containers(ctx.client, ctx.plan.cluster_key)
                kube.write_cni_configs(grown, everyone)
                kube.add_static_routes(grown, everyone)
    return node.name


def copy_image(ctx: ActionContext, images: Sequence[str]) -> None:
    from dind_cluster.backend.transfer import copy_image as copy

    def report(node: str, ref: str, imported: bool) -> None:
        ctx.progress.line(f"  {node}: {ref} " + ("loaded" if imported else "already there"))

    with ctx.progress.step(f"Copying {', '.join(images)} into the nodes"):
        copy(ctx.client, ctx.plan, images, progress=report)


def _with_workers(ctx: ActionContext, workers: int) -> ActionContext:
    """The same cluster planned with another number of workers (names and addresses are stable)."""
    from dind_cluster.plan import make_plan

    values = {**ctx.values, "NUM_NODES": str(workers)}
    return ActionContext(plan=make_plan(values), values=values, environ=ctx.environ,
                         progress=ctx.progress, _client=ctx._client)
