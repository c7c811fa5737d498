"""The command line: one small function per subcommand, one error boundary.

This is the only module that reads os.environ; everything below it gets values passed in.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Callable, List, Optional

import typer

from dind_cluster import completion, help_examples, settings as settings_mod, versions
from dind_cluster.errors import DindError, one_line
from dind_cluster.ui import Progress, format_error


def _boundary(func: Callable) -> Callable:
    """Known errors: `ERROR: …`, exit 1. Ctrl-C: 130. Anything else: a hint to rerun with -v, exit 3."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DindError as exc:
            for error in getattr(exc, "errors", [exc]):  # ConfigErrors: every bad setting
                typer.echo(format_error(error.message, error.hint), err=True)
            raise typer.Exit(exc.exit_code)
        except (KeyboardInterrupt, typer.Abort):
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130)
        except typer.Exit:
            raise
        except Exception as exc:  # the boundary: nothing unexpected escapes as a traceback
            if _VERBOSE[0]:
                traceback.print_exc()
            typer.echo(f"ERROR: unexpected error: {type(exc).__name__}: {exc}", err=True)
            typer.echo("Run again with -v for details.", err=True)
            raise typer.Exit(3)

    return run


_VERBOSE = [False]


def command(name: str, **kwargs) -> Callable:
    """Register a subcommand behind the error boundary."""
    if name in help_examples.EXAMPLES:
        kwargs.setdefault("epilog", help_examples.epilog(name))
    return lambda func: app.command(name, **kwargs)(_boundary(func))


def _from_engine(candidates: Callable) -> Callable:
    """A completion callback asking the engine that this process's environment names."""
    return lambda incomplete: candidates(dict(os.environ), incomplete)


app = typer.Typer(
    no_args_is_help=True,
    help="Multi-node Kubernetes clusters made of Docker containers (kubeadm-dind-cluster, today).",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Session:
    """What every subcommand shares: the caller's environment, flags, and progress output."""

    environ: dict
    flags: dict
    env_file: Optional[Path]
    progress: Progress
    verbose: bool
    _settings: Optional[settings_mod.Settings] = field(default=None, repr=False)

    @property
    def settings(self) -> settings_mod.Settings:
        if self._settings is None:
            self._settings = settings_mod.resolve(
                self.environ,
                flags=self.flags,
                env_file=self.env_file,
                config_path=settings_mod.default_config_path(self.environ),
            )
        return self._settings

    @property
    def values(self) -> dict:
        return self.settings.values_map()

    def plan(self):
        from dind_cluster import label_ids
        from dind_cluster.checks import validated_plan

        plan = validated_plan(self.values, label_ids.load(self.environ))
        for warning in plan.warnings:
            typer.echo(f"WARNING: {warning}", err=True)
        return plan


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show commands run and rendered configs.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress lines.")] = False,
    env_file: Annotated[Optional[Path], typer.Option("--env-file", help="dotenv file (above config.sh, below the environment).")] = None,
    nodes: Annotated[Optional[str], typer.Option("--nodes", help="NUM_NODES: number of worker nodes.")] = None,
    masters: Annotated[Optional[str], typer.Option("--masters", help="NUM_MASTERS: control-plane nodes (>1: HA behind a load balancer).")] = None,
    cluster_id: Annotated[Optional[str], typer.Option("--cluster-id", help="CLUSTER_ID: 0..254, for clusters side by side.", autocompletion=_from_engine(completion.cluster_ids))] = None,
    ip_mode: Annotated[Optional[str], typer.Option("--ip-mode", help="IP_MODE: ipv4, ipv6 or dual-stack.", autocompletion=completion.ip_modes)] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="DIND_LABEL: legacy cluster name.", autocompletion=_from_engine(completion.labels))] = None,
    cni: Annotated[Optional[str], typer.Option("--cni", help="CNI_PLUGIN: bridge, ptp, flannel, calico, calico-kdd, weave, kube-router.", autocompletion=completion.cni_plugins)] = None,
    k8s_version: Annotated[Optional[str], typer.Option("--k8s-version", help=f"DIND_K8S_VERSION: {versions.SUPPORTED}.", autocompletion=completion.k8s_versions)] = None,
    apiserver_port: Annotated[Optional[str], typer.Option("--apiserver-port", help="APISERVER_PORT on host loopback.")] = None,
) -> None:
    """Settings: defaults < config.sh < --env-file < environment < these flags."""
    _VERBOSE[0] = verbose
    flags = {
        "NUM_NODES": nodes, "NUM_MASTERS": masters, "CLUSTER_ID": cluster_id, "IP_MODE": ip_mode, "DIND_LABEL": label,
        "CNI_PLUGIN": cni, "DIND_K8S_VERSION": k8s_version, "APISERVER_PORT": apiserver_port,
    }
    ctx.obj = Session(
        environ=dict(os.environ), flags=flags, env_file=env_file,
        progress=Progress(quiet=quiet, verbose=verbose), verbose=verbose,
    )
    _show_commands(ctx.obj.progress if verbose else None)


