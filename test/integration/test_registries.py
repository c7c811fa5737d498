"""Registries, mirrors, insecure registries and proxies reach containerd in every node (issue 11).

Real parts, all traffic on this machine: the product's registry image (Debian's docker-registry),
a second one in pull-through mode as the mirror, Debian's tinyproxy as the proxy, real containerd in
the nodes pulling through its CRI (ImageService/PullImage, the kubelet's call, over its socket) with
the host files under its config_path and its own proxy environment, `ctr` reading the same host
files, and `docker push` from the host to the published 127.0.0.1 port.

One cluster (master + 1 worker) with everything set at once:
- L, the local registry (DIND_LOCAL_REGISTRY=y) on 127.0.0.1:<free port> and the cluster network;
- M, a pull-through mirror of L on the cluster network, DIND_REGISTRY_MIRROR="<L>=http://<M>";
- U, a test network the nodes can't reach, with Z (a plain-HTTP registry, listed in
  DIND_INSECURE_REGISTRIES) and T (tinyproxy, also on the cluster network, DIND_HTTP_PROXY).
"""
from __future__ import annotations

import io
import ipaddress
import json
import socket
import textwrap
import time

import docker.errors
import pytest
import yaml

import clusters
from clusters import cli, free_cluster_id, remove_cluster
from conftest import TEST_LABEL, base_image, free_subnet
from cri import CRI
from dind_cluster import registries as reg, registry_plan as rp
from dind_cluster.backend import helper_images
from dind_cluster.backend.containers import exec_in, tar_of

pytestmark = pytest.mark.docker

CERTS = "--hosts-dir=/etc/containerd/certs.d"
PROXY_DOCKERFILE = textwrap.dedent("""\
    ARG BASE_IMAGE
    FROM ${BASE_IMAGE}
    RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
        tinyproxy >/dev/null && rm -rf /var/lib/apt/lists/*
    RUN printf 'User tinyproxy\\nGroup tinyproxy\\nPort 8888\\nListen 0.0.0.0\\nTimeout 5\\nLogLevel Info\\nMaxClients 20\\n' > /etc/tinyproxy.conf
    ENTRYPOINT ["tinyproxy", "-d", "-c", "/etc/tinyproxy.conf"]
    """)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_logged(container, needle: bytes, timeout: float = 30) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        logs = container.logs()
        if needle in logs or time.monotonic() > deadline:
            return logs
        time.sleep(0.3)


def run_registry(engine, scope_labels, name, network, ip, env=None, ports=None):
    image = helper_images.ensure_image(engine, "registry", reg.REGISTRY_REPOSITORY, base_image())
    container = engine.containers.create(image, name=name, detach=True, labels=scope_labels, environment=env or {},
                                         ports=ports or {}, network=network, networking_config={
                                             network: engine.api.create_endpoint_config(ipv4_address=ip)})
    container.start()
    wait_logged(container, b"listening on")
    return container


def proxy_image(engine) -> str:
    context = tar_of({"/Dockerfile": PROXY_DOCKERFILE})
    image, _ = engine.images.build(fileobj=io.BytesIO(context), custom_context=True, pull=False,
                                   buildargs={"BASE_IMAGE": base_image()}, rm=True,
                                   tag="dind-cluster-test-tinyproxy:latest")
    return image.id


def push_tiny_image(engine, ref: str, payload: str) -> None:
    """`docker import` of a one-file tar, then `docker push` (dockerd treats localhost and 127.0.0.0/8 as
    insecure: no daemon configuration needed)."""
    repository, tag = ref.rsplit(":", 1)
    engine.api.import_image_from_data(tar_of({"/payload": payload}), repository=repository, tag=tag)
    try:
        out = engine.images.push(repository, tag=tag)
        assert '"error"' not in out, out
    finally:
        engine.images.remove(ref, force=True)


