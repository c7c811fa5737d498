"""dump, dump64 and export-logs against real node containers (systemd, containerd) on the engine.

The test node image has no kubectl: the master first shows what a cluster that failed before
`kubeadm init` dumps; then a stand-in kubectl and admin.conf are put into it to fill the pod and
kubectl sections. Secrets are planted in `ps auxww` (a worker process with `--token`) and in a pod
log (a PEM private key, a bootstrap token, client-key-data), and must not reach any output.
"""
from __future__ import annotations

import io
import json
import os
import subprocess

import pytest

from dind_cluster import dump
from dind_cluster.actions.context import ActionContext
from dind_cluster.actions.diagnostics import export_logs, write_dump, write_dump64
from dind_cluster.backend.containers import exec_in, put_files, wait_for_nodes
from dind_cluster.backend.network import ensure_network
from dind_cluster.backend.nodes import create_nodes
from dind_cluster.backend.runmode import detect_run_mode
from dind_cluster.ui import Progress

pytestmark = pytest.mark.docker

TOKEN = "abcdef.0123456789abcdef"
PEM_BODY = "MIIEowIBAAKCAQEAtestkeymaterialAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
KEY_DATA = "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVB"
SECRETS = (TOKEN, "0123456789abcdef", PEM_BODY, KEY_DATA)
POD_LOG = (f"starting etcd\n-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n"
           f"-----END RSA PRIVATE KEY-----\njoin with {TOKEN}\nclient-key-data: {KEY_DATA}\n"
           "etcd ready\n")
PODS = {"items": [
    {"metadata": {"namespace": "kube-system", "name": "etcd-m"},
     "spec": {"nodeName": "m", "containers": [{"name": "etcd"}]}},
    {"metadata": {"namespace": "default", "name": "pending"},
     "spec": {"containers": [{"name": "app"}]}}]}
# Answers the command lines diagnostics uses, like the real kubectl would.
FAKE_KUBECTL = """#!/bin/sh
shift 2  # --kubeconfig=… --request-timeout=…
case "$1 $2" in
  "get pods") cat /etc/fake-kube/pods.json ;;
  "get nodes") echo "NAME STATUS"; echo "m Ready" ;;
  "get all") echo "NAMESPACE NAME READY"; echo "kube-system pod/etcd-m 1/1" ;;
  "get events") echo "LAST SEEN TYPE REASON" ;;
  "describe all") echo "Name: etcd-m" ;;
  logs*) [ "$5" = etcd ] && cat /etc/fake-kube/etcd.log || { echo "no logs for $*" >&2; exit 1; } ;;
esac
"""
DINDNET_UNIT = "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo dindnet-ran\n"
ORIGINAL_SPLIT_DUMP64 = (
    "set -o pipefail; sed -n '/^%%% start-base64 %%%$/,/^%%% end-base64 %%%$/p' | sed '1d;$d' | "
    "base64 -d | lzma -dc | { mkdir -p cluster-dump && cd cluster-dump && "
    "awk '!/^@@@ .* @@@$/{print >out}; /^@@@ .* @@@$/{out=$2}' out=/dev/null; }")


@pytest.fixture(scope="module")
def cluster(engine, module_scope, node_image):
    plan = module_scope.plan(workers=1)
    ensure_network(engine, plan)
    mode = detect_run_mode(engine, node_image, plan.labels)
    master, worker = create_nodes(engine, plan, node_image, mode)
    wait_for_nodes([master, worker], timeout=90)
    worker.exec_run(["sh", "-c", f"sleep 1000; : --token {TOKEN}"], detach=True)
    put_files(master, {"/etc/systemd/system/dindnet.service": DINDNET_UNIT})
    exec_in(master, ["sh", "-c", "systemctl daemon-reload && systemctl start dindnet.service"])
    ctx = ActionContext(plan=plan, values={}, environ=dict(os.environ),
                        progress=Progress(quiet=True), _client=engine)
    return ctx, master, worker


@pytest.fixture
def kubectl_in_master(cluster):
    _, master, _ = cluster
    put_files(master, {"/etc/kubernetes/admin.conf": "apiVersion: v1\nkind: Config\n",
                       "/etc/fake-kube/pods.json": json.dumps(PODS),
                       "/etc/fake-kube/etcd.log": POD_LOG})
    put_files(master, {"/usr/local/bin/kubectl": FAKE_KUBECTL}, mode=0o755)
    yield
    exec_in(master, ["rm", "-rf", "/usr/local/bin/kubectl", "/etc/kubernetes/admin.conf",
                     "/etc/fake-kube"])


def dump_of(ctx) -> tuple[bytes, list]:
    out = io.BytesIO()
    problems = write_dump(ctx, out)
    return out.getvalue(), problems


def sections_of(data: bytes) -> dict:
    return dump.merge_sections(dump.split_sections(data))