def _show_commands(progress: Optional[Progress]) -> None:
    """-v: every command run in a node is shown under its step (docker is imported only then)."""
    if progress is not None:
        from dind_cluster.backend.containers import show_commands

        show_commands(progress.command)
    elif "dind_cluster.backend.containers" in sys.modules:
        sys.modules["dind_cluster.backend.containers"].show_commands(None)


def _session(ctx: typer.Context) -> Session:
    return ctx.obj


# --- settings -------------------------------------------------------------------------------

@command("config")
def config_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the resolved cluster plan as JSON.")] = False,
) -> None:
    """Show the resolved settings (NAME=value  (source)), or the cluster plan with --json."""
    from dind_cluster import registries, registry_plan

    session = _session(ctx)
    plan = session.plan()  # validate, so that a bad value is reported here too
    config = registries.parse(session.values)
    if as_json:
        from dind_cluster.plan import plan_to_json

        typer.echo(json.dumps({**plan_to_json(plan), "registries": registry_plan.summary(config, plan)}, indent=2))
        return
    for name, setting in session.settings.listed():
        typer.echo(f"{name}={one_line(registries.redact_url(setting.value))}  ({one_line(setting.source)})")
    for line in registry_plan.derived_lines(config, plan):
        typer.echo(line)


# --- dumps that need no cluster -------------------------------------------------------------

def _split(paths: list) -> None:
    from dind_cluster import dump

    typer.echo(dump.listing(paths))


@command("split-dump")
def split_dump_cmd() -> None:
    """Split a dump read on stdin into ./cluster-dump/ (one file per @@@ section)."""
    from dind_cluster import dump

    _split(dump.split_dump(sys.stdin.buffer, Path.cwd() / dump.DUMP_DIR))


@command("split-dump64")
def split_dump64_cmd(ctx: typer.Context) -> None:
    """Find the base64 dump in a CI log on stdin and split it into ./cluster-dump/
    (unpacking at most DIND_DUMP_MAX_BYTES, 1 GiB by default)."""
    from dind_cluster import checks, dump

    limit = _session(ctx).environ.get("DIND_DUMP_MAX_BYTES") or ""
    max_bytes = checks.dump_max_bytes(limit, {}) if limit.strip() else dump.DEFAULT_MAX_BYTES
    _split(dump.split_dump64(sys.stdin.buffer, Path.cwd() / dump.DUMP_DIR, max_bytes))


# --- cluster lifecycle -----------------------------------------------------------------------

def _action_context(ctx: typer.Context):
    from dind_cluster.actions.context import ActionContext

    session = _session(ctx)
    return ActionContext(plan=session.plan(), values=session.values, environ=session.environ,
                         progress=session.progress)


def _cluster():
    from dind_cluster.actions import cluster

    return cluster


RetainOpt = Annotated[bool, typer.Option("--retain", help="Keep what a failed run created, for debugging.")]


SkipPreflightOpt = Annotated[bool, typer.Option("--skip-preflight", help="Don't check the host and engine first.")]


