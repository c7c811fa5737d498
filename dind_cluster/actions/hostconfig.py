"""The host side of a cluster: kubeconfig entries, the port forwarder, br_netfilter on a local host."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dind_cluster import checks, kubeconfig
from dind_cluster.actions.context import ActionContext
from dind_cluster.actions.kube import ADMIN_CONF
from dind_cluster.backend.containers import exec_in
from dind_cluster.errors import DindError
from dind_cluster.helpers64 import engine_is_local
from dind_cluster.naming import DEFAULT_DIND_LABEL


def kubectl_dir(ctx: ActionContext) -> Path:
    home = ctx.environ.get("HOME") or str(Path.home())
    return Path(ctx.value("KUBECTL_DIR", os.path.join(home, ".kubeadm-dind-cluster")))


def export_kubeconfig(ctx: ActionContext, master, port: int) -> Path:
    """admin.conf, pointed at the published port on loopback, merged into the user's kubeconfig."""
    _, admin_conf = exec_in(master, ["cat", ADMIN_CONF])
    server = kubeconfig.server_url(ctx.plan.apiserver_host, port)
    entry = kubeconfig.cluster_entry(admin_conf, ctx.plan.context, server)
    # Only the default cluster becomes the current context, as in the original.
    return save_kubeconfig(ctx, ctx.plan.context, entry, use_context=ctx.plan.dind_label == DEFAULT_DIND_LABEL)


def save_kubeconfig(ctx: ActionContext, context: str, entry: dict, use_context: bool) -> Path:
    """Merge the entry into the user's kubeconfig and keep it alone in KUBECTL_DIR."""
    path = kubeconfig.kubeconfig_path(ctx.environ)
    kubeconfig.merge_into(path, entry, use_context=use_context)
    kubeconfig.write_standalone(kubectl_dir(ctx), context, entry)
    return path


def forget_kubeconfig(ctx: ActionContext) -> bool:
    removed = kubeconfig.remove_from(kubeconfig.kubeconfig_path(ctx.environ), ctx.plan.context)
    standalone = kubectl_dir(ctx) / f"{ctx.plan.context}.kubeconfig"
    if standalone.exists():
        standalone.unlink()
        removed = True
    return removed


def run_port_forwarder(ctx: ActionContext, port: int) -> None:
    """DIND_PORT_FORWARDER is called with the port (e.g. to forward it from a remote engine)."""
    if not ctx.value("DIND_PORT_FORWARDER"):
        return
    forwarder = checks.port_forwarder(ctx.value("DIND_PORT_FORWARDER"), ctx.values)  # a name on PATH, resolved
    with ctx.progress.step(f"Setting up port-forwarding for :{port}"):
        result = subprocess.run([forwarder, str(port)], env=dict(ctx.environ), capture_output=True, text=True)
    if result.returncode != 0:
        raise DindError(f"DIND_PORT_FORWARDER: '{forwarder} {port}' exited with {result.returncode}",
                        (result.stderr or result.stdout).strip()[-300:])


def load_br_netfilter(ctx: ActionContext, proc: Path = Path("/proc")) -> bool:
    """The bridge CNI needs br_netfilter. Nodes load it themselves when they may; on the engine's own
    machine, as root, load it here too (a node without CAP_SYS_MODULE or /lib/modules can't).
    True when it was missing and is now loaded; preflight reports it when it stays missing."""
    if (ctx.plan.cni_plugin != "bridge" or (proc / "sys/net/bridge").is_dir() or os.geteuid() != 0
            or not engine_is_local(ctx.environ.get("DOCKER_HOST") or "")):
        return False
    try:
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False            # no modprobe here: preflight says what to do
    return (proc / "sys/net/bridge").is_dir()
