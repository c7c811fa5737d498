"""Ctrl-C during `up` leaves nothing (or a cluster a new `up` completes); a manifest that can't be applied
is an error naming the variable to override; the ptp plugin carries pod traffic between nodes too."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import docker.types
import pytest

from clusters import cli, cluster_env, free_cluster_id, owned, ping_between_test_pods, remove_cluster

pytestmark = pytest.mark.docker


@pytest.fixture
def env(engine, tmp_path):
    env = cluster_env(tmp_path, CLUSTER_ID=free_cluster_id(engine, 100, 119), DIND_WAIT_TIMEOUT="60")
    env["_KEY"] = f"cluster-{env['CLUSTER_ID']}"
    yield env
    remove_cluster(engine, env["_KEY"])


def test_ctrl_c_during_up_leaves_nothing_and_the_next_up_works(engine, env):
    proc = subprocess.Popen([sys.executable, "-m", "dind_cluster", "up"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not owned(engine, env["_KEY"])[0] and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)  # interrupt once the first node container exists
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    containers, volumes, _ = owned(engine, env["_KEY"])
    assert (containers, volumes) == ([], []), "an interrupted up left containers or volumes behind"
    cli(env, "up")
    assert len(owned(engine, env["_KEY"])[0]) == 2


def test_manifest_that_cannot_be_applied_names_the_variable_and_leaves_nothing(engine, env):
    bad = {**env, "CNI_PLUGIN": "flannel", "FLANNEL_MANIFEST_URL": "http://127.0.0.1:9/kube-flannel.yml"}
    result = cli(bad, "up", check=False)
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert error and error[0].startswith("ERROR: FLANNEL_MANIFEST_URL: ")
    assert owned(engine, env["_KEY"]) == ([], [], [])


def test_ptp_plugin_carries_pod_traffic_between_nodes(engine, env):
    cli({**env, "CNI_PLUGIN": "ptp"}, "up")
    suffix = f"-cluster-{env['CLUSTER_ID']}"
    ping_between_test_pods([engine.containers.get(f"kube-master{suffix}"),
                            engine.containers.get(f"kube-node-1{suffix}")])


def test_doctor_names_an_overlapping_network_with_its_fix_and_passes_without_it(engine, env, scope):
    subnet = json.loads(cli(env, "config", "--json").stdout)["network"]["subnets"][0]
    blocker = engine.networks.create(f"overlap-{scope.value}", labels=scope.labels,
                                     ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)]))
    try:
        result = cli(env, "doctor", check=False)
        assert result.returncode == 1
        assert subnet in result.stdout and blocker.name in result.stdout and "fix:" in result.stdout
    finally:
        blocker.remove()
    result = cli(env, "doctor", check=False)
    assert result.returncode == 0 and "no problems found" in result.stdout, result.stdout
    assert owned(engine, env["_KEY"]) == ([], [], [])   # doctor creates nothing
