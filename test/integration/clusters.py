"""Helpers for tests that drive the whole tool: the CLI in a subprocess, objects by cluster label,
and test pods: network namespaces attached by the real CNI plugins with a node's own configuration."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from dind_cluster.backend.containers import exec_in
from dind_cluster.naming import CLUSTER_LABEL


def cli(env, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", "dind_cluster", *args], env=env, capture_output=True,
                          text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"dind-cluster {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def owned(engine, key):
    flt = {"label": f"{CLUSTER_LABEL}={key}"}
    return (engine.containers.list(all=True, filters=flt), engine.volumes.list(filters=flt),
            engine.networks.list(filters=flt))


def remove_cluster(engine, key):
    containers, volumes, networks = owned(engine, key)
    for c in containers:
        c.remove(force=True, v=True)
    for v in volumes:
        v.remove(force=True)
    for n in networks:
        n.remove()
    for image in engine.images.list(filters={"label": f"{CLUSTER_LABEL}={key}"}):
        engine.images.remove(image.id, force=True)


def kubectl(env, context, *args):
    kubectl_bin = shutil.which("kubectl")
    if not kubectl_bin:
        pytest.fail("no kubectl on the host (test/run.sh installs Debian's kubernetes-client)")
    return subprocess.run([kubectl_bin, "--context", context, *args], env=env, capture_output=True, text=True,
                          timeout=60)


def attach_test_pod(node) -> list:
    """A network namespace added with the node's own CNI config (first plugin) by the real plugin binary;
    returns its addresses (one per family)."""
    _, text = exec_in(node, ["cat", "/etc/cni/net.d/10-dindnet.conflist"])
    conflist = json.loads(text)
    plugin = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **conflist["plugins"][0]}
    exec_in(node, ["ip", "netns", "add", "podtest"])
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "podtest", "CNI_NETNS": "/var/run/netns/podtest",
           "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}
    _, out = exec_in(node, [f"/opt/cni/bin/{plugin['type']}"], stdin=json.dumps(plugin).encode(), environment=env)
    result = json.loads(out[out.index("{"):])
    return [ip["address"].split("/")[0] for ip in result["ips"]]


def detach_test_pod(node) -> None:
    exec_in(node, ["ip", "netns", "delete", "podtest"], check=False)




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
