"""Two lifecycle commands on one cluster at once: the second says what the first is doing and
touches nothing. Real processes; the lock is the kernel's (flock), so a killed holder frees it."""
import os
import subprocess
import sys
import time

import pytest

HOLDER = """
import sys, time
from dind_cluster.actions.cluster import exclusive
from dind_cluster.actions.context import ActionContext
from dind_cluster.checks import validated_plan
from dind_cluster.ui import Progress
ctx = ActionContext(plan=validated_plan({"CLUSTER_ID": "71"}), values={}, environ={"HOME": sys.argv[1]},
                    progress=Progress(quiet=True))
exclusive("created")(lambda ctx: (print("held", flush=True), time.sleep(60)))(ctx)
"""


@pytest.fixture
def holder(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def cli(tmp_path, *args, cluster_id="71"):
    env = {**os.environ, "HOME": str(tmp_path), "EMBEDDED_CONFIG": "y", "CLUSTER_ID": cluster_id,
           "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    return subprocess.run([sys.executable, "-c", "from dind_cluster.cli import main; main()", "-q", *args],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("command", ["up", "clean"])
def test_a_second_command_says_the_cluster_is_being_created(holder, tmp_path, command):
    result = cli(tmp_path, command)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"ERROR: cluster dind-cluster-71 is being created by another dind-cluster (process {holder.pid})")


def test_another_cluster_is_not_held_up(holder, tmp_path):
    result = cli(tmp_path, "up", cluster_id="72")
    assert "being created" not in result.stderr
    assert "couldn't connect to the Docker engine" in result.stderr  # it went on to the engine


def test_a_killed_holder_frees_the_cluster(holder, tmp_path):
    holder.kill()
    holder.wait()
    result = cli(tmp_path, "up")
    assert "being created" not in result.stderr
    assert "couldn't connect to the Docker engine" in result.stderr
