"""Kubernetes on the nodes: kubeadm init and join, the pod network, waiting until Ready.

Configuration is rendered on the host (pure modules) and put into nodes as files; kubeadm and
kubectl run inside the nodes, so the host needs no Kubernetes binaries for `up`.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from dind_cluster import cni, images, kubeadm, kubeadm_args, resources
from dind_cluster.actions.context import ActionContext
from dind_cluster.backend.containers import exec_in, exec_with_files, exec_with_files_once_booted
from dind_cluster.errors import CommandFailed, ConfigError, DindError, Timeout
from dind_cluster.kubeadm_args import KubeadmArgs
from dind_cluster.parallel import run_all

KUBEADM_CONFIG = "/etc/kubeadm/kubeadm.yaml"
JOIN_CONFIG = "/etc/kubeadm/join.yaml"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
LOCAL_CNI = cni.CONFLIST_PLUGINS  # plugins configured per node here, not by a manifest


def kubectl(master, *args: str, check: bool = True, stdin: bytes = None) -> tuple:
    return exec_in(master, ["kubectl", f"--kubeconfig={ADMIN_CONF}", *args], check=check, stdin=stdin)


@dataclass(frozen=True)
class BootFirst:
    """How to run a command on a node that may still be booting: in the exec that waits for its
    boot (up to `timeout`, reporting `units`); `check(container, boot report)` judges the boot
    before the command's own outcome."""
    timeout: float
    units: tuple
    check: Callable


def run_with_config(ctx: ActionContext, node, path: str, config: str, patches: dict,
                    argv: Sequence[str], boot: Optional[BootFirst] = None) -> tuple:
    """`run`, with the kubeadm config (shown with -v) and its patches put in by the same exec;
    with `boot`, that exec first waits for the node's boot (exec_with_files_once_booted)."""
    ctx.progress.detail(config)   # the command itself is shown with -v as every exec is (show_commands)
    files, argv = {path: config, **patches}, [str(a) for a in argv]
    if boot is None:
        return exec_with_files(node, files, argv, mode=0o600)
    report, code, out = exec_with_files_once_booted(node, files, argv, timeout=boot.timeout, units=boot.units,
                                                    mode=0o600)
    boot.check(node, report)
    if code != 0:
        raise CommandFailed(node.name, argv, code, out)
    return code, out


def kubeadm_version(master) -> str:
    """The version of kubeadm in the node image decides the config API and its fields."""
    _, out = exec_in(master, images.kubeadm_version_argv())
    lines = out.strip().splitlines()
    if not lines:
        raise DindError(f"kubeadm in {master.name} printed no version ('kubeadm version -o short')",
                        "check the node image's kubeadm (DIND_K8S_BIN_DIR)")
    return lines[-1]


def kubeadm_patches(ctx: ActionContext) -> dict:
    """DIND_KUBEADM_PATCHES (a host directory of kubeadm patch files) as the files to put into each
    node's PATCHES_DIR; {} when unset. Checked before anything is created."""
    directory = ctx.value("DIND_KUBEADM_PATCHES")
    if not directory:
        return {}
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise ConfigError("DIND_KUBEADM_PATCHES", f"{directory} is not a directory",
                          "a directory of kubeadm patch files (kubeadm --patches)")
    names = kubeadm_args.check_patch_names(directory, [p.name for p in root.iterdir() if p.is_file()])
    return {f"{kubeadm_args.PATCHES_DIR}/{name}": (root / name).read_bytes() for name in names}


def init_master(ctx: ActionContext, master, cgroup_v1: bool, args: Optional[KubeadmArgs] = None,
                certificate_key: str = "") -> tuple:
    """Render the kubeadm config, put it into the master and run `kubeadm init`; returns the version
    and the join discovery init printed (None if it printed none). With a certificate key (HA),
    `--upload-certs` shares the control-plane certificates with the masters that join."""
    args = args or KubeadmArgs()
    master_node = ctx.plan.master
    patches = {**kubeadm_patches(ctx), **kubelet_patches(ctx, [master_node]).get(master_node.name, {})}
    version = kubeadm_version(master)
    config = kubeadm.render_init_config(ctx.plan, ctx.values, k8s_version=version, cgroup_v1=cgroup_v1,
                                        extra=args.fields, patches=bool(patches),
                                        certificate_key=certificate_key)
    upload = ["--upload-certs"] if certificate_key and "--upload-certs" not in args.flags else []
    _, out = run_with_config(ctx, master, KUBEADM_CONFIG, config, patches,
                             ["kubeadm", "init", f"--config={KUBEADM_CONFIG}", *upload, *args.flags])
    return version, kubeadm.join_from_init_output(out)


