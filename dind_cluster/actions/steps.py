"""The steps `up`, `restore`, `init` and `join` are made of: each small, each behind a progress line."""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from concurrent.futures import Future
from typing import Iterator

from dind_cluster import checks, cni, host_kubectl, kubeconfig
from dind_cluster.actions import hostconfig, kube, registry as registry_steps
from dind_cluster.actions.context import ActionContext
from dind_cluster.backend import helpers64, nodes as backend
from dind_cluster.backend.containers import exec_in, wait_for_nodes
from dind_cluster.backend.network import ensure_network
from dind_cluster.backend.runmode import detect_run_mode
from dind_cluster.errors import DindError, Timeout
from dind_cluster.helpers64 import engine_is_local
from dind_cluster.paths import cache_dir
from dind_cluster.preflight import BR_NETFILTER_FIX

NODE_BOOT_TIMEOUT = 180.0


def node_image(ctx: ActionContext) -> str:
    if ctx.value("DIND_IMAGE"):
        return ctx.value("DIND_IMAGE")
    from dind_cluster.backend.images import ensure_node_image

    with ctx.progress.step("Making sure the node image is built"):
        return ensure_node_image(ctx.values, ctx.environ, progress=ctx.progress.detail)


def node_run_mode(ctx: ActionContext, image: str):
    run_mode = detect_run_mode(ctx.client, image, cache_dir=cache_dir(ctx.environ))
    if not run_mode.privileged:
        ctx.progress.detail(f"--privileged isn't available here; nodes run without {', '.join(run_mode.cap_drop)}")
    return run_mode


def forget_old_state(ctx: ActionContext) -> None:
    """A new cluster starts from empty volumes: drop old node containers, volumes and snapshots."""
    objs = backend.list_cluster(ctx.client, ctx.plan.cluster_key)
    if objs.containers or objs.volumes or objs.images:
        with ctx.progress.step("Removing the previous state of this cluster"):
            backend.clean(ctx.client, ctx.plan.cluster_key)


def start_nodes(ctx: ActionContext, image: str, run_mode, created) -> tuple:
    """Create and start the first master (and an HA control plane's balancer) now, and every other
    node in the background, so that their creation and boot overlap the master's boot and `kubeadm
    init`. Returns (the master, a future of the other nodes once started: `join_booting` waits for
    their boots); `created` waits for the background creation before a rollback, so nothing is
    left behind."""
    network_and_helpers(ctx, created)
    port = pinned_port(ctx)   # the master's, or in an HA control plane the balancer's
    files = node_files(ctx)

    def create(nodes, cpu_shares=None) -> list:
        return backend.create_nodes(ctx.client, ctx.plan, image, run_mode, created=created, nodes=nodes,
                                    apiserver_port=port, extra_files=files, cpu_shares=cpu_shares)

    first, rest = ctx.plan.nodes[0], tuple(ctx.plan.nodes[1:])
    with ctx.progress.step(f"Starting node container {first.name}"):
        master = create((first,))[0]
    creating = in_background(_started, ctx, create, rest)
    created.pending.append(creating)
    start_balancer(ctx, created, port)
    return master, creating


def _started(ctx: ActionContext, create, nodes: tuple) -> list:
    """The other nodes: extra masters at the default CPU weight (they join first, one by one) and
    workers at a low one until `kubeadm init` is over, so that on a small host the master's boot
    and `kubeadm init`, which everything waits for, get the CPU first and the workers' boots fill
    the gaps."""
    if not nodes:
        return []
    with ctx.progress.step(f"Starting {len(nodes)} more node container(s)"):
        return create(nodes, {n.name: backend.BOOT_CPU_SHARES for n in nodes if n.role != "master"})


def join_booting(ctx: ActionContext, master, started: Future, version: str, **join_options) -> None:
    """Join the other nodes, each in the exec that waits for its boot (one exec a node, and a node
    joins as soon as it is booted, not once all are); a node image made by an older dind-cluster
    has no such boot report: its nodes are waited for first. `kubeadm init` is over: the workers
    get the default CPU weight back first."""
    containers = started.result()
    workers = {node.name for node in ctx.plan.workers}
    refused = backend.restore_cpu_shares([c for c in containers if c.name in workers])
    if refused:
        ctx.progress.detail(f"the engine kept the boot CPU weight of {', '.join(refused)}")
    boot = kube.BootFirst(NODE_BOOT_TIMEOUT, SETUP_UNITS, lambda c, report: check_node_setup(ctx, [c], [report]))
    if not all(backend.reads_files_env(c.labels) for c in containers):
        booted(ctx, containers)
        boot = None
    kube.join_nodes(ctx, master, containers, version, boot=boot, **join_options)


