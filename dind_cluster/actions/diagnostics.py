"""`dump`, `dump64` and `export-logs`: the cluster's state collected from inside its nodes.

The sections are the original's (kdc-behaviour §6.1) for today's nodes: per running node (found by
our cluster label; master first, then workers in plan order) the `systemctl status` and journal of
kubelet.service, containerd.service and any dind*.service unit the node has, `ps auxww`,
`crictl ps -a` (or `ctr -n k8s.io containers ls` where crictl is missing), `ip a` and `ip r`; then,
from inside the master with admin.conf, every pod container's log, `kubectl get all`,
`kubectl describe all`, `kubectl get nodes` and `kubectl get events`.

Names: the original's `dockerps-a-<node>.txt` is now `crictl-ps-a-<node>.txt` (there is no
inner Docker any more, and a name that says what is inside beats a familiar one); a pod not yet
scheduled is filed under the node name `unscheduled` (the original's fields shifted instead).

Only a command's stdout goes into a section. A command that fails, a node without systemd, a
master without kubectl or admin.conf: each becomes one line in the returned problems, and the rest
is collected anyway, so a cluster that failed half-way can still be dumped. Every section goes
through `redact` before it is written anywhere.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Optional, TextIO

from dind_cluster import dump
from dind_cluster.actions.context import ActionContext
from dind_cluster.actions.kube import ADMIN_CONF
from dind_cluster.backend import nodes
from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import exec_demux_tail
from dind_cluster.errors import DindError, EngineUnreachable
from dind_cluster.kubeadm import CRI_SOCKET
from dind_cluster.naming import ROLE_LABEL
from dind_cluster.redact import redact, redact_text

HEADER = b"*** Dumping cluster state ***\n"
KUBECTL = ("kubectl", f"--kubeconfig={ADMIN_CONF}", "--request-timeout=30s")
SERVICES = ("kubelet.service", "containerd.service")
NOT_FOUND = (126, 127)  # docker exec: the command does not exist in the node
POD_LOG_WORKERS = 8


@dataclass(frozen=True)
class Command:
    argv: tuple
    ok: tuple = (0,)                       # exit codes that are no problem
    fallback: Optional["Command"] = None   # run instead when argv[0] is missing in the node


@dataclass
class Collected:
    sections: list = field(default_factory=list)   # (file name, content bytes), in dump order
    problems: list = field(default_factory=list)   # one line each, for stderr

    def add(self, other: "Collected") -> None:
        self.sections += other.sections
        self.problems += other.problems


# --- running commands in a node -------------------------------------------------------------------

# What one command's output may hold in memory: a node's journal after weeks can be gigabytes
# (journald keeps up to 4 GiB); its end, the newest lines, is what a dump is read for.
COLLECT_MAX_BYTES = 16 << 20


def run(container, cmd: Command) -> tuple[bytes, Optional[str]]:
    """(stdout, problem or None); stderr only feeds the problem line. Of an output over
    COLLECT_MAX_BYTES the end is kept, after a line saying so, and the problem says so too."""
    argv = " ".join(cmd.argv)
    try:
        with docker_errors(f"{container.name}: running '{argv}'"):
            code, out, err, dropped = exec_demux_tail(container, list(cmd.argv), COLLECT_MAX_BYTES)
    except (DindError, OSError) as exc:
        return b"", getattr(exc, "message", None) or str(exc)
    if code in NOT_FOUND and cmd.fallback is not None:
        return run(container, cmd.fallback)
    if dropped:
        kept = f"{COLLECT_MAX_BYTES >> 20} MiB"
        out = (f"[dind-cluster: the first {dropped} bytes were left out; "
               f"`docker exec {container.name} {argv}` shows all]\n").encode() + out
        if code in cmd.ok:
            return out, f"{container.name}: '{argv}' printed more than {kept}: kept its last {kept}"
    if code in cmd.ok:
        return out or b"", None
    said = (err or out or b"").decode(errors="replace").strip().splitlines()
    problem = f"{container.name}: '{argv}' exited with {code}" + (f": {said[-1]}" if said else "")
    return (b"" if code in NOT_FOUND else out or b""), problem


def section(container, name: str, commands: list) -> Collected:
    """One section made of the stdout of `commands`, run one after another."""
    parts, problems = [], []
    for cmd in commands:
        out, problem = run(container, cmd)
        parts.append(out if not out or out.endswith(b"\n") else out + b"\n")
        if problem:
            problems.append(problem)
    return Collected([(safe_name(name), b"".join(parts))], problems)


def safe_name(name: str) -> str:
    """A section name the dump format accepts (no blanks, no slashes)."""
    return "".join("_" if ch.isspace() or ch == "/" else ch for ch in name) or "_"


# --- what is collected -------------------------------------------------------------------------

def node_units(container) -> tuple[list, Optional[str]]:
    """kubelet, containerd and dind* services this node has, in that order."""
    out, problem = run(container, Command(("systemctl", "list-unit-files", "--type=service",
                                           "--no-legend", "--no-pager")))
    if problem:
        return [], problem
    names = {line.split()[0] for line in out.decode(errors="replace").splitlines() if line.split()}
    ours = sorted(n for n in names if n.startswith("dind") and n.endswith(".service"))
    return [n for n in SERVICES if n in names] + ours, None


def node_sections(container) -> Collected:
    node = container.name
    units, problem = node_units(container)
    got = Collected(problems=[problem] if problem else [])
    for unit in units:
        got.add(section(container, f"service-{node}-{unit}.log", [
            Command(("systemctl", "status", "--no-pager", unit), ok=(0, 1, 2, 3, 4)),
            Command(("journalctl", "--no-pager", "-xe", "-n", "all", "-u", unit))]))
    ctr = Command(("ctr", "-n", "k8s.io", "containers", "ls"))
    for name, argv, fallback in (
            (f"psaux-{node}.txt", ("ps", "auxww"), None),
            (f"crictl-ps-a-{node}.txt",
             ("crictl", f"--runtime-endpoint={CRI_SOCKET}", "ps", "-a"), ctr),
            (f"ip-a-{node}.txt", ("ip", "a"), None),
            (f"ip-r-{node}.txt", ("ip", "r"), None)):
        got.add(section(container, name, [Command(argv, fallback=fallback)]))
    return got


def kubectl(*args: str) -> Command:
    return Command(KUBECTL + args)


def pod_containers(pods_json: bytes) -> list:
    """(node, namespace, pod, container) for every container of every pod, init ones first."""
    rows = []
    for pod in json.loads(pods_json or b"{}").get("items", []):
        meta, spec = pod.get("metadata", {}), pod.get("spec", {})
        node = spec.get("nodeName") or "unscheduled"
        for ctr in spec.get("initContainers", []) + spec.get("containers", []):
            rows.append((node, meta.get("namespace", "default"), meta.get("name", "?"),
                         ctr["name"]))
    return rows


def cluster_sections(master) -> Collected:
    """Pod logs and kubectl views, from inside the master."""
    _, problem = run(master, Command(("test", "-s", ADMIN_CONF)))
    if problem:
        return Collected(problems=[f"{master.name}: no {ADMIN_CONF} (kubeadm init did not "
                                   "finish): pod logs and kubectl sections are missing"])
    got = Collected()
    listing, problem = run(master, kubectl("get", "pods", "--all-namespaces", "-o", "json"))
    try:
        pods = [] if problem else pod_containers(listing)
    except ValueError as exc:
        pods, problem = [], f"{master.name}: kubectl get pods printed no JSON ({exc})"
    got.problems += [problem] if problem else []
    with ThreadPoolExecutor(max_workers=POD_LOG_WORKERS) as pool:
        for part in pool.map(lambda row: section(
                master, f"pod-{row[0]}-{row[1]}-{row[2]}--{row[3]}.log",
                [kubectl("logs", "-n", row[1], "-c", row[3], row[2])]), pods):
            got.add(part)
    for name, args in (("kubectl-all.txt", ("get", "all", "--all-namespaces", "-o", "wide")),
                       ("describe-all.txt", ("describe", "all", "--all-namespaces")),
                       ("nodes.txt", ("get", "nodes", "-o", "wide")),
                       ("events.txt", ("get", "events", "--all-namespaces", "-o", "wide"))):
        got.add(section(master, name, [kubectl(*args)]))
    return got


def node_containers(ctx: ActionContext, running_only: bool = True) -> list:
    """The cluster's nodes by label: master first, then workers in plan order (kube-node-2
    before kube-node-10), then anything else by name."""
    found = nodes.node_containers(ctx.client, ctx.plan.cluster_key)
    order = {n.name: i for i, n in enumerate(ctx.plan.nodes)}
    found = [c for c in found if c.status == "running" or not running_only]
    return sorted(found, key=lambda c: (c.labels.get(ROLE_LABEL) != "master",
                                        order.get(c.name, len(order)), c.name))


def collect(ctx: ActionContext, containers: Optional[list] = None) -> Collected:
    """Every section, redacted, in a stable order; nodes are asked concurrently."""
    try:
        running = node_containers(ctx) if containers is None else containers
    except EngineUnreachable:
        raise  # no engine, no dump: an error (exit 1), not an empty dump and exit 0
    except DindError as exc:
        return Collected(problems=[exc.message])
    if not running:
        return Collected(problems=[f"cluster '{ctx.plan.cluster_key}' has no running node"])
    master = next((c for c in running if c.labels.get(ROLE_LABEL) == "master"), None)
    with ThreadPoolExecutor(max_workers=len(running) + 1) as pool:
        futures = [pool.submit(node_sections, c) for c in running]
        if master is not None:
            futures.append(pool.submit(cluster_sections, master))
        got = Collected()
        for future in futures:
            got.add(future.result())
    if master is None:
        got.problems.append("no running master: pod logs and kubectl sections are missing")
    got.add(balancer_sections(ctx))
    got.sections = [(name, redact(content)) for name, content in got.sections]
    return got


def balancer_sections(ctx: ActionContext) -> Collected:
    """An HA control plane's haproxy: the configuration it runs and its log (which servers are up)."""
    from dind_cluster.backend.balancer import config_and_logs

    got = Collected()
    try:
        lb = nodes.balancer_container(ctx.client, ctx.plan.cluster_key)
        if lb is not None and lb.status == "running":
            config, logs = config_and_logs(lb)
            got.sections.append((f"haproxy-{lb.name}.txt", config + b"\n--- log ---\n" + logs))
    except DindError as exc:
        got.problems.append(exc.message)
    return got


