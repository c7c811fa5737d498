"""The whole tool through its command line, on the real engine, with the stand-in Kubernetes binaries.

`up` must end with the host's real kubectl listing every node through the published port and the
merged kubeconfig; pods (network namespaces attached by the real CNI plugins with each node's own
configuration) on different nodes reach each other; down/up keeps state; clean leaves nothing.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dind_cluster.backend.containers import BOOT_REPORT, BOOT_WAIT_SLICE, exec_in
import clusters
from clusters import (cli, free_cluster_id, kubectl as kubectl_in, owned, ping_between_test_pods,
                      remove_cluster, split_dump64_both_ways)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster_env(engine, tmp_path_factory):
    """Settings for a 3-node IPv4 cluster of this module's own (a free CLUSTER_ID)."""
    env = clusters.cluster_env(tmp_path_factory.mktemp("home"), CLUSTER_ID=free_cluster_id(engine, 150, 199),
                               NUM_NODES="2")
    env["_KEY"] = f"cluster-{env['CLUSTER_ID']}"
    yield env
    remove_cluster(engine, env["_KEY"])


@pytest.fixture(scope="module")
def verbose_up(engine, cluster_env):
    """`-v up` of the module's cluster: (its stderr, the engine's container events while it ran)."""
    since = int(time.time()) - 1
    proc = cli(cluster_env, "-v", "up")
    return proc.stderr, list(engine.events(since=since, until=int(time.time()) + 1, decode=True,
                                           filters={"type": "container"}))


@pytest.fixture(scope="module")
def up_events(verbose_up):
    return verbose_up[1]


@pytest.fixture(scope="module")
def cluster(up_events, cluster_env):
    return cluster_env


def kubectl(env, *args):
    return kubectl_in(env, f"dind-cluster-{env['CLUSTER_ID']}", *args)


def node_names(env):
    suffix = f"-cluster-{env['CLUSTER_ID']}"
    return [f"kube-master{suffix}", f"kube-node-1{suffix}", f"kube-node-2{suffix}"]


def test_up_ends_with_the_host_kubectl_listing_every_node(cluster):
    result = kubectl(cluster, "get", "nodes", "-o", "json")
    assert result.returncode == 0, result.stderr
    names = sorted(item["metadata"]["name"] for item in json.loads(result.stdout)["items"])
    assert names == sorted(node_names(cluster))
    config = Path(cluster["KUBECONFIG"])
    assert oct(config.stat().st_mode & 0o777) == "0o600"


def test_workers_join_with_the_token_kubeadm_init_printed(engine, cluster):
    """No `kubeadm token create` round trip before the joins: init's own join command is used."""
    master, *workers = (engine.containers.get(name) for name in node_names(cluster))
    _, calls = exec_in(master, ["cat", "/var/log/standin/calls.log"])
    assert " init " in calls and " token create" not in calls
    for worker in workers:
        _, join_config = exec_in(worker, ["cat", "/etc/kubeadm/join.yaml"])
        token = next(line.split('"')[1] for line in join_config.splitlines() if line.strip().startswith("token:"))
        _, tokens = exec_in(master, ["cat", "/var/lib/standin/tokens"])
        assert tokens.split()[0] == token   # the first token: the one init made


def test_up_puts_no_archive_into_a_node_and_boots_and_joins_a_worker_in_one_exec(engine, cluster, up_events):
    # Each put_archive or exec costs the engine 40-70 ms of CPU (bench/RESULTS.md), for every node
    # of the cluster: a node's files come with its container and those a command needs go in with
    # it, and the boot wait asks again only after a whole BOOT_WAIT_SLICE went by without the boot
    # ending (a slow, loaded host).
    def events(name):
        return [e for e in up_events if e["Actor"]["Attributes"].get("name") == name]
    for name in node_names(cluster):
        assert "extract-to-dir" not in [e["Action"] for e in events(name)], name
    # A worker boots and joins in one exec: its boot report, then (once the boot is over) kubeadm
    # join in the same process; an exec that ends without joining must have waited a whole slice.
    for worker in node_names(cluster)[1:]:
        ended = {e["Actor"]["Attributes"]["execID"]: e["timeNano"] for e in events(worker) if e["Action"] == "exec_die"}
        execs = [(e["Action"], (ended[e["Actor"]["Attributes"]["execID"]] - e["timeNano"]) / 1e9)
                 for e in events(worker) if e["Action"].startswith("exec_start:")]
        assert execs and all(BOOT_REPORT in cmd and " kubeadm join " in cmd for cmd, _ in execs), execs
        assert all(took >= BOOT_WAIT_SLICE - 1 for _, took in execs[:-1]), execs
        _, calls = exec_in(engine.containers.get(worker), ["cat", "/var/log/standin/calls.log"])
        assert [line.split()[2] for line in calls.splitlines() if line.split()[1] == "kubeadm"] == ["join"], calls