def node_files(ctx: ActionContext) -> dict:
    """{node name: {path: content}} new nodes start with (written before systemd starts): registry
    host files and proxy drop-ins, and with bridge/ptp the node's CNI conflist and static routes
    (applied by the node's own dind-node-setup at boot, so there is no pod-network step after
    kubeadm)."""
    registry, network = registry_steps.node_files(ctx), cni.boot_files(ctx.plan)
    return {node.name: {**registry.get(node.name, {}), **network.get(node.name, {})} for node in ctx.plan.nodes}


def start_balancer(ctx: ActionContext, created, port) -> None:
    """An HA control plane's haproxy, in front of every master (also on restore: it keeps no state)."""
    if ctx.plan.balancer is None:
        return
    from dind_cluster.backend.balancer import ensure_balancer

    with ctx.progress.step(f"Starting the load balancer {ctx.plan.balancer.name} for "
                           f"{len(ctx.plan.masters)} masters"):
        ensure_balancer(ctx.client, ctx.plan, {**ctx.environ, **ctx.values}, created=created,
                        apiserver_port=port, progress=ctx.progress.detail)


BALANCER_WAIT = 60.0


def wait_for_balancer(ctx: ActionContext, master) -> None:
    """After `kubeadm init`, the balancer must have seen the first apiserver come up (its health
    check runs every second) before anything joins through it."""
    if ctx.plan.balancer is None:
        return
    from dind_cluster.balancer import healthz_probe
    from dind_cluster.kubeadm import host_port

    argv = healthz_probe(host_port(ctx.plan.endpoint_address))
    deadline = time.monotonic() + BALANCER_WAIT
    with ctx.progress.step(f"Waiting for {ctx.plan.balancer.name} to reach {master.name}"):
        while True:
            _, out = exec_in(master, argv, check=False)
            status = (out.strip().splitlines() or [""])[0]      # "HTTP/1.1 200 OK" once it is through
            if " 200 " in status:
                return
            if time.monotonic() > deadline:
                raise Timeout(f"{ctx.plan.balancer.name} does not reach {master.name}'s apiserver after "
                              f"{BALANCER_WAIT:g}s", out.strip()[-300:])
            time.sleep(0.5)


def reshaped(ctx: ActionContext, shape) -> ActionContext:
    """The same cluster planned with another shape (names and addresses of the others stay)."""
    from dind_cluster.plan import make_plan

    label = ctx.value("DIND_LABEL").strip()   # keep an ID remembered for the label (label_ids.py)
    label_ids = {label: int(ctx.plan.cluster_id)} if label else None
    return ActionContext(plan=make_plan(ctx.values, label_ids, shape), values=ctx.values, environ=ctx.environ,
                         progress=ctx.progress, _client=ctx._client)


def live(ctx: ActionContext) -> ActionContext:
    """The cluster as it exists (grown by `join`, shrunk by `remove-node`), from its containers or,
    after `down`, its snapshot; the planned one when there is neither."""
    shape = backend.cluster_shape(ctx.client, ctx.plan)
    if shape is None or shape == ctx.plan.shape:
        return ctx
    now = reshaped(ctx, shape)
    ctx.progress.detail(f"cluster {ctx.plan.context} has {len(now.plan.masters)} master(s) and "
                        f"{len(now.plan.workers)} worker(s) (NUM_MASTERS/NUM_NODES shape a new cluster)")
    return now


SETUP_UNITS = ("dind-node-setup.service", "dind-pod-dns.service")


def booted(ctx: ActionContext, containers: list) -> None:
    """Wait until systemd and containerd run in these nodes and their network set-up is done."""
    if containers:
        with ctx.progress.step(f"Waiting for {', '.join(c.name for c in containers)} to boot"):
            reports = wait_for_nodes(containers, timeout=NODE_BOOT_TIMEOUT, units=SETUP_UNITS)
        check_node_setup(ctx, containers, reports)


@contextlib.contextmanager
def undone_on_failure(ctx: ActionContext, retain: bool) -> Iterator[backend.Created]:
    """Records what a run creates; a failure (Ctrl-C included) removes it unless `retain`."""
    created = backend.Created()
    try:
        yield created
    except BaseException:
        if not retain:
            with ctx.progress.step("Removing what this run created (--retain keeps it)"):
                created.rollback()
        raise


