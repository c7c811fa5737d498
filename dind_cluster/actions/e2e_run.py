"""`e2e` and `e2e-serial`: find or fetch e2e.test and ginkgo, then run the suite on the host.

The binaries come from DIND_K8S_BIN_DIR when both are there (the offline way), else from
`kubernetes-test-linux-<arch>.tar.gz` of the cluster's DIND_K8S_VERSION on dl.k8s.io, checked
against the sha512 published next to it and kept under ~/.cache/dind-cluster/e2e/<version>-<arch>/.
The suite reaches the cluster through the host kubeconfig and the plan's context; E2E_REPORT_DIR
receives the junit reports; the command's exit code is the suite's.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Optional

from dind_cluster import host_kubectl, images, locks, paths
from dind_cluster.actions.context import ActionContext
from dind_cluster.download import open_url
from dind_cluster.e2e import e2e_command
from dind_cluster.errors import DindError
from dind_cluster.backend.nodes import master_port
from dind_cluster.kubeconfig import context_server, kubeconfig_path, server_url

DOWNLOAD_BASE = "https://dl.k8s.io"
BINARIES = ("ginkgo", "e2e.test")
MEMBER_DIR = "kubernetes/test/bin"
PARALLEL_NODES = 25  # hack/ginkgo-e2e.sh's default GINKGO_PARALLEL_NODES
Notify = Optional[Callable[[str], None]]


def release_arch(machine: Optional[str] = None) -> str:
    """The release architecture of this machine (or `machine`), as the node image uses it."""
    return images.release_arch((machine or platform.machine()).lower())


def tarball_url(version: str, arch: str, base: str = DOWNLOAD_BASE) -> str:
    return f"{base.rstrip('/')}/{version}/kubernetes-test-linux-{arch}.tar.gz"


def offline_hint(bin_dir: str = "") -> str:
    where = f" ({bin_dir})" if bin_dir else ""
    return ("put e2e.test and ginkgo (kubernetes/test/bin/ of "
            f"kubernetes-test-linux-<arch>.tar.gz) in DIND_K8S_BIN_DIR{where}")


def cache_dir(environ: Mapping[str, str], version: str, arch: str) -> Path:
    """XDG_CACHE_HOME (else ~/.cache) / dind-cluster / e2e / <version>-<arch>."""
    return paths.cache_dir(environ) / "e2e" / f"{version}-{arch}"


def binaries_in(directory: Optional[str]) -> Optional[dict]:
    """{name: path} when `directory` holds both binaries as executable files, else None."""
    if not directory:
        return None
    paths = {name: Path(directory).expanduser() / name for name in BINARIES}
    if all(p.is_file() and os.access(p, os.X_OK) for p in paths.values()):
        return paths
    return None


def ensure_e2e_binaries(values: Mapping[str, str], environ: Mapping[str, str], *,
                        base: str = DOWNLOAD_BASE, notify: Notify = None,
                        machine: Optional[str] = None) -> dict:
    """{"ginkgo": path, "e2e.test": path}: from DIND_K8S_BIN_DIR, the cache, or a download."""
    bin_dir = values.get("DIND_K8S_BIN_DIR") or ""
    found = binaries_in(bin_dir)
    if found:
        return found
    version = values.get("DIND_K8S_VERSION") or ""
    if not version:
        raise DindError("DIND_K8S_VERSION is not set: no e2e binaries to download",
                        offline_hint(bin_dir))
    version = version if version.startswith("v") else f"v{version}"
    arch = release_arch(machine)
    target = cache_dir(environ, version, arch)
    with locks.hold(target.parent / f".{target.name}.lock"):  # one download per artefact at a time
        if binaries_in(str(target)) is None:
            download_e2e_binaries(tarball_url(version, arch, base), target, bin_dir, notify)
    return binaries_in(str(target))


def download_e2e_binaries(url: str, target: Path, bin_dir: str = "", notify: Notify = None) -> None:
    """Fetch the test tarball, check its sha512, put ginkgo and e2e.test into `target`."""
    hint = offline_hint(bin_dir)
    expected = _published_sha512(url, hint)
    if notify:
        notify(f"Downloading {url}")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=target) as spool:
        digest = hashlib.sha512()
        with open_url(url, hint) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                spool.write(chunk)
        if digest.hexdigest() != expected:
            raise DindError(f"{url}: sha512 {digest.hexdigest()} doesn't match the published "
                            f"{expected}", hint)
        spool.seek(0)
        _extract_binaries(spool, target, url, hint)


def _published_sha512(url: str, hint: str) -> str:
    with open_url(f"{url}.sha512", hint) as response:
        words = response.read(4096).decode(errors="replace").split()
    digest = words[0].lower() if words else ""
    if len(digest) != 128 or any(ch not in "0123456789abcdef" for ch in digest):
        raise DindError(f"no sha512 digest in {url}.sha512", hint)
    return digest


def _extract_binaries(fileobj, target: Path, url: str, hint: str) -> None:
    """Each binary to a temp name then renamed, so a cache never holds half a file."""
    try:
        with tarfile.open(fileobj=fileobj, mode="r:gz") as tar:
            for name in BINARIES:
                try:
                    src = tar.extractfile(f"{MEMBER_DIR}/{name}")
                except KeyError:
                    src = None
                if src is None:
                    raise DindError(f"{url} has no {MEMBER_DIR}/{name}", hint)
                fd, partial = tempfile.mkstemp(dir=target, prefix=f".{name}.", suffix=".partial")
                with src, os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.chmod(partial, 0o755)
                os.replace(partial, target / name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DindError(f"{url}: not a readable tarball ({exc})", hint) from None


def suite_environment(environ: Mapping[str, str], bin_dir: str) -> dict:
    """The caller's environment; DIND_K8S_BIN_DIR first on PATH when it has kubectl (the suite
    runs `kubectl` for its kubectl tests), else the `kubectl` extra's when PATH has none."""
    env = dict(environ)
    first = None
    if bin_dir and (Path(bin_dir).expanduser() / "kubectl").is_file():
        first = Path(bin_dir).expanduser()
    elif not host_kubectl.on_path(environ) and host_kubectl.extra_kubectl():
        first = host_kubectl.extra_kubectl().parent
    if first:
        env["PATH"] = os.pathsep.join(p for p in (str(first), env.get("PATH", "")) if p)
    return env