@command("up")
def up_cmd(ctx: typer.Context, retain: RetainOpt = False, skip_preflight: SkipPreflightOpt = False) -> None:
    """Bring up the cluster (restores the snapshot when there is one)."""
    _cluster().up(_action_context(ctx), retain=retain, skip_preflight=skip_preflight)


@command("reup")
def reup_cmd(ctx: typer.Context, retain: RetainOpt = False, skip_preflight: SkipPreflightOpt = False) -> None:
    """Recreate the node containers (from the snapshot when there is one) and wait until Ready."""
    actions = _action_context(ctx)
    _cluster().down(actions)
    _cluster().up(actions, retain=retain, skip_preflight=skip_preflight)


@command("doctor")
def doctor_cmd(ctx: typer.Context) -> None:
    """Run the preflight checks of `up` alone: each problem with its fix."""
    from dind_cluster.actions.prune import space_report
    from dind_cluster.actions.cluster import preflight_problems

    actions = _action_context(ctx)
    found = preflight_problems(actions)
    problems = [p for p in found if not p.warning]
    typer.echo(f"• images: {space_report(actions.client)}")
    for problem in found:
        typer.echo(f"{'!' if problem.warning else '✗'} {problem}")
    if problems:
        raise typer.Exit(1)
    typer.echo("✓ no problems found" + (" (only warnings)" if found else ""))


@command("down")
def down_cmd(ctx: typer.Context) -> None:
    """Remove the node containers; keep volumes, snapshot and network so the next up is fast."""
    _cluster().down(_action_context(ctx))


@command("clean")
def clean_cmd(
    ctx: typer.Context,
    everything: Annotated[bool, typer.Option("--all", help="Every dind-cluster cluster on this engine.")] = False,
    images: Annotated[bool, typer.Option("--images", help="Then remove the node, helper and snapshot images "
                                                          "no remaining cluster uses.")] = False,
    registry: Annotated[bool, typer.Option("--registry", help="Also the local registry, once no cluster uses it.")] = False,
) -> None:
    """Remove everything carrying this cluster's label (--all: every cluster); the local registry stays
    unless --registry."""
    actions = _action_context(ctx)
    _cluster().clean(actions, everything=everything, registry=registry)
    if images:
        from dind_cluster.actions.prune import prune_images

        for image in prune_images(actions.client, actions.progress):
            typer.echo(f"removed {image.kind} image {', '.join(image.tags) or image.id}")


@command("snapshot")
def snapshot_cmd(ctx: typer.Context) -> None:
    """Save the nodes' state so that up (or restore) brings it back."""
    _cluster().snapshot(_action_context(ctx))


@command("restore")
def restore_cmd(ctx: typer.Context, retain: RetainOpt = False) -> None:
    """Recreate the nodes from the snapshot."""
    actions = _action_context(ctx)
    _cluster().down(actions)
    _cluster().restore(actions, retain=retain)


@command("pause")
def pause_cmd(ctx: typer.Context) -> None:
    """Pause every node container of the cluster."""
    _cluster().pause(_action_context(ctx))


@command("unpause")
def unpause_cmd(ctx: typer.Context) -> None:
    """Unpause every node container of the cluster."""
    _cluster().unpause(_action_context(ctx))


@command("apiserver-port")
def apiserver_port_cmd(ctx: typer.Context) -> None:
    """Print the host port of the apiserver (0 when there is none yet)."""
    typer.echo(_cluster().apiserver_port(_action_context(ctx)))


@command("build-image")
def build_image_cmd(ctx: typer.Context) -> None:
    """Build the node image now (up builds it when missing)."""
    from dind_cluster.backend.images import ensure_node_image

    session = _session(ctx)
    with session.progress.step("Building the node image"):
        tag = ensure_node_image(session.values, session.environ, progress=session.progress.detail, force=True)
    typer.echo(tag)


KubeadmArgs = Annotated[Optional[List[str]], typer.Argument(help="Passed on to kubeadm.")]
_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


@command("init", context_settings=_PASS_THROUGH)
def init_cmd(ctx: typer.Context, kubeadm_args: KubeadmArgs = None, retain: RetainOpt = False) -> None:
    """Start the master and run kubeadm init \\[kubeadm-args…]."""
    from dind_cluster.actions import join

    join.init(_action_context(ctx), kubeadm_args or [], retain=retain)


