"""The host side of a cluster: kubeconfig entries and the port forwarder."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dind_cluster import checks, kubeconfig
from dind_cluster.actions.context import ActionContext
from dind_cluster.actions.kube import ADMIN_CONF
from dind_cluster.backend.containers import exec_in
from dind_cluster.errors import DindError
from dind_cluster.naming import DEFAULT_DIND_LABEL


def kubectl_dir(ctx: ActionContext) -> Path:
    home = ctx.environ.get("HOME") or str(Path.home())
    return Path(ctx.value("KUBECTL_DIR", os.path.join(home, ".kubeadm-dind-cluster")))


def export_kubeconfig(ctx: ActionContext, master, port: int) -> Path:
    """admin.conf, pointed at the published port on loopback, merged into the user's kubeconfig."""
    _, admin_conf = exec_in(master, ["cat", ADMIN_CONF])
    server = kubeconfig.server_url(ctx.plan.apiserver_host, port)
    entry = kubeconfig.cluster_entry(admin_conf, ctx.plan.context, server)
    path = kubeconfig.kubeconfig_path(ctx.environ)
    # Only the default cluster becomes the current context, as in the original.
    kubeconfig.merge_into(path, entry, use_context=ctx.plan.dind_label == DEFAULT_DIND_LABEL)
    kubeconfig.write_standalone(kubectl_dir(ctx), ctx.plan.context, entry)
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
