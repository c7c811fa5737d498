"""Diagnostics without a cluster: the e2e binary lookup, download and command line with fake
binaries and a loopback server; the pure parts of dump collection (pod rows, rendering, tar
extraction); how command failures become problem lines (an autospec'd container)."""
from __future__ import annotations

import hashlib
import http.server
import io
import stat
import os
import tarfile
import threading
from pathlib import Path
from unittest.mock import create_autospec

import pytest
from docker.models.containers import Container, ExecResult

from dind_cluster import dump
from dind_cluster.actions import diagnostics as diag
from dind_cluster.actions.context import ActionContext
from dind_cluster.actions.e2e_run import (cache_dir, ensure_e2e_binaries, release_arch, run_e2e,
                                          tarball_url)
from dind_cluster.errors import DindError
from dind_cluster.plan import make_plan
from dind_cluster.ui import Progress

RECORDER = """#!/bin/sh
printf '%s\\n' "$@" > "$RECORD_DIR/{name}.argv"
pwd > "$RECORD_DIR/{name}.cwd"
printf '%s\\n' "$PATH" > "$RECORD_DIR/{name}.path"
exit {code}
"""


def fake_bin_dir(tmp_path: Path, code: int = 0, with_kubectl: bool = False) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    names = ("ginkgo", "e2e.test") + (("kubectl",) if with_kubectl else ())
    for name in names:
        (bin_dir / name).write_text(RECORDER.format(name=name, code=code))
        (bin_dir / name).chmod(0o755)
    return bin_dir


@pytest.fixture(autouse=True)
def published_port(monkeypatch):
    """The e2e tests here have no engine: the master's published port is given (32003)."""
    import dind_cluster.actions.e2e_run as e2e_run
    monkeypatch.setattr(e2e_run, "master_port", lambda client, plan: 32003)


def e2e_context(tmp_path: Path, **values: str) -> ActionContext:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n"
                          "clusters: [{name: dind-cluster-3, cluster: {server: 'https://127.0.0.1:32003'}}]\n"
                          "contexts: [{name: dind-cluster-3, context: {cluster: dind-cluster-3, user: u}}]\n")
    environ = {"HOME": str(tmp_path / "home"), "KUBECONFIG": str(kubeconfig),
               "PATH": os.environ["PATH"], "RECORD_DIR": str(tmp_path)}
    return ActionContext(plan=make_plan({"CLUSTER_ID": "3"}), values=values, environ=environ,
                         progress=Progress(quiet=True), _client=object())


def recorded(tmp_path: Path, name: str, what: str = "argv") -> list:
    return (tmp_path / f"{name}.{what}").read_text().splitlines()


# --- e2e: binaries from DIND_K8S_BIN_DIR, command line, exit code -------------------------------

def test_run_e2e_runs_ginkgo_from_bin_dir_and_returns_the_suites_exit_code(tmp_path):
    bin_dir = fake_bin_dir(tmp_path, code=7)
    reports = tmp_path / "reports"
    ctx = e2e_context(tmp_path, DIND_K8S_BIN_DIR=str(bin_dir), E2E_REPORT_DIR=str(reports))
    assert run_e2e(ctx, serial=False, focus=None, skip=None) == 7
    assert recorded(tmp_path, "ginkgo") == [
        "--nodes=25", "--no-color", str(bin_dir / "e2e.test"), "--",
        f"--kubeconfig={tmp_path / 'kubeconfig'}", "--context=dind-cluster-3",
        "--provider=skeleton", r"--ginkgo.focus=\[Conformance\]", r"--ginkgo.skip=\[Serial\]",
        f"--report-dir={reports}"]
    assert reports.is_dir() and recorded(tmp_path, "ginkgo", "cwd") == [str(reports)]


def test_serial_e2e_with_user_focus_runs_without_parallel_nodes_or_skip(tmp_path):
    ctx = e2e_context(tmp_path, DIND_K8S_BIN_DIR=str(fake_bin_dir(tmp_path)))
    assert run_e2e(ctx, serial=True, focus="existing RC", skip=None) == 0
    argv = recorded(tmp_path, "ginkgo")
    assert r"--ginkgo.focus=existing\s+RC" in argv
    assert not [a for a in argv if a.startswith(("--nodes", "--ginkgo.skip", "--report-dir"))]