@command("join", context_settings=_PASS_THROUGH)
def join_cmd(ctx: typer.Context, kubeadm_args: KubeadmArgs = None, retain: RetainOpt = False) -> None:
    """Add a node to the running cluster and run kubeadm join \\[kubeadm-args…] (default: a fresh token)."""
    from dind_cluster.actions import join

    typer.echo(join.join(_action_context(ctx), kubeadm_args or [], retain=retain))


@command("remove-node")
def remove_node_cmd(
    ctx: typer.Context,
    names: Annotated[List[str], typer.Argument(help="Node names, e.g. kube-node-1.",
                                               autocompletion=_from_engine(completion.node_names))],
    force: Annotated[bool, typer.Option("--force", help="Go on when a node no longer answers (drain, reset).")] = False,
) -> None:
    """Drain and delete nodes, kubeadm reset them, remove their containers, volumes and snapshots."""
    from dind_cluster.actions import remove

    for name in remove.remove_nodes(_action_context(ctx), names, force=force):
        typer.echo(name)


@command("copy-image")
def copy_image_cmd(
    ctx: typer.Context, images: Annotated[List[str], typer.Argument(help="Local image names.")],
    node: Annotated[Optional[List[str]], typer.Option("--node", help="Only into this node (repeatable).",
                                                      autocompletion=_from_engine(completion.node_names))] = None,
) -> None:
    """Load local images into every node's containerd (k8s.io namespace), or only into --node ones."""
    _cluster().copy_image(_action_context(ctx), images, nodes=node or ())


# --- the local registry ---------------------------------------------------------------------

registry_app = typer.Typer(no_args_is_help=True, help="The local registry nodes pull localhost:<port>/… from.")
app.add_typer(registry_app, name="registry")


def _registry():
    from dind_cluster.actions import registry

    return registry


@registry_app.command("up", epilog=help_examples.epilog("registry up"))
@_boundary
def registry_up_cmd(ctx: typer.Context) -> None:
    """Start the local registry on 127.0.0.1:DIND_LOCAL_REGISTRY_PORT (default 5000)."""
    actions = _action_context(ctx)
    _registry().up(actions)
    typer.echo(f"localhost:{_registry().config(actions).local.port}")


@registry_app.command("down", epilog=help_examples.epilog("registry down"))
@_boundary
def registry_down_cmd(
    ctx: typer.Context,
    volumes: Annotated[bool, typer.Option("--volumes", help="Also remove the pushed images (its data volume).")] = False,
) -> None:
    """Remove the local registry container (its data stays unless --volumes)."""
    _registry().down(_action_context(ctx), volumes=volumes)


@registry_app.command("status", epilog=help_examples.epilog("registry status"))
@_boundary
def registry_status_cmd(ctx: typer.Context) -> None:
    """Show whether the local registry runs, and which cluster networks it is on."""
    for line in _registry().status(_action_context(ctx)):
        typer.echo(line)


# --- diagnostics ----------------------------------------------------------------------------

def _report_problems(problems: List[str]) -> None:
    for problem in problems:
        typer.echo(f"WARNING: {problem}", err=True)


@command("dump")
def dump_cmd(ctx: typer.Context) -> None:
    """Print the cluster's state to stdout (@@@ sections; `split-dump` makes files of it)."""
    from dind_cluster.actions.diagnostics import write_dump

    _report_problems(write_dump(_action_context(ctx), sys.stdout.buffer))


@command("dump64")
def dump64_cmd(ctx: typer.Context) -> None:
    """Print the dump compressed and base64-encoded between %%% markers, for CI logs."""
    from dind_cluster.actions.diagnostics import write_dump64

    _report_problems(write_dump64(_action_context(ctx), sys.stdout))


@command("export-logs")
def export_logs_cmd(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Where to write the logs.")] = Path("cluster-logs"),
) -> None:
    """Write the dump's sections, each node's /var/log and inspect data, and the engine's info as files."""
    from dind_cluster.actions.diagnostics import export_logs

    _report_problems(export_logs(_action_context(ctx), directory))
    typer.echo(str(directory))