def check_context(kubeconfig: Path, plan, port: Optional[int]) -> None:
    """The suite must test this cluster: the plan's context must lead to its published apiserver."""
    server = context_server(kubeconfig, plan.context)
    if server is None:
        raise DindError(f"the kubeconfig {kubeconfig} has no context {plan.context}", "run 'dind-cluster up' first")
    want = server_url(plan.apiserver_host, port) if port else None
    if server != want:
        raise DindError(f"context {plan.context} in {kubeconfig} leads to {server}, not to this cluster's "
                        f"apiserver ({want or 'not running'})",
                        "run 'dind-cluster up': it brings the cluster up and rewrites its context")


def run_e2e(ctx: ActionContext, serial: bool, focus: Optional[str], skip: Optional[str]) -> int:
    """Run the conformance suite (or its serial part) on the cluster; returns its exit code."""
    kubeconfig = kubeconfig_path(ctx.environ)
    if not kubeconfig.is_file():
        raise DindError(f"no kubeconfig at {kubeconfig}", "bring the cluster up first")
    check_context(kubeconfig, ctx.plan, master_port(ctx.client, ctx.plan))
    with ctx.progress.step("Finding e2e.test and ginkgo"):
        found = ensure_e2e_binaries(ctx.values, ctx.environ, notify=ctx.progress.line)
    report_dir = ctx.value("E2E_REPORT_DIR")
    if report_dir:
        report_dir = str(Path(report_dir).expanduser().resolve())
        Path(report_dir).mkdir(parents=True, exist_ok=True)
    argv = e2e_command(serial, focus, skip, ginkgo=str(found["ginkgo"]),
                       e2e_test=str(found["e2e.test"]), kubeconfig=str(kubeconfig),
                       context=ctx.plan.context, report_dir=report_dir or None,
                       parallel_nodes=PARALLEL_NODES, no_parallel=ctx.flag("DIND_NO_PARALLEL_E2E"),
                       no_color=not sys.stdout.isatty())
    ctx.progress.line(f"Running e2e tests with args: {shlex.join(argv[1:])}")
    env = suite_environment(ctx.environ, ctx.value("DIND_K8S_BIN_DIR"))
    try:
        return subprocess.run(argv, env=env, cwd=report_dir or None).returncode
    except OSError as exc:
        raise DindError(f"couldn't run {argv[0]}: {exc.strerror or exc}",
                        offline_hint(ctx.value("DIND_K8S_BIN_DIR"))) from None