# --- the three commands ----------------------------------------------------------------------

def render_dump(sections: list) -> bytes:
    parts = [HEADER]
    for name, content in sections:
        parts += [dump.section_header(name).encode() + b"\n", content]
    return b"".join(parts)


def write_dump(ctx: ActionContext, out: BinaryIO) -> list:
    """`dump`: the sections on `out`; returns the problems for stderr."""
    with ctx.progress.step(f"Collecting the state of cluster '{ctx.plan.cluster_key}'"):
        got = collect(ctx)
    out.write(render_dump(got.sections))
    out.flush()
    return got.problems


def write_dump64(ctx: ActionContext, out: TextIO) -> list:
    """`dump64`: the dump as an LZMA+base64 blob for CI logs (compressed here, not in a node)."""
    buffer = io.BytesIO()
    problems = write_dump(ctx, buffer)
    out.write(dump.encode_dump64(buffer.getvalue()))
    out.flush()
    return problems


def export_logs(ctx: ActionContext, directory: Path) -> list:
    """`export-logs DIR`: the dump's sections as files in DIR, plus per node (running or not)
    DIR/<node>/var/log and DIR/<node>/inspect.json, and DIR/docker-info.json."""
    directory = Path(directory)
    with ctx.progress.step(f"Exporting the logs of cluster '{ctx.plan.cluster_key}' "
                           f"to {directory}"), private_files():
        every = node_containers(ctx, running_only=False)
        got = collect(ctx, [c for c in every if c.status == "running"])
        lb = nodes.balancer_container(ctx.client, ctx.plan.cluster_key)
        every += [lb] if lb is not None else []   # its inspect data and /var/log too
        dump.write_split_dump(got.sections, directory)
        with ThreadPoolExecutor(max_workers=max(1, len(every))) as pool:
            for problems in pool.map(lambda c: export_node(c, directory / c.name), every):
                got.problems += problems
        with docker_errors("reading the Docker engine's info"):
            info = ctx.client.info()
        _write_json(directory / "docker-info.json", info)
    return got.problems