def _e2e(ctx: typer.Context, serial: bool, focus: Optional[str], skip: Optional[str]) -> None:
    from dind_cluster.actions.e2e_run import run_e2e

    raise typer.Exit(run_e2e(_action_context(ctx), serial, focus, skip))


FocusArg = Annotated[Optional[str], typer.Argument(help="Test name substring to focus on.")]
SkipArg = Annotated[Optional[str], typer.Argument(help="Test name substring to skip.")]


@command("e2e")
def e2e_cmd(ctx: typer.Context, focus: FocusArg = None, skip: SkipArg = None) -> None:
    """Run the conformance e2e tests \\[focus] \\[skip] (parallel unless DIND_NO_PARALLEL_E2E)."""
    _e2e(ctx, False, focus, skip)


@command("e2e-serial")
def e2e_serial_cmd(ctx: typer.Context, focus: FocusArg = None, skip: SkipArg = None) -> None:
    """Run the serial conformance e2e tests \\[focus] \\[skip]."""
    _e2e(ctx, True, focus, skip)


# --- finding and reaching clusters (kind's verbs) ---------------------------------------------

get_app = typer.Typer(help="Print things about a cluster (kubeconfig).", no_args_is_help=True)
export_app = typer.Typer(help="Write things about a cluster to the host (kubeconfig).", no_args_is_help=True)
app.add_typer(get_app, name="get")
app.add_typer(export_app, name="export")

_SELECTED_BY = "CLUSTER_ID/DIND_LABEL"
ContextOpt = Annotated[Optional[str], typer.Option(
    "--name", help="The cluster's context (see `list`); default: the one CLUSTER_ID/DIND_LABEL select.",
    autocompletion=_from_engine(completion.contexts))]


@command("list")
def list_cmd(ctx: typer.Context,
             as_json: Annotated[bool, typer.Option("--json", help="One JSON list, for scripts.")] = False) -> None:
    """Every cluster on this engine: context, state (running/paused/stopped/down), IP mode, nodes, apiserver."""
    from dind_cluster.actions import listing
    from dind_cluster.backend.client import docker_client

    clusters = listing.list_clusters(docker_client(_session(ctx).environ))
    typer.echo(json.dumps([listing.as_json(c) for c in clusters], indent=2) if as_json else listing.table(clusters))


@get_app.command("kubeconfig", epilog=help_examples.epilog("get kubeconfig"))
@_boundary
def get_kubeconfig_cmd(
    ctx: typer.Context, name: ContextOpt = None,
    internal: Annotated[bool, typer.Option("--internal", help="Use the master's address on the cluster network "
                                                              "(for a container on that network).")] = False,
) -> None:
    """Print the cluster's kubeconfig (its apiserver on host loopback, or --internal)."""
    from dind_cluster.actions import kubeconfigs

    actions = _action_context(ctx)
    entry = kubeconfigs.cluster_kubeconfig(actions.client, name or actions.plan.context, internal=internal,
                                           variable="--name" if name else _SELECTED_BY)
    typer.echo(kubeconfigs.as_yaml(entry), nl=False)


@export_app.command("kubeconfig", epilog=help_examples.epilog("export kubeconfig"))
@_boundary
def export_kubeconfig_cmd(ctx: typer.Context, name: ContextOpt = None) -> None:
    """Merge the cluster's context into the kubeconfig again (KUBECONFIG, else ~/.kube/config)."""
    from dind_cluster.actions import hostconfig, kubeconfigs

    actions = _action_context(ctx)
    context = name or actions.plan.context
    entry = kubeconfigs.cluster_kubeconfig(actions.client, context, variable="--name" if name else _SELECTED_BY)
    path = hostconfig.save_kubeconfig(actions, context, entry, use_context=kubeconfigs.is_default(context))
    actions.progress.line(f"Set kubectl context {context} in {path}")


def main() -> None:
    app(prog_name="dind-cluster")