def service_env(node, unit: str) -> dict:
    _, pid = exec_in(node, ["systemctl", "show", "-p", "MainPID", "--value", unit])
    _, raw = exec_in(node, ["cat", f"/proc/{pid.strip()}/environ"])
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def ctr_pull(node, ref: str):
    """`ctr` resolving through the node's host files itself (--hosts-dir), as the issue's recipe says."""
    exec_in(node, ["ctr", "-n", "k8s.io", "images", "rm", ref], check=False)
    return exec_in(node, ["ctr", "-n", "k8s.io", "images", "pull", CERTS, ref], check=False)


def pull(node, ref: str) -> tuple:
    """The kubelet's own pull, through the node's CRI (cri.py): (0, image_ref) or (1, containerd's error)."""
    with CRI(node) as cri:
        return cri.pull_image(ref)


@pytest.fixture(scope="module")
def world(engine, module_scope, tmp_path_factory):
    labels = module_scope.labels
    cid = free_cluster_id(engine, 90, 99)
    port, z_port = free_port(), free_port()
    mgmt = ipaddress.ip_network(f"10.192.{cid}.0/24")
    l_ip, m_ip, t_ip = str(mgmt[-2]), str(mgmt[250]), str(mgmt[249])
    outside = free_subnet(engine)
    net_u = engine.networks.create(f"dind-test-u-{module_scope.value}", driver="bridge", labels=labels,
                                   ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(outside))]))
    z_ip = str(outside[10])
    z = run_registry(engine, labels, f"dind-test-z-{module_scope.value}", net_u.name, z_ip,
                     ports={"5000/tcp": ("127.0.0.1", z_port)})
    t = engine.containers.create(proxy_image(engine), name=f"dind-test-t-{module_scope.value}", detach=True,
                                 labels=labels, network=net_u.name)
    t.start()
    env = clusters.cluster_env(tmp_path_factory.mktemp("home"), CLUSTER_ID=cid,
                               DIND_LOCAL_REGISTRY="y", DIND_LOCAL_REGISTRY_PORT=str(port),
                               DIND_REGISTRY_MIRROR=f"{l_ip}:5000=http://{m_ip}:5000",
                               DIND_INSECURE_REGISTRIES=json.dumps([f"{z_ip}:5000"]),
                               DIND_HTTP_PROXY=f"http://{t_ip}:8888", DIND_HTTPS_PROXY=f"http://{t_ip}:8888",
                               DIND_NO_PROXY="example.internal")
    key = f"cluster-{cid}"
    w = dict(env=env, key=key, port=port, l_ip=l_ip, m_ip=m_ip, t_ip=t_ip, z_ip=z_ip, z=z, t=t,
             mgmt=str(mgmt), net=f"kubeadm-dind-net-{key}")
    try:
        assert cli(env, "registry", "up").stdout.strip() == f"localhost:{port}"   # the recipe: first this,
        cli(env, "up")                                                            # then up reuses it
        net = engine.networks.get(w["net"])
        w["m"] = run_registry(engine, labels, f"dind-test-m-{module_scope.value}", w["net"], m_ip,
                              env={"REGISTRY_PROXY_REMOTEURL": f"http://{l_ip}:5000"})
        net.connect(t, ipv4_address=t_ip)
        push_tiny_image(engine, f"localhost:{port}/app:v1", "from the local registry")
        push_tiny_image(engine, f"127.0.0.1:{z_port}/outside:v1", "from behind the proxy")
        yield w
    finally:
        for c in engine.containers.list(all=True, filters={"label": f"{TEST_LABEL}={module_scope.value}"}):
            c.remove(force=True, v=True)
        cli(env, "registry", "down", "--volumes", check=False)
        remove_cluster(engine, key)


def exists(engine, name: str) -> bool:
    """By name (listing every container races with other tests' containers going away)."""
    try:
        engine.containers.get(name)
        return True
    except docker.errors.NotFound:
        return False


