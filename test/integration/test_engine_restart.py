"""Nodes come back by themselves after the Docker engine restarts (restart policy), with the
published apiserver port, routes and DNS as before (docs/real-kubernetes.md, "restart policy").

Restarting the engine stops every container on it, so this runs only when the test command itself
started dockerd (build/ensure-docker.sh leaves DOCKERD_MARKER then; never for an engine it found
running), and never with DIND_TEST_NO_ENGINE_RESTART=1.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from dind_cluster.backend.containers import wait_for_nodes
from dind_cluster.backend.client import docker_client

from clusters import REPO, cli, cluster_env, free_cluster_id, remove_cluster
from test_ipv6_clusters import cluster_key, listed_nodes, node_containers, pods_ping_each_other

pytestmark = pytest.mark.docker
DOCKERD_MARKER = Path(os.environ.get("DIND_DOCKERD_MARKER", "/run/dind-cluster/dockerd-started-by-tests"))


def restart_allowed() -> str:
    """'' when this test may restart the engine, else why not."""
    if os.environ.get("DIND_TEST_NO_ENGINE_RESTART") == "1":
        return "DIND_TEST_NO_ENGINE_RESTART=1"
    if os.environ.get("DOCKER_HOST", "unix://").split("://")[0] not in ("", "unix"):
        return "the engine is remote"
    if not DOCKERD_MARKER.exists():
        return f"the engine wasn't started by the test command ({DOCKERD_MARKER} is missing)"
    if subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode != 0:
        return "no dockerd process here to restart"
    return ""


def restart_engine() -> None:
    pid = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout.split()[0]
    subprocess.run(["kill", "-TERM", pid], check=True)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    subprocess.run(["bash", str(REPO / "build" / "ensure-docker.sh")], check=True)


def test_the_cluster_comes_back_after_the_engine_restarts(engine, tmp_path):
    why_not = restart_allowed()
    if why_not:
        pytest.skip(f"not restarting the Docker engine: {why_not}")
    env = cluster_env(tmp_path, CLUSTER_ID=free_cluster_id(engine, 55, 69))
    try:
        cli(env, "up")
        before = listed_nodes(env)
        restart_engine()
        client = docker_client(os.environ)
        wait_for_nodes(node_containers(client, env), timeout=180)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:      # the stand-in apiserver starts with the kubelet
            try:
                if listed_nodes(env) == before:
                    break
            except AssertionError:
                pass
            time.sleep(2)
        assert listed_nodes(env) == before
        pods_ping_each_other(node_containers(client, env))
    finally:
        cli(env, "clean", check=False)
        remove_cluster(docker_client(os.environ), cluster_key(env))