def test_no_parallel_e2e_drops_ginkgo_nodes(tmp_path):
    ctx = e2e_context(tmp_path, DIND_K8S_BIN_DIR=str(fake_bin_dir(tmp_path)),
                      DIND_NO_PARALLEL_E2E="y")
    run_e2e(ctx, serial=False, focus=None, skip=None)
    assert not [a for a in recorded(tmp_path, "ginkgo") if a.startswith("--nodes")]


def test_kubectl_in_bin_dir_comes_first_on_the_suites_path(tmp_path):
    bin_dir = fake_bin_dir(tmp_path, with_kubectl=True)
    run_e2e(e2e_context(tmp_path, DIND_K8S_BIN_DIR=str(bin_dir)), False, None, None)
    assert recorded(tmp_path, "ginkgo", "path")[0].split(os.pathsep)[0] == str(bin_dir)


def test_missing_kubeconfig_is_an_error_before_the_suite_runs(tmp_path):
    ctx = e2e_context(tmp_path, DIND_K8S_BIN_DIR=str(fake_bin_dir(tmp_path)))
    Path(ctx.environ["KUBECONFIG"]).unlink()
    with pytest.raises(DindError, match="no kubeconfig"):
        run_e2e(ctx, False, None, None)
    assert not (tmp_path / "ginkgo.argv").exists()


# --- e2e: download, checksum, cache, offline ---------------------------------------------------

def test_tarball_url_and_arch_follow_dl_k8s_io_layout():
    assert tarball_url("v1.31.4", release_arch("x86_64")) == \
        "https://dl.k8s.io/v1.31.4/kubernetes-test-linux-amd64.tar.gz"
    assert release_arch("aarch64") == "arm64"
    with pytest.raises(DindError):
        release_arch("mips")