def _discovery(ctx: ActionContext, master, args: KubeadmArgs, from_init: Optional[tuple]) -> tuple:
    """(endpoint, token, CA hashes): the user's `join` arguments where given, else what `kubeadm
    init` printed, else a fresh token."""
    given = args.fields
    if given.get("token"):
        endpoint = given.get("api_endpoint") or kubeadm.host_port(ctx.plan.endpoint_address)
        return endpoint, given["token"], given.get("ca_cert_hashes", [])
    if from_init is not None:
        return from_init
    _, out = exec_in(master, ["kubeadm", "token", "create", "--print-join-command"])
    return kubeadm.parse_join_command(out)


def join_nodes(ctx: ActionContext, master, joining: Sequence, version: str,
               args: Optional[KubeadmArgs] = None, certificate_key: str = "",
               discovery: Optional[tuple] = None, boot: Optional[BootFirst] = None) -> None:
    """Join with the user's discovery, the one `kubeadm init` printed, or a fresh bootstrap token:
    extra masters one after another (concurrent etcd member joins are unsafe), then the workers
    in parallel. With `boot`, nodes still booting join as each one's boot is over."""
    if not joining:
        return
    args, user_patches = args or KubeadmArgs(), kubeadm_patches(ctx)
    endpoint, token, hashes = _discovery(ctx, master, args, discovery)
    by_name = {node.name: node for node in ctx.plan.nodes}
    reservations = kubelet_patches(ctx, [by_name[c.name] for c in joining])

    def join(container) -> None:
        node = by_name[container.name]
        patches = {**user_patches, **reservations.get(node.name, {})}
        config = kubeadm.render_join_config(ctx.plan, node, k8s_version=version,
                                            api_endpoint=endpoint, token=token, ca_cert_hashes=hashes,
                                            extra=args.fields, patches=bool(patches),
                                            certificate_key=certificate_key)
        run_with_config(ctx, container, JOIN_CONFIG, config, patches,
                        ["kubeadm", "join", f"--config={JOIN_CONFIG}", *args.flags], boot)

    masters = [c for c in joining if by_name[c.name].role == "master"]
    for container in masters:
        join(container)
    run_all(join, [c for c in joining if c not in masters])


def kubelet_patches(ctx: ActionContext, nodes: Sequence) -> dict:
    """{node name: {path: patch}}: a node with CPU/memory limits gets a kubelet patch reserving the
    host's rest (so its allocatable is its limit), in its kubeadm patches directory. The host's size
    is asked of the engine only when some node has limits."""
    limited = [node for node in nodes if node.limits.any]
    if not limited:
        return {}
    cpus, memory = ctx.host_size()
    found = {}
    for node in limited:
        reserved = resources.reservation(node.limits, cpus, memory)
        if reserved:
            found[node.name] = {resources.KUBELET_PATCH: resources.render_kubelet_patch(reserved)}
    return found


def apply_cni_manifest(ctx: ActionContext, master) -> None:
    """A CNI plugin other than bridge/ptp: its manifest, applied from the master (bridge/ptp nodes
    start with their own conflist and routes: `cni.boot_files`)."""
    plugin = ctx.plan.cni_plugin
    url = cni.cni_manifest_url(plugin, ctx.values)
    code, out = kubectl(master, "apply", "-f", url, check=False)
    if code != 0:
        variable = cni.manifest_variable(plugin)
        raise DindError(f"{variable}: couldn't apply the {plugin} manifest {url}",
                        f"set {variable} to a reachable URL or file; kubectl said: {out.strip()[-300:]}")


def add_static_routes(ctx: ActionContext, containers: Sequence) -> None:
    """Every node reaches every other node's pod subnets through that node's management address."""
    update_routes(ctx, containers, cni.static_route_commands(ctx.plan))


