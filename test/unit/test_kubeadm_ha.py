"""kubeadm configuration and the haproxy configuration of an HA control plane (rendered, pure)."""
import pytest
import yaml

from dind_cluster import balancer, kubeadm
from dind_cluster.plan import make_plan

KEY = "ab" * 32
JOIN = dict(api_endpoint="10.192.0.254:6443", token="abcdef.0123456789abcdef", ca_cert_hashes=["sha256:" + "0" * 64])


def docs(text):
    return {d["kind"]: d for d in yaml.safe_load_all(text)}


@pytest.mark.parametrize("version", ["v1.31.4", "v1.37.1"])
def test_init_points_at_the_balancer_and_carries_the_certificate_key(version):
    plan = make_plan({"NUM_MASTERS": "3", "NUM_NODES": "1"})
    found = docs(kubeadm.render_init_config(plan, {}, k8s_version=version, certificate_key=KEY))
    assert found["ClusterConfiguration"]["controlPlaneEndpoint"] == "10.192.0.254:6443"
    assert {"kube-lb", "10.192.0.254", "127.0.0.1"} <= set(found["ClusterConfiguration"]["apiServer"]["certSANs"])
    assert found["InitConfiguration"]["certificateKey"] == KEY
    assert found["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "10.192.0.2"


def test_one_master_has_no_certificate_key_and_its_own_endpoint():
    found = docs(kubeadm.render_init_config(make_plan({}), {}, k8s_version="v1.31.4"))
    assert "certificateKey" not in found["InitConfiguration"]
    assert found["ClusterConfiguration"]["controlPlaneEndpoint"] == "10.192.0.2:6443"


@pytest.mark.parametrize("workers, taints", [("1", [{"key": "node-role.kubernetes.io/control-plane",
                                                     "effect": "NoSchedule"}]), ("0", [])])
def test_an_extra_master_joins_as_a_control_plane(workers, taints):
    plan = make_plan({"NUM_MASTERS": "2", "NUM_NODES": workers})
    join = docs(kubeadm.render_join_config(plan, plan.nodes[1], k8s_version="v1.31.4", certificate_key=KEY,
                                           **JOIN))["JoinConfiguration"]
    assert join["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "10.192.0.253", "bindPort": 6443},
                                    "certificateKey": KEY}
    assert join["nodeRegistration"]["taints"] == taints      # masters take pods when there is no worker


def test_a_worker_join_has_no_control_plane_and_a_master_needs_the_key():
    plan = make_plan({"NUM_MASTERS": "2", "NUM_NODES": "1"})
    worker = docs(kubeadm.render_join_config(plan, plan.workers[0], k8s_version="v1.31.4", **JOIN))
    assert "controlPlane" not in worker["JoinConfiguration"]
    with pytest.raises(ValueError, match="certificate key"):
        kubeadm.render_join_config(plan, plan.nodes[1], k8s_version="v1.31.4", **JOIN)


def test_patches_directory_when_a_node_has_limits():
    plan = make_plan({"NUM_NODES": "1"})
    found = docs(kubeadm.render_init_config(plan, {}, k8s_version="v1.31.4", patches=True))
    assert found["InitConfiguration"]["patches"] == {"directory": "/etc/kubeadm/patches"}
    join = docs(kubeadm.render_join_config(plan, plan.workers[0], k8s_version="v1.31.4",
                                           patches=True, **JOIN))
    assert join["JoinConfiguration"]["patches"] == {"directory": "/etc/kubeadm/patches"}


@pytest.mark.parametrize("mode, servers, v6_bind", [
    ("ipv4", ["10.192.0.2:6443", "10.192.0.253:6443", "10.192.0.252:6443"], False),
    ("dual-stack", ["[fd00:20::2]:6443", "[fd00:20::fd]:6443", "[fd00:20::fc]:6443"], True),
    ("ipv6", ["[fd00:20::2]:6443", "[fd00:20::fd]:6443", "[fd00:20::fc]:6443"], True),
])
def test_haproxy_checks_every_apiserver_of_the_service_family(mode, servers, v6_bind):
    text = balancer.render_config(make_plan({"NUM_MASTERS": "3", "IP_MODE": mode}))
    lines = [line.strip() for line in text.splitlines()]
    assert [line.split()[2] for line in lines if line.startswith("server ")] == servers
    assert "option httpchk GET /healthz" in lines and "http-check expect status 200" in lines
    assert "default-server check check-ssl verify none inter 1s fall 2 rise 1" in lines
    assert ("bind :::6443 v6only" in lines) is v6_bind and "bind *:6443" in lines


def test_no_balancer_config_for_one_master():
    with pytest.raises(ValueError, match="one master"):
        balancer.render_config(make_plan({}))