def test_verbose_up_shows_a_workers_join_once_as_the_boot_report_that_runs_it(cluster, verbose_up):
    shown = [line for line in verbose_up[0].splitlines() if "$ " in line and "kubeadm join" in line]
    worker = node_names(cluster)[1]
    mine = [line for line in shown if line.startswith(f"{worker}$ ")]
    assert len(mine) == 1, shown
    assert mine[0].startswith(f"{worker}$ {BOOT_REPORT} ") and mine[0].endswith(" -- kubeadm join --config=/etc/kubeadm/join.yaml")


def test_a_node_image_of_an_older_dind_cluster_is_booted_then_joined(engine, cluster, tmp_path):
    """Its boot report can't run kubeadm join (the image lacks NODE_FILES_LABEL): a worker is
    waited for first and joined by an exec of its own, its files put in as an archive."""
    from dind_cluster.images import NODE_FILES_LABEL

    holder = engine.containers.create(engine.containers.get(node_names(cluster)[0]).image.id)
    older = holder.commit(repository="dind-cluster-test-older", tag=cluster["CLUSTER_ID"],
                          changes=[f"LABEL {NODE_FILES_LABEL}=no"])
    holder.remove()
    env = clusters.cluster_env(tmp_path, CLUSTER_ID=free_cluster_id(engine, 150, 199), NUM_NODES="1",
                               DIND_IMAGE=older.id, SKIP_SNAPSHOT="y")
    worker = f"kube-node-1-cluster-{env['CLUSTER_ID']}"
    since = int(time.time()) - 1
    try:
        cli(env, "up")
        events = engine.events(since=since, until=int(time.time()) + 1, decode=True,
                               filters={"type": "container", "container": worker})
        actions = [e["Action"] for e in events]
        execs = [a for a in actions if a.startswith("exec_start:")]
        assert "extract-to-dir" in actions and execs[-1].endswith(" kubeadm join --config=/etc/kubeadm/join.yaml")
        assert execs[:-1] and all(BOOT_REPORT in e and "kubeadm" not in e for e in execs[:-1]), execs
    finally:
        remove_cluster(engine, f"cluster-{env['CLUSTER_ID']}")
        engine.images.remove(older.id, force=True)


def test_workers_booted_at_a_low_cpu_weight_run_at_the_default_one_after_up(engine, cluster):
    for name in node_names(cluster):
        assert engine.containers.get(name).attrs["HostConfig"]["CpuShares"] in (0, 1024), name


def test_ups_first_snapshot_holds_every_node_as_it_joined(engine, cluster):
    """Workers are committed while the masters become Ready: their snapshot must hold the join."""
    import io
    import tarfile

    for name in node_names(cluster):
        image = engine.images.get(f"dind-cluster-snapshot:{name}")
        container = engine.containers.create(image.id, entrypoint=["true"], command=[])
        try:
            stream, _ = container.get_archive("/etc/kubernetes")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                names = tar.getnames()
        finally:
            container.remove(v=True)
        joined = "kubernetes/admin.conf" if "master" in name else "kubernetes/kubelet.conf"
        assert joined in names, (name, names)


def test_each_nodes_recorded_pod_cidr_is_its_cni_configs_or_none(engine, cluster):
    # bridge/ptp: the plan's per-node ranges are in the CNI config; the controller manager must not
    # record others in spec.podCIDR (the stand-in allocates as the controller manager would if let)
    items = json.loads(kubectl(cluster, "get", "nodes", "-o", "json").stdout)["items"]
    for item in items:
        _, text = exec_in(engine.containers.get(item["metadata"]["name"]), ["cat", "/etc/cni/net.d/10-dindnet.conflist"])
        subnets = [r[0]["subnet"] for r in json.loads(text)["plugins"][0]["ipam"]["ranges"]]
        assert item["spec"].get("podCIDRs", subnets) == subnets, item["metadata"]["name"]
    assert all("podCIDR" not in item["spec"] for item in items)