def make_tarball(members: dict, mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()



GOOD = make_tarball({"kubernetes/test/bin/ginkgo": b"GINKGO",
                     "kubernetes/test/bin/e2e.test": b"E2E",
                     "kubernetes/test/bin/other": b"x"})


@pytest.fixture
def release_server():
    """A loopback dl.k8s.io: {path: bytes}; records the paths asked for."""
    files, asked = {}, []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", files, asked
    server.shutdown()
    server.server_close()


def publish(files: dict, tarball: bytes, digest: str = "") -> None:
    path = "/v1.31.4/kubernetes-test-linux-amd64.tar.gz"
    files[path] = tarball
    files[path + ".sha512"] = (digest or hashlib.sha512(tarball).hexdigest()).encode() + b"\n"


def test_download_checks_sha512_caches_and_is_not_repeated(tmp_path, release_server):
    base, files, asked = release_server
    publish(files, GOOD)
    environ = {"HOME": str(tmp_path)}
    values = {"DIND_K8S_VERSION": "v1.31.4"}
    found = ensure_e2e_binaries(values, environ, base=base, machine="x86_64")
    target = cache_dir(environ, "v1.31.4", "amd64")
    assert found == {"ginkgo": target / "ginkgo", "e2e.test": target / "e2e.test"}
    assert target == tmp_path / ".cache" / "dind-cluster" / "e2e" / "v1.31.4-amd64"
    assert found["ginkgo"].read_bytes() == b"GINKGO" and os.access(found["e2e.test"], os.X_OK)
    asked_before = len(asked)
    assert ensure_e2e_binaries(values, environ, base=base, machine="x86_64") == found
    assert len(asked) == asked_before


def test_checksum_mismatch_is_an_error_and_caches_nothing(tmp_path, release_server):
    base, files, _ = release_server
    publish(files, GOOD, digest="0" * 128)
    with pytest.raises(DindError, match="sha512 .* doesn't match"):
        ensure_e2e_binaries({"DIND_K8S_VERSION": "v1.31.4"}, {"HOME": str(tmp_path)},
                            base=base, machine="x86_64")
    assert not list(cache_dir({"HOME": str(tmp_path)}, "v1.31.4", "amd64").glob("*"))


def test_tarball_without_e2e_test_is_an_error(tmp_path, release_server):
    base, files, _ = release_server
    publish(files, make_tarball({"kubernetes/test/bin/ginkgo": b"G"}))
    with pytest.raises(DindError, match="has no kubernetes/test/bin/e2e.test"):
        ensure_e2e_binaries({"DIND_K8S_VERSION": "v1.31.4"}, {"HOME": str(tmp_path)},
                            base=base, machine="x86_64")


def test_offline_without_binaries_names_dind_k8s_bin_dir(tmp_path, release_server):
    base, _, _ = release_server  # publishes nothing: every download is a 404
    incomplete = tmp_path / "bin"
    incomplete.mkdir()
    with pytest.raises(DindError) as err:
        ensure_e2e_binaries({"DIND_K8S_VERSION": "v1.31.4", "DIND_K8S_BIN_DIR": str(incomplete)},
                            {"HOME": str(tmp_path)}, base=base, machine="x86_64")
    assert "couldn't download" in err.value.message
    assert f"DIND_K8S_BIN_DIR ({incomplete})" in err.value.hint


# --- dump collection: pure parts -----------------------------------------------------------------

def test_pod_rows_cover_init_containers_and_unscheduled_pods():
    pods = b"""{"items": [
      {"metadata": {"namespace": "kube-system", "name": "coredns-1"},
       "spec": {"nodeName": "kube-master", "initContainers": [{"name": "init"}],
                "containers": [{"name": "coredns"}, {"name": "sidecar"}]}},
      {"metadata": {"namespace": "default", "name": "web"}, "spec": {"containers": [{"name": "w"}]}}
    ]}"""
    assert diag.pod_containers(pods) == [
        ("kube-master", "kube-system", "coredns-1", "init"),
        ("kube-master", "kube-system", "coredns-1", "coredns"),
        ("kube-master", "kube-system", "coredns-1", "sidecar"),
        ("unscheduled", "default", "web", "w")]


def test_rendered_dump_splits_back_into_its_sections():
    sections = [("psaux-a.txt", b"ps line\n"), ("empty.txt", b""), ("ip-a-a.txt", b"1: lo\n")]
    data = diag.render_dump(sections)
    assert data.startswith(b"*** Dumping cluster state ***\n@@@ psaux-a.txt @@@\n")
    assert dump.split_sections(data) == sections


@pytest.mark.parametrize("name, safe", [("service-n-kubelet.service.log",
                                         "service-n-kubelet.service.log"),
                                        ("a b/c", "a_b_c"), ("", "_")])
def test_section_names_lose_blanks_and_slashes(name, safe):
    assert diag.safe_name(name) == safe


def test_extract_tree_redacts_text_skips_binary_links_and_escapes(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("log/pods/x.log", b"join --token abcdef.0123456789abcdef\n"),
                           ("log/journal/system.journal",
                            b"LPKSHHRH\0--token abcdef.0123456789abcdef"),
                           ("../escape.txt", b"outside")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("log/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(link)
    buf.seek(0)
    diag.extract_tree(buf, tmp_path / "var")
    assert (tmp_path / "var/log/pods/x.log").read_bytes() == b"join --token [REDACTED]\n"
    assert not (tmp_path / "var/log/journal/system.journal").exists()  # can't be redacted: not copied
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "var/log/link").exists()


def test_exported_files_are_private(tmp_path):
    with diag.private_files():
        (tmp_path / "d").mkdir()
        diag.extract_tree(io.BytesIO(make_tarball({"log/x.log": b"token: abc\n"}, "w")), tmp_path / "d" / "var")
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "d/var/log/x.log").stat().st_mode) == 0o600


# --- dump collection: failures become problem lines ----------------------------------------------

@pytest.fixture(autouse=True)
def execs_answered_by_the_mock(monkeypatch):
    """The containers below say what their commands print through the SDK's exec_run (ExecResult
    with demux output); dump collection reads them through backend.containers.exec_demux_tail."""
    def exec_demux_tail(container, argv, limit):
        result = container.exec_run(argv, demux=True)
        out, err = result.output
        return result.exit_code, out or b"", err or b"", 0
    monkeypatch.setattr(diag, "exec_demux_tail", exec_demux_tail)