def update_routes(ctx: ActionContext, containers: Sequence, commands: Mapping[str, Sequence[list]],
                  tolerate_errors: bool = False) -> None:
    """Each node's routes file anew from ctx.plan (dind-node-setup applies it at every boot) and
    `commands[node]` as one `ip -batch`, both put in by the exec that runs it: one exec a node,
    neither one a route (30 nodes have 870 routes) nor a put_archive."""
    files = cni.route_files(ctx.plan)

    def update(container) -> None:
        argvs = list(commands.get(container.name, ()))
        for argv in argvs:   # shown with -v as the routes they are, not as one `ip -batch`
            ctx.progress.command(container.name, argv)
        batch = ["ip", "-batch", cni.ROUTE_BATCH_PATH]
        if tolerate_errors:   # routes' errors only: the files must still go in
            batch = ["sh", "-c", 'ip -force -batch "$1" || true', "routes", cni.ROUTE_BATCH_PATH]
        exec_with_files(container, {cni.ROUTES_PATH: files.get(container.name, ""),
                                    cni.ROUTE_BATCH_PATH: cni.ip_batch(argvs)}, batch)

    run_all(update, containers)


def wait_until_ready(ctx: ActionContext, master, timeout: float, interval: float = 2.0) -> None:
    """Every planned node Ready and every kube-system pod running; on timeout name what isn't."""
    deadline = time.monotonic() + timeout
    expected = [node.name for node in ctx.plan.nodes]
    while True:
        problems = _not_ready(master, expected)
        if not problems:
            return
        if time.monotonic() > deadline:
            raise Timeout(f"cluster {ctx.plan.context} not ready after {timeout:.0f}s: {problems[0]}",
                          _events_tail(master))
        time.sleep(interval)


def _not_ready(master, expected: Sequence[str]) -> list:
    node_list, said = _kubectl_json(master, "get", "nodes")
    if node_list is None:
        return [f"the apiserver doesn't answer: {said}"]
    problems = nodes_not_ready(node_list, expected)
    pod_list, said = _kubectl_json(master, "get", "pods", "-n", "kube-system")
    if pod_list is None:
        return problems + [f"can't list kube-system pods: {said}"]
    return problems + pods_not_ready(pod_list)


def _kubectl_json(master, *args: str) -> tuple:
    """(parsed `-o json` output, "") or (None, the tail of what kubectl said instead)."""
    code, out = kubectl(master, *args, "-o", "json", check=False)
    if code == 0:
        try:  # stderr is merged: skip warning lines printed before the JSON
            return json.loads(out[max(out.find("{"), 0):]), ""
        except ValueError:
            pass
    return None, out.strip()[-200:]


def nodes_not_ready(node_list: dict, expected: Sequence[str]) -> list:
    """Pure: a line for each expected node that is missing or not Ready."""
    ready = {}
    for item in node_list.get("items", []):
        conditions = {c.get("type"): c for c in item.get("status", {}).get("conditions", [])}
        ready[item["metadata"]["name"]] = conditions.get("Ready", {})
    problems = []
    for name in expected:
        if name not in ready:
            problems.append(f"node {name} has not registered")
        elif ready[name].get("status") != "True":
            problems.append(f"node {name} is not Ready: {ready[name].get('message', 'no Ready condition')}")
    return problems


def pods_not_ready(pod_list: dict) -> list:
    """Pure: a line for each pod that is neither Succeeded nor Running with all containers ready."""
    problems = []
    for pod in pod_list.get("items", []):
        name = pod["metadata"]["name"]
        status = pod.get("status", {})
        phase = status.get("phase", "Unknown")
        if phase == "Succeeded":
            continue
        waiting = [c for c in status.get("containerStatuses", []) if not c.get("ready")]
        if phase != "Running" or waiting:
            reason = next((c.get("state", {}).get("waiting", {}).get("reason") for c in waiting), None)
            state = phase if phase != "Running" else "Running but not ready"
            problems.append(f"pod kube-system/{name} is {state}" + (f" ({reason})" if reason else ""))
    return problems


def _events_tail(master, count: int = 10) -> str:
    code, out = kubectl(master, "get", "events", "-n", "kube-system", "--sort-by=.lastTimestamp", check=False)
    lines = out.strip().splitlines()
    return "\n".join(lines[-count:]) if code == 0 else ""