def test_host_kubectl_1_37_waits_for_the_nodes_and_switches_contexts(cluster):
    context = f"dind-cluster-{cluster['CLUSTER_ID']}"
    waited = kubectl(cluster, "wait", "--for=condition=Ready", "node", "--all", "--timeout=60s")
    assert waited.returncode == 0 and waited.stdout.count("condition met") == 3, waited.stderr
    assert kubectl(cluster, "config", "use-context", context).returncode == 0
    assert kubectl(cluster, "config", "current-context").stdout.strip() == context
    version = kubectl(cluster, "version")
    assert "Client Version: v1.37" in version.stdout and "skew" not in version.stderr, version.stdout + version.stderr


def test_pods_on_different_nodes_reach_each_other_through_the_real_cni_plugins(engine, cluster):
    ping_between_test_pods([engine.containers.get(name) for name in node_names(cluster)])


def test_second_up_of_a_running_cluster_says_so_and_changes_nothing(engine, cluster):
    before = sorted(c.id for c in owned(engine, cluster["_KEY"])[0])
    result = cli(cluster, "up")
    assert "already up" in result.stderr
    assert sorted(c.id for c in owned(engine, cluster["_KEY"])[0]) == before


def test_apiserver_port_matches_the_kubeconfig(cluster):
    port = cli(cluster, "apiserver-port").stdout.strip()
    assert port.isdigit() and int(port) > 0
    assert f"127.0.0.1:{port}" in Path(cluster["KUBECONFIG"]).read_text()


def test_down_keeps_state_and_up_restores_it_without_kubeadm(engine, cluster):
    master = engine.containers.get(node_names(cluster)[0])
    exec_in(master, ["sh", "-c", "echo kept > /etc/kubernetes/marker && echo kept > /var/lib/marker"])
    cli(cluster, "down")
    containers, volumes, networks = owned(engine, cluster["_KEY"])
    assert [c for c in containers if c.labels.get("dind-cluster.io/role") in ("master", "worker")] == []
    assert len(volumes) == 3 and len(networks) == 1
    result = cli(cluster, "up")
    assert "Restoring" in result.stderr and "kubeadm init" not in result.stderr
    master = engine.containers.get(node_names(cluster)[0])
    _, out = exec_in(master, ["cat", "/etc/kubernetes/marker", "/var/lib/marker"])
    assert out.split() == ["kept", "kept"]
    listed = kubectl(cluster, "get", "nodes", "-o", "name")
    assert listed.returncode == 0 and len(listed.stdout.split()) == 3, listed.stderr


def test_dump64_of_three_nodes_splits_alike_with_ours_and_the_originals_pipeline(cluster, tmp_path):
    files = split_dump64_both_ways(cluster, tmp_path)
    for node in node_names(cluster):
        assert {f"psaux-{node}.txt", f"ip-a-{node}.txt", f"ip-r-{node}.txt"} <= set(files)
    assert b"kube-node-2" in files["nodes.txt"]


def test_export_logs_writes_sections_var_log_and_inspect_per_node(cluster, tmp_path):
    target = tmp_path / "logs"
    cli(cluster, "export-logs", str(target))
    assert (target / "docker-info.json").is_file() and (target / "nodes.txt").is_file()
    for node in node_names(cluster):
        assert (target / f"psaux-{node}.txt").is_file()
        assert json.loads((target / node / "inspect.json").read_text())["Name"].lstrip("/") == node
        assert (target / node / "var" / "log").is_dir()


def test_pause_and_unpause(engine, cluster):
    cli(cluster, "pause")
    assert {engine.containers.get(n).status for n in node_names(cluster)} == {"paused"}
    cli(cluster, "unpause")
    assert {engine.containers.get(n).status for n in node_names(cluster)} == {"running"}


def test_clean_removes_everything_and_the_kubeconfig_entry(engine, cluster):
    cli(cluster, "clean")
    assert owned(engine, cluster["_KEY"]) == ([], [], [])
    assert f"dind-cluster-{cluster['CLUSTER_ID']}" not in Path(cluster["KUBECONFIG"]).read_text()
    cli(cluster, "clean")  # idempotent


def test_bad_value_fails_before_anything_is_created(engine, cluster_env):
    env = {**cluster_env, "POD_NETWORK_CIDR": "10.244.0.0/20"}
    result = cli(env, "up", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: POD_NETWORK_CIDR: ")
    assert owned(engine, cluster_env["_KEY"]) == ([], [], [])