def node(results: dict) -> Container:
    """A container whose exec_run answers from `results` {argv[0]: ExecResult}."""
    container = create_autospec(Container, instance=True)
    container.name = "kube-node-1"
    container.exec_run.side_effect = lambda argv, **kw: results[argv[0]]
    return container


def test_missing_crictl_falls_back_to_ctr_without_a_problem():
    container = node({"crictl": ExecResult(126, (b"OCI runtime exec failed: no crictl", None)),
                      "ctr": ExecResult(0, (b"CONTAINER IMAGE RUNTIME\n", None))})
    got = diag.section(container, "crictl-ps-a-kube-node-1.txt", [
        diag.Command(("crictl", "ps", "-a"), fallback=diag.Command(("ctr", "containers", "ls")))])
    assert got.sections == [("crictl-ps-a-kube-node-1.txt", b"CONTAINER IMAGE RUNTIME\n")]
    assert got.problems == []


def test_failed_command_keeps_its_stdout_and_reports_its_last_stderr_line():
    container = node({"journalctl": ExecResult(1, (b"partial", b"warming up\nNo journal files\n"))})
    got = diag.section(container, "j.log", [diag.Command(("journalctl", "-u", "x"))])
    assert got.sections == [("j.log", b"partial\n")]
    assert got.problems == ["kube-node-1: 'journalctl -u x' exited with 1: No journal files"]


def test_node_without_systemd_still_gives_ps_and_ip_sections():
    container = node({"systemctl": ExecResult(1, (None, b"System has not been booted with "
                                                        b"systemd\n")),
                      "ps": ExecResult(0, (b"PID CMD\n", None)),
                      "ip": ExecResult(0, (b"1: lo\n", None)),
                      "crictl": ExecResult(127, (b"not found", None)),
                      "ctr": ExecResult(1, (None, b"ctr: failed to dial\n"))})
    got = diag.node_sections(container)
    assert [name for name, _ in got.sections] == [
        "psaux-kube-node-1.txt", "crictl-ps-a-kube-node-1.txt", "ip-a-kube-node-1.txt",
        "ip-r-kube-node-1.txt"]
    assert len(got.problems) == 2 and "not been booted with systemd" in got.problems[0]


# --- export-logs writes only inside its directory --------------------------------------------------

def exported_node() -> Container:
    container = create_autospec(Container, instance=True)
    container.name, container.attrs = "kube-node-1", {"Id": "abc"}
    container.get_archive.return_value = (iter([make_tarball({"log/x.log": b"x\n"}, "w")]), {})
    container.exec_run.return_value = ExecResult(0, (b"journal line\n", b""))
    return container


def test_export_node_replaces_symlinks_in_its_directory_instead_of_writing_through_them(tmp_path):
    # a shared or reused export directory may hold links planted where export-logs writes
    outside = tmp_path / "outside"
    outside.write_text("keep")
    target = tmp_path / "export" / "kube-node-1"
    target.mkdir(parents=True)
    for name in ("inspect.json", "journal.txt"):
        (target / name).symlink_to(outside)
    assert diag.export_node(exported_node(), target) == []
    assert outside.read_text() == "keep"
    assert not (target / "journal.txt").is_symlink() and (target / "journal.txt").read_text() == "journal line\n"
    assert '"Id": "abc"' in (target / "inspect.json").read_text()


def test_export_node_refuses_a_node_directory_that_is_a_symlink(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "kube-node-1").symlink_to(elsewhere)
    problems = diag.export_node(exported_node(), tmp_path / "export" / "kube-node-1")
    assert problems and "symlink" in problems[0]
    assert list(elsewhere.iterdir()) == []


def test_export_node_refuses_a_var_directory_that_is_a_symlink(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "export" / "kube-node-1"
    target.mkdir(parents=True)
    (target / "var").symlink_to(elsewhere)
    problems = diag.export_node(exported_node(), target)
    assert len(problems) == 1 and "var is a symlink" in problems[0]
    assert list(elsewhere.iterdir()) == []