def nodes(engine, w):
    return [engine.containers.get(f"kube-master-{w['key']}"), engine.containers.get(f"kube-node-1-{w['key']}")]


def test_every_node_pulls_what_the_host_pushed_by_the_localhost_name(engine, world):
    for node in nodes(engine, world):
        code, out = pull(node, f"localhost:{world['port']}/app:v1")
        assert code == 0, f"{node.name}: {out}"
        code, out = ctr_pull(node, f"localhost:{world['port']}/app:v1")
        assert code == 0, f"{node.name}: {out}"


def test_mirror_serves_the_pull_and_logs_it(engine, world):
    for node in nodes(engine, world):
        code, out = pull(node, f"{world['l_ip']}:5000/app:v1")
        assert code == 0, f"{node.name}: {out}"
    logs = world["m"].logs()
    assert b"/v2/app/manifests/v1" in logs, logs[-2000:]


def test_listed_insecure_registry_is_pulled_from_through_the_proxy(engine, world):
    for node in nodes(engine, world):
        code, out = pull(node, f"{world['z_ip']}:5000/outside:v1")   # Z is on a network nodes can't reach
        assert code == 0, f"{node.name}: {out}"
    logs = wait_logged(world["t"], f"{world['z_ip']}:5000/v2/outside".encode())
    assert f"{world['z_ip']}:5000/v2/outside".encode() in logs, logs[-2000:]


def test_registry_not_listed_as_insecure_is_refused(engine, world):
    node = nodes(engine, world)[0]
    code, out = pull(node, f"{world['m_ip']}:5000/app:v1")     # the mirror speaks plain HTTP
    assert code != 0
    assert "HTTP response to HTTPS client" in out, out


def test_containerd_and_kubelet_carry_the_proxy_and_no_proxy_holds_the_cluster(engine, world):
    for node in nodes(engine, world):
        for unit in ("containerd", "kubelet"):
            env = service_env(node, unit)
            for name in ("HTTP_PROXY", "HTTPS_PROXY"):
                assert env.get(name) == env.get(name.lower()) == f"http://{world['t_ip']}:8888", (unit, name)
            no_proxy = env["NO_PROXY"].split(",")
            for want in ("example.internal", world["mgmt"], "10.244.0.0/16", "10.96.0.0/12", ".svc",
                         ".cluster.local", "localhost", "127.0.0.1", f"kube-master-{world['key']}"):
                assert want in no_proxy, (node.name, unit, want)


def test_local_registry_hosting_configmap_is_applied(engine, world):
    _, text = exec_in(nodes(engine, world)[0], ["cat", "/var/lib/standin/applied.yaml"])
    docs = [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "ConfigMap"]
    found = [d for d in docs if d["metadata"] == {"name": "local-registry-hosting", "namespace": "kube-public"}]
    assert found, text
    hosting = yaml.safe_load(found[-1]["data"]["localRegistryHosting.v1"])
    assert hosting["host"] == f"localhost:{world['port']}"
    assert hosting["hostFromClusterNetwork"] == f"{world['l_ip']}:5000"


def test_registry_status_names_the_cluster_network(world):
    out = cli(world["env"], "registry", "status").stdout
    assert "running" in out and world["net"] in out and f"localhost:{world['port']}" in out


def test_join_gets_the_host_files_and_restore_applies_changed_settings(engine, world):
    """Runs last in the module: it changes the cluster (a third node, then down and up again)."""
    env = world["env"]
    joined = cli(env, "join").stdout.strip().splitlines()[-1]
    code, out = pull(engine.containers.get(joined), f"localhost:{world['port']}/app:v1")
    assert code == 0, out
    grown = {**env, "NUM_NODES": "2"}
    cli(grown, "down")
    assert exists(engine, reg.container_name(world["port"]))          # down keeps it
    changed = {**grown, "DIND_REGISTRY_MIRROR": ""}
    up = cli(changed, "up")
    assert "snapshot" in up.stderr.lower()
    node = nodes(engine, world)[0]
    _, listing = exec_in(node, ["ls", "/etc/containerd/certs.d"])
    assert f"{world['l_ip']}:5000" not in listing.split()          # the mirror's file went
    assert f"localhost:{world['port']}" in listing.split()
    assert pull(node, f"localhost:{world['port']}/app:v1")[0] == 0


