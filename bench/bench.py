#!/usr/bin/env python3
"""Benchmarks (never asserted in tests): prints a table of wall times, memory and image size.

    DIND_K8S_BIN_DIR=... DIND_BASE_IMAGE=... .venv/bin/python bench/bench.py [--rounds N]

Runs the real CLI against the real engine on a cluster of its own (CLUSTER_ID=201, 202; 243-245 for
--many: 1-node neighbours, 10 and 30 nodes) and removes it afterwards. Targets (DESIGN.md, issue 12):
3-node up ≤ 1.3× a 1-node up; down + clean of 3 nodes ≤ 2 s; restart from snapshot ≤ half a cold up;
idle node ≤ 25 MiB; config --json < 0.3 s; node image without Kubernetes binaries < 400 MB; with
--many: NUM_NODES=10 up ≤ 2.5× a 1-node up, and NUM_NODES=30 up succeeds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import docker

from dind_cluster.backend.images import ensure_node_image

CLI = [sys.executable, "-m", "dind_cluster", "-q"]


def timed(args, env) -> float:
    started = time.monotonic()
    subprocess.run(CLI + args, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def median(values):
    return statistics.median(values) if values else float("nan")


def idle_node_memory(client, cluster_key: str, settle: float = 20.0) -> float:
    """Median memory use (MiB, inactive page cache excluded) of the cluster's nodes after they settle."""
    time.sleep(settle)
    nodes = client.containers.list(filters={"label": [f"dind-cluster.io/cluster={cluster_key}",
                                                      "dind-cluster.io/role"]})
    return median([node_memory(node) / 2**20 for node in nodes])


def node_memory(node) -> int:
    """Bytes in use by a node's cgroup: `docker stats`, or the cgroup files of a local engine when the
    engine reports nothing (Docker 20.10 on cgroup v1 with systemd managing the node's sub-cgroups)."""
    stats = node.stats(stream=False).get("memory_stats", {})
    detail = stats.get("stats", {})
    if stats.get("usage"):
        return stats["usage"] - detail.get("total_inactive_file", detail.get("inactive_file", 0))
    for base in (f"/sys/fs/cgroup/memory/docker/{node.id}", f"/sys/fs/cgroup/system.slice/docker-{node.id}.scope",
                 f"/sys/fs/cgroup/docker/{node.id}"):
        for usage_file in ("memory.usage_in_bytes", "memory.current"):
            if os.path.exists(f"{base}/{usage_file}"):
                usage = int(open(f"{base}/{usage_file}").read())
                stat = dict(line.split() for line in open(f"{base}/memory.stat"))
                return usage - int(stat.get("total_inactive_file", stat.get("inactive_file", 0)))
    return 0


def cold_up(env: dict) -> float:
    try:
        return timed(["up"], env)
    finally:
        timed(["clean"], env)


def many_nodes(base: dict, up1: float, rounds: int = 3) -> list:
    """NUM_NODES=10: `rounds` cold ups (median), each right after a 1-node up whose time it is
    compared with (this virtual machine's speed drifts by 10% within minutes, so a ratio of two
    figures taken minutes apart says less than a ratio of neighbours); NUM_NODES=30 once."""
    one = {**base, "CLUSTER_ID": "243", "NUM_NODES": "0"}
    ten = {**base, "CLUSTER_ID": "244", "NUM_NODES": "10"}
    pairs = [(cold_up(one), cold_up(ten)) for _ in range(rounds)]
    return [
        ("up, NUM_NODES=10 (cold)", median([t for _, t in pairs]), "s", f"(2.5× the 1-node up above: {2.5 * up1:.1f})"),
        ("  its 1-node neighbours", median([o for o, _ in pairs]), "s", ""),
        ("  NUM_NODES=10 / its neighbour", median([t / o for o, t in pairs]), "×", "≤ 2.5"),
        ("up, NUM_NODES=30 (cold)", cold_up({**base, "CLUSTER_ID": "245", "NUM_NODES": "30"}), "s", "succeeds"),
    ]


def byte_compile() -> None:
    """Users' pip installs carry .pyc files; a checkout run with PYTHONDONTWRITEBYTECODE=1 (as on this
    project's machines) would compile every module of the package at each command instead."""
    import dind_cluster

    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(dind_cluster.__file__)],
                   check=True, stdout=subprocess.DEVNULL)


def run(rounds: int, many: bool = False) -> list:
    client = docker.from_env()
    byte_compile()
    home = tempfile.mkdtemp(prefix="dind-bench-")
    base = {**os.environ, "HOME": home, "KUBECONFIG": f"{home}/kubeconfig"}
    one = {**base, "CLUSTER_ID": "201", "NUM_NODES": "0"}
    three = {**base, "CLUSTER_ID": "202", "NUM_NODES": "2"}
    rows = []
    rows.append(("config --json", median([timed(["config", "--json"], three) for _ in range(5)]), "s", "< 0.3"))
    ups1, ups3, downs, restarts, cleans, memory, down_cleans = [], [], [], [], [], [], []
    for _ in range(rounds):
        ups1.append(timed(["up"], one))
        timed(["clean"], one)
        ups3.append(timed(["up"], three))
        memory.append(idle_node_memory(client, "cluster-202"))
        downs.append(timed(["down"], three))
        restarts.append(timed(["up"], three))
        cleans.append(timed(["clean"], three))
        timed(["up"], three)                              # cold again, then down + clean in a row
        down_cleans.append(timed(["down"], three) + timed(["clean"], three))
    rows += [
        ("up, master only (cold)", median(ups1), "s", ""),
        ("up, master + 2 workers (cold)", median(ups3), "s", f"≤ {1.3 * median(ups1):.1f} (1.3× master alone)"),
        ("down, 3 nodes", median(downs), "s", ""),
        ("up after down (restore)", median(restarts), "s", f"≤ {median(ups3) / 2:.1f} (half a cold up)"),
        ("clean, 3 nodes", median(cleans), "s", ""),
        ("down + clean, 3 nodes", median(down_cleans), "s", "≤ 2"),
        ("idle node memory", median(memory), "MiB", "≤ 25"),
    ]
    if many:
        rows += many_nodes(base, median(ups1))
    # The image these settings name (other node images may share the engine).
    tag = ensure_node_image({k: v for k, v in base.items() if k.startswith("DIND_")}, base)
    rows.append(("node image size", client.images.get(tag).attrs["Size"] / 1e6, "MB",
                 "< 400 without k8s binaries"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--many", action="store_true", help="also NUM_NODES=10 and NUM_NODES=30 (slow)")
    args = parser.parse_args()
    rows = run(args.rounds, args.many)
    print(f"{'measure':34} {'value':>9}  unit  target")
    for name, value, unit, target in rows:
        print(f"{name:34} {value:9.2f}  {unit:4}  {target}")


if __name__ == "__main__":
    main()
