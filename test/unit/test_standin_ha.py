"""The stand-in's HA control plane (test/standin/bin), on this host in temporary roots: a second master
joins with the certificate key `init --upload-certs` stored, every master keeps the whole node list,
and it is still served when the first master's API endpoint is gone."""
import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from test_standin import INIT_V1BETA4, JOIN_V1BETA4, TOKEN, Root, ca_hash_like_the_docs, free_port, need_socat, write

KEY = "0123456789abcdef" * 4
CONTROL_PLANE = """\
  taints: []
controlPlane:
  localAPIEndpoint:
    advertiseAddress: 127.0.0.1
    bindPort: {port}
  certificateKey: "{key}"
"""


def nodes(root):
    out = root.run("kubeadm", "__standin-api", "GET", "/api/v1/nodes").stdout
    return sorted(item["metadata"]["name"] for item in json.loads(out)["items"])


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    need_socat()
    base = tmp_path_factory.mktemp("standin-ha")
    p1, p2 = free_port(), free_port()
    init = INIT_V1BETA4.format(token=TOKEN, port=p1).replace(
        "kubernetesVersion: v1.31.0", f"kubernetesVersion: v1.31.0\ncontrolPlaneEndpoint: 127.0.0.1:{p1}").replace(
        "    value: 10.192.0.2\n", f"    value: 10.192.0.2\ncertificateKey: \"{KEY}\"\n", 1)
    m1, m2, w1 = Root(base / "m1"), Root(base / "m2"), Root(base / "w1")
    m1.run("kubeadm", "init", "--config", write(base / "init.yaml", init), "--upload-certs")
    ca = "sha256:" + ca_hash_like_the_docs(m1.file("/etc/kubernetes/pki/ca.crt"))
    token = m1.run("kubeadm", "token", "create").stdout.strip()

    def join_config(name, ip, key=None, port=p2, via=p1):
        text = JOIN_V1BETA4.format(port=via, token=token, hash=ca, name=name, ip=ip)
        return write(base / f"{name}.yaml", text + (CONTROL_PLANE.format(port=port, key=key) if key else ""))
    try:
        m2.run("kubeadm", "join", "--config", join_config("kube-master-2", "10.192.0.253", KEY))
        w1.run("kubeadm", "join", "--config", join_config("kube-node-1", "10.192.0.3"))
        yield dict(m1=m1, m2=m2, w1=w1, join_config=join_config, base=base, p1=p1, p2=p2)
    finally:
        for root in (w1, m2, m1):
            root.reset()


def test_the_joined_master_has_the_clusters_ca_and_its_own_endpoint(ha):
    m1, m2 = ha["m1"], ha["m2"]
    assert m2.file("/etc/kubernetes/pki/ca.key").read_bytes() == m1.file("/etc/kubernetes/pki/ca.key").read_bytes()
    assert m2.file("/etc/kubernetes/pki/apiserver.crt").read_bytes() != m1.file("/etc/kubernetes/pki/apiserver.crt").read_bytes()
    assert "--upload-certs" in m1.file("/var/log/standin/calls.log").read_text()


def test_every_master_lists_every_node(ha):
    expected = ["kube-master", "kube-master-2", "kube-node-1"]
    assert nodes(ha["m1"]) == nodes(ha["m2"]) == expected
    roles = json.loads(ha["m2"].run("kubeadm", "__standin-api", "GET", "/api/v1/nodes/kube-master-2").stdout)
    assert "node-role.kubernetes.io/control-plane" in roles["metadata"]["labels"]


def test_a_wrong_certificate_key_is_refused(ha):
    other = Root(ha["base"] / "m3")
    res = other.run("kubeadm", "join", "--config",
                    ha["join_config"]("kube-master-3", "10.192.0.252", "f" * 64, free_port()), check=False)
    assert res.returncode == 1 and "certificate key does not decrypt" in res.stderr
    assert "kube-master-3" not in nodes(ha["m1"])


def test_a_worker_registered_through_a_joined_master_gets_a_pod_cidr_of_its_own(ha):
    w2 = Root(ha["base"] / "w2")
    try:
        w2.run("kubeadm", "join", "--config", ha["join_config"]("kube-node-2", "10.192.0.4", via=ha["p2"]))
        items = json.loads(ha["m1"].run("kubeadm", "__standin-api", "GET", "/api/v1/nodes").stdout)["items"]
        cidrs = {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in items}
        assert cidrs["kube-node-2"] is not None and list(cidrs.values()).count(cidrs["kube-node-2"]) == 1, cidrs
    finally:
        w2.reset()
        ha["m1"].run("kubectl", "delete", "node", "kube-node-2")


def test_workers_joining_at_once_through_both_masters_get_distinct_pod_cidrs(ha):
    # haproxy spreads dind-cluster's parallel joins over the masters; one controller-manager (the
    # leader) allocates every node's CIDR, so no two nodes get the same one
    names = [f"kube-node-{i}" for i in range(2, 8)]
    roots = {name: Root(ha["base"] / name) for name in names}

    def join(i_name):
        i, name = i_name
        via = ha["p2"] if i % 2 else ha["p1"]
        roots[name].run("kubeadm", "join", "--config", ha["join_config"](name, f"10.192.0.{10 + i}", via=via))
    try:
        with ThreadPoolExecutor(len(names)) as pool:
            list(pool.map(join, enumerate(names)))
        for master in (ha["m1"], ha["m2"]):
            items = json.loads(master.run("kubeadm", "__standin-api", "GET", "/api/v1/nodes").stdout)["items"]
            cidrs = [n["spec"].get("podCIDR") for n in items]
            assert None not in cidrs and len(set(cidrs)) == len(cidrs) == 3 + len(names), cidrs
    finally:
        for name in names:
            ha["m1"].run("kubectl", "delete", "node", name, check=False)
        assert nodes(ha["m1"]) == nodes(ha["m2"]) == ["kube-master", "kube-master-2", "kube-node-1"]


def test_drain_and_delete_on_one_master_reach_the_other_and_survive_the_first_going_away(ha):
    m1, m2 = ha["m1"], ha["m2"]
    assert m2.run("kubectl", "drain", "--ignore-daemonsets", "--delete-emptydir-data", "kube-node-1").stdout.split() == [
        "node/kube-node-1", "cordoned", "node/kube-node-1", "drained"]
    assert "node.kubernetes.io/unschedulable" in m1.file("/var/lib/standin/nodes/kube-node-1").read_text()
    assert m2.run("kubectl", "delete", "node", "kube-node-1").stdout.strip() == 'node "kube-node-1" deleted'
    assert nodes(m1) == ["kube-master", "kube-master-2"]
    os.kill(int(m1.file("/var/lib/standin/apiserver.pid").read_text()), signal.SIGTERM)
    assert nodes(m2) == ["kube-master", "kube-master-2"]
    assert m2.run("kubeadm", "__standin-api", "GET", "/healthz").stdout.strip() == "ok"