def test_clean_leaves_the_registry_unless_asked(engine, world):
    env = world["env"]
    name = reg.container_name(world["port"])
    world["m"].remove(force=True, v=True)                                  # the test's own containers leave first
    engine.networks.get(world["net"]).disconnect(world["t"], force=True)
    cli(env, "clean")
    assert exists(engine, name)
    cli(env, "clean", "--registry")
    assert not exists(engine, name)
    assert reg.volume_name(world["port"]) in [v.name for v in engine.volumes.list()]   # data kept
    cli(env, "registry", "down", "--volumes")
    assert reg.volume_name(world["port"]) not in [v.name for v in engine.volumes.list()]


def test_port_in_use_is_an_error_before_anything_is_created(engine, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = clusters.cluster_env(tmp_path, CLUSTER_ID=free_cluster_id(engine, 90, 99), DIND_LOCAL_REGISTRY="y",
                                   DIND_LOCAL_REGISTRY_PORT=str(port))
        for args in (("up",), ("registry", "up")):
            proc = cli(env, *args, check=False)
            assert proc.returncode == 1
            errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
            assert errors == [f"ERROR: DIND_LOCAL_REGISTRY_PORT: port {port} on 127.0.0.1 is in use; "
                              "choose a free port, or stop what listens there"], proc.stderr
        assert not any(clusters.owned(engine, f"cluster-{env['CLUSTER_ID']}"))
        assert not exists(engine, reg.container_name(port))


@pytest.mark.parametrize("variable, value", [("DIND_REGISTRY_MIRROR", "mirror.local:5000"),
                                             ("DIND_INSECURE_REGISTRIES", '["a.local", 5000]'),
                                             ("DIND_HTTPS_PROXY", "ftp://bob:hunter2@proxy.local")])
def test_bad_value_is_one_error_line_before_anything_is_created(engine, tmp_path, variable, value):
    env = clusters.cluster_env(tmp_path, CLUSTER_ID=free_cluster_id(engine, 90, 99), **{variable: value})
    proc = cli(env, "up", check=False)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {variable}: "), proc.stderr
    assert "hunter2" not in proc.stderr and "Traceback" not in proc.stderr
    assert not any(clusters.owned(engine, f"cluster-{env['CLUSTER_ID']}"))


def test_registry_sits_on_a_dual_stack_network_at_both_addresses_and_outlives_it(engine, scope):
    from dind_cluster.backend import nodes as node_backend, registry as backend
    from dind_cluster.backend.network import ensure_network

    plan = scope.plan(workers=0, dual_stack=True)
    network = ensure_network(engine, plan)
    port = free_port()
    try:
        container = backend.ensure(engine, port, base_image(), {})
        addresses = rp.registry_addresses(plan)
        for _ in range(2):                                   # the second attach finds it in place
            backend.attach(engine, container, plan.network.name, addresses)
        container.reload()
        got = container.attrs["NetworkSettings"]["Networks"][plan.network.name]
        assert {got["IPAddress"], got["GlobalIPv6Address"]} == set(addresses)
        assert backend.cluster_networks(engine, container) == [plan.network.name]
        node_backend.clean(engine, plan.cluster_key)        # the network goes, the registry stays
        with pytest.raises(docker.errors.NotFound):
            engine.networks.get(network.id)
        container.reload()
        assert container.status == "running" and backend.cluster_networks(engine, container) == []
    finally:
        backend.remove(engine, port, volumes=True)