@contextlib.contextmanager
def private_files():
    """Logs hold hostnames, addresses and what redaction missed: files 0600, directories 0700."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def export_node(container, target: Path) -> list:
    if target.is_symlink():
        return [f"{container.name}: {target} is a symlink; nothing of the node is written through it"]
    try:
        target.mkdir(parents=True, exist_ok=True)
        with docker_errors(f"inspecting {container.name}"):
            container.reload()
        _write_json(target / "inspect.json", container.attrs)
        with docker_errors(f"copying /var/log out of {container.name}"), \
                tempfile.TemporaryFile() as spool:
            stream, _ = container.get_archive("/var/log")
            for chunk in stream:
                spool.write(chunk)
            spool.seek(0)
            extract_tree(spool, target / "var")
        journal, problem = run(container, JOURNAL)
        dump.write_file(target / "journal.txt", redact(journal))
    except (DindError, OSError, tarfile.TarError) as exc:
        return [f"{container.name}: {getattr(exc, 'message', None) or exc}"]
    return [problem] if problem else []


# The binary journal files can't be redacted: the whole journal goes out as redacted text instead.
JOURNAL = Command(("journalctl", "--no-pager", "-o", "short-iso"))


def _write_json(path: Path, data) -> None:
    dump.write_file(path, (redact_text(json.dumps(data, indent=2, sort_keys=True, default=str)) + "\n").encode())


def extract_tree(fileobj, dest: Path) -> None:
    """Regular files and directories of a tar under `dest` (links, devices and names that would
    leave `dest` are skipped); text files are redacted, binary ones (journal files) skipped, as
    their secrets can't be redacted (export_node writes the journal as text). A `dest` that is a
    symlink is refused: everything would land where it points."""
    if dest.is_symlink():
        raise DindError(f"{dest} is a symlink; nothing is written through it")
    root = dest.resolve()
    with tarfile.open(fileobj=fileobj, mode="r:") as tar:
        for member in tar:
            path = (root / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not path.is_relative_to(root):
                continue
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            with tar.extractfile(member) as src:
                head = src.read(8192)
                if b"\0" in head:
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(redact(head + src.read()))