def in_background(func, *args) -> Future:
    """Run func in a daemon thread: a failed `up` doesn't wait for it before cleaning up."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(func(*args))
        except BaseException as exc:  # handed to whoever calls result()
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def network_and_helpers(ctx: ActionContext, created) -> None:
    """The cluster network, and in IPv6 mode its DNS64 and NAT64 helpers (kept by `down`)."""
    with ctx.progress.step(f"Creating network {ctx.plan.network.name}"):
        ensure_network(ctx.client, ctx.plan, created)
    registry_steps.for_cluster(ctx)
    if ctx.plan.ip_mode == "ipv6":
        with ctx.progress.step(f"Starting DNS64 ({ctx.plan.dns64.name}) and NAT64 ({ctx.plan.nat64.name})"):
            helpers64.ensure_helpers(ctx.client, ctx.plan, {**ctx.environ, **ctx.values}, created=created,
                                     progress=ctx.progress.line)
    if ctx.plan.allow_aaaa_use and ctx.plan.cni_plugin in kube.LOCAL_CNI:
        helpers64.set_aaaa_rules(ctx.client, ctx.plan, ctx.environ, node_image(ctx), add=True,
                                 progress=ctx.progress.line)


def check_node_setup(ctx: ActionContext, containers: list, reports: list) -> None:
    """Each node sets up its own routes, IPv6 DNS and pods' resolv.conf at boot (dind-node-setup,
    so a node the engine restarts does it again); say so when that failed (from the nodes' boot
    reports). The bridge CNI also needs br_netfilter, which a node may be unable to load."""
    for container, report in zip(containers, reports):
        if any(report.units.get(unit) != "active" for unit in SETUP_UNITS):
            journal = ["journalctl", "-b", "--no-pager", "-n", "20"] + [a for u in SETUP_UNITS for a in ("-u", u)]
            _, log = exec_in(container, journal, check=False)
            raise DindError(f"node {container.name}: its network set-up (dind-node-setup, dind-pod-dns) failed", log)
        if ctx.plan.cni_plugin == "bridge" and not report.br_netfilter:
            raise DindError(f"node {container.name}: br_netfilter is not loaded, so Services don't answer "
                            "pods on their own node", BR_NETFILTER_FIX)


def publish_kubeconfig(ctx: ActionContext, master) -> None:
    master.reload()
    port = backend.master_port(ctx.client, ctx.plan)
    if not port:
        raise DindError(f"{master.name} publishes no apiserver port", "run 'dind-cluster down' and 'up' again")
    with ctx.progress.step(f"Setting kubectl context {ctx.plan.context} "
                           f"({kubeconfig.server_url(ctx.plan.apiserver_host, port)})"):
        hostconfig.export_kubeconfig(ctx, master, port)
    linked = host_kubectl.link_extra(ctx.environ, hostconfig.kubectl_dir(ctx))
    if linked:
        ctx.progress.line(f"No kubectl on PATH: using {host_kubectl.EXTRA}'s, linked as {linked} "
                          f"(add {linked.parent} to PATH)")
    hostconfig.run_port_forwarder(ctx, port)


def check_values(ctx: ActionContext, waits: bool = True) -> None:
    """Settings read late in a run are checked before anything is created; so is the kubeconfig
    the run ends by writing (a broken one must not roll back a finished cluster)."""
    kubeconfig.check_usable(kubeconfig.kubeconfig_path(ctx.environ))
    wanted_port(ctx)
    kube.kubeadm_patches(ctx)
    registry_steps.check(ctx)
    if waits:
        wait_timeout(ctx)


def check_host_limits(ctx: ActionContext) -> None:
    """Node CPU/memory limits the engine's host can't give are refused before anything is made."""
    limits = [n.limits for n in ctx.plan.nodes if n.limits.any]
    if not limits:
        return
    from dind_cluster.resources import check_against_host

    cpus, memory = ctx.host_size()
    for node_limits in limits:
        check_against_host(node_limits, cpus, memory)


def wait_timeout(ctx: ActionContext) -> float:
    return checks.wait_timeout(ctx.value("DIND_WAIT_TIMEOUT", "300"), ctx.values)


def wait_until_ready(ctx: ActionContext, master) -> None:
    timeout = wait_timeout(ctx)
    with ctx.progress.step("Waiting for the nodes and kube-system pods to be Ready"):
        kube.wait_until_ready(ctx, master, timeout)


def pinned_port(ctx: ActionContext):
    """APISERVER_PORT, else a free port of the engine's machine when it is this one: an ephemeral
    published port may change when the engine restarts the master, and the kubeconfig with it."""
    port = wanted_port(ctx)
    if port or not engine_is_local(ctx.environ.get("DOCKER_HOST") or ""):
        return port
    with socket.socket(socket.AF_INET6 if ":" in ctx.plan.apiserver_host else socket.AF_INET) as sock:
        sock.bind((ctx.plan.apiserver_host, 0))
        return sock.getsockname()[1]


def wanted_port(ctx: ActionContext):
    """APISERVER_PORT, or None for a free random port."""
    port = ctx.value("APISERVER_PORT")
    if not port:
        return None
    return checks.apiserver_port(port, ctx.values)


def running_master(ctx: ActionContext) -> bool:
    found = [c for c in backend.node_containers(ctx.client, ctx.plan.cluster_key) if c.name == ctx.plan.master.name]
    return bool(found) and found[0].status in ("running", "paused")