def test_half_made_cluster_dumps_node_sections_and_names_what_is_missing(cluster):
    ctx, master, worker = cluster
    data, problems = dump_of(ctx)
    assert data.startswith(b"*** Dumping cluster state ***\n@@@ service-" + master.name.encode())
    files = sections_of(data)
    for node in (master.name, worker.name):
        for name in (f"service-{node}-containerd.service.log", f"psaux-{node}.txt",
                     f"crictl-ps-a-{node}.txt", f"ip-a-{node}.txt", f"ip-r-{node}.txt"):
            assert name in files, name
        assert b"inet " in files[f"ip-a-{node}.txt"]
    assert b"dindnet-ran" in files[f"service-{master.name}-dindnet.service.log"]
    assert b"containerd.service" in files[f"service-{master.name}-containerd.service.log"]
    assert f"{master.name}: no /etc/kubernetes/admin.conf" in " ".join(problems)
    assert not any(name.startswith("pod-") or name == "nodes.txt" for name in files)


def test_dump_keeps_master_then_worker_order(cluster):
    ctx, master, worker = cluster
    names = [name for name, _ in dump.split_sections(dump_of(ctx)[0])]
    assert names.index(f"ip-r-{master.name}.txt") < names.index(f"psaux-{worker.name}.txt")


def test_planted_secrets_are_redacted_and_the_text_around_them_stays(cluster, kubectl_in_master):
    ctx, master, worker = cluster
    data, problems = dump_of(ctx)
    for secret in SECRETS:
        assert secret.encode() not in data
    files = sections_of(data)
    assert b"--token [REDACTED]" in files[f"psaux-{worker.name}.txt"]
    log = files["pod-m-kube-system-etcd-m--etcd.log"]
    assert log.startswith(b"starting etcd\n-----BEGIN RSA PRIVATE KEY-----\n[REDACTED]\n")
    assert b"join with abcdef.[REDACTED]\n" in log and log.endswith(b"etcd ready\n")
    assert b"kube-system pod/etcd-m" in files["kubectl-all.txt"]
    assert b"m Ready" in files["nodes.txt"] and b"Name: etcd-m" in files["describe-all.txt"]
    # the unscheduled pod's log fails: one problem line, the rest is there
    assert [p for p in problems if "pending" in p] == [
        f"{master.name}: 'kubectl --kubeconfig=/etc/kubernetes/admin.conf --request-timeout=30s "
        "logs -n default -c app pending' exited with 1: no logs for logs -n default -c app pending"]


def test_dump64_splits_into_the_same_files_and_the_originals_pipeline_reads_it(
        cluster, kubectl_in_master, tmp_path):
    ctx, master, _ = cluster
    plain = sections_of(dump_of(ctx)[0])
    text = io.StringIO()
    write_dump64(ctx, text)
    log = f"+ dind-cluster dump64\n{text.getvalue()}Exited with code 1\n".encode()
    ours = {p.name: p.read_bytes() for p in dump.split_dump64(io.BytesIO(log), tmp_path / "ours")}
    assert set(ours) == set(plain)
    for stable in (f"ip-r-{master.name}.txt", "pod-m-kube-system-etcd-m--etcd.log", "nodes.txt"):
        assert ours[stable] == plain[stable]
    subprocess.run(["bash", "-c", ORIGINAL_SPLIT_DUMP64], input=log, cwd=tmp_path, check=True)
    theirs = {p.name: p.read_bytes() for p in (tmp_path / "cluster-dump").iterdir()}
    assert theirs == ours


def test_export_logs_writes_sections_var_log_inspect_and_engine_info(cluster, tmp_path):
    ctx, master, worker = cluster
    problems = export_logs(ctx, tmp_path / "logs")
    root = tmp_path / "logs"
    assert (root / f"psaux-{worker.name}.txt").is_file()
    assert (root / f"service-{master.name}-dindnet.service.log").read_bytes().count(b"dindnet-ran")
    for node in (master, worker):
        inspect = json.loads((root / node.name / "inspect.json").read_text())
        assert inspect["Name"] == f"/{node.name}"
        assert (root / node.name / "var" / "log").is_dir()
        assert any((root / node.name / "var" / "log").rglob("*"))
    assert "ServerVersion" in json.loads((root / "docker-info.json").read_text())
    assert (root / master.name / "journal.txt").stat().st_size > 0      # the journal as redacted text
    assert not any((root / master.name / "var").rglob("*.journal"))     # binary: can't be redacted
    modes = {p.stat().st_mode & 0o077 for p in root.rglob("*")}
    assert modes == {0}, "exported logs must be private to the user"
    assert not any(worker.name in p for p in problems)


def test_a_command_printing_more_than_the_cap_keeps_its_last_part_and_says_so(cluster, monkeypatch):
    # A node's journal after weeks (journald keeps up to 4 GiB) must not be held whole in memory
    from dind_cluster.actions import diagnostics

    _, _, worker = cluster
    monkeypatch.setattr(diagnostics, "COLLECT_MAX_BYTES", 1 << 20, raising=False)
    out, problem = diagnostics.run(worker, diagnostics.Command(("seq", "1", "3000000")))   # ~21 MB
    assert len(out) <= (1 << 20) + 200
    lines = out.decode().splitlines()
    assert lines[-1] == "3000000" and lines[0].startswith("[dind-cluster: the first ")
    assert int(lines[1]) + len(lines) - 2 == 3000000    # whole lines, none lost after the cut
    assert problem is not None and "seq 1 3000000" in problem and "last 1 MiB" in problem
