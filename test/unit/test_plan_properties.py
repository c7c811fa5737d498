"""Properties of every plan: pod subnets, node addresses, and two clusters side by side."""
import itertools

from hypothesis import given, reject, settings, strategies as st
from netaddr import IPAddress, IPNetwork

from dind_cluster.errors import ConfigError
from dind_cluster.plan import make_plan

MODES = st.sampled_from(["ipv4", "ipv6", "dual-stack"])
# IPv4 /16 pod networks clear of the default management (10.192/24) and services (10.96/12)
V4_PODS = st.sampled_from([b for b in range(256) if not 96 <= b <= 111 and b != 192]).map(
    lambda b: f"10.{b}.0.0/16")


@st.composite
def v6_pods(draw):
    """fd40::/16-based pod networks of any length /16../112 with no bits past the prefix."""
    length = draw(st.integers(16, 112))
    bits = draw(st.integers(0, (1 << (length - 16)) - 1))
    value = (0xFD40 << 112) | (bits << (128 - length))
    return f"{IPAddress(value, 6)}/{length}"


@st.composite
def v4_mgmt(draw):
    """Management networks in 172.16.0.0/12, /16 to /29."""
    length = draw(st.integers(16, 29))
    bits = draw(st.integers(0, (1 << (length - 12)) - 1))
    return f"{IPAddress((0xAC10 << 16) | (bits << (32 - length)), 4)}/{length}"


@st.composite
def v6_mgmt(draw):
    """Texts like fd5x:a:b::/L that leave the hextet after the head inside the prefix."""
    head = draw(st.lists(st.integers(1, 0xFFFF), min_size=0, max_size=4))
    length = draw(st.integers((len(head) + 2) * 16, 118))
    first = draw(st.integers(0xFD50, 0xFDFF))
    return ":".join(f"{h:x}" for h in [first] + head) + f"::/{length}"


def plan_or_reject(values):
    """Settings that don't fit (too many nodes, say) are not what these properties test."""
    try:
        return make_plan(values)
    except ConfigError:
        reject()


def mgmt_text(draw, mode):
    v4, v6 = draw(v4_mgmt()), draw(v6_mgmt())
    return {"ipv4": v4, "ipv6": v6}.get(mode, f"{v6},{v4}")


@settings(max_examples=150, deadline=None)  # timings vary on a shared CI machine
@given(data=st.data(), mode=MODES, num_nodes=st.integers(0, 40))
def test_pod_subnets_are_disjoint_and_inside_the_pod_network(data, mode, num_nodes):
    pods = {"ipv4": data.draw(V4_PODS), "ipv6": data.draw(v6_pods())}
    pods["dual-stack"] = f"{pods['ipv6']} {pods['ipv4']}"
    plan = plan_or_reject({"IP_MODE": mode, "NUM_NODES": str(num_nodes),
                           "POD_NETWORK_CIDR": pods[mode]})
    supernets = [IPNetwork(c) for c in plan.pod_network_cidrs]
    for index, supernet in enumerate(supernets):
        subnets = [IPNetwork(node.pod_cidrs[index]) for node in plan.nodes]
        for node, subnet in zip(plan.nodes, subnets):
            assert subnet in supernet
            assert IPAddress(node.pod_gateways[index]) in subnet
        for a, b in itertools.combinations(subnets, 2):
            assert a.last < b.first or b.last < a.first


@settings(max_examples=150, deadline=None)  # timings vary on a shared CI machine
@given(data=st.data(), mode=MODES, num_nodes=st.integers(0, 300),
       cluster_id=st.integers(0, 254))
def test_node_addresses_are_distinct_and_inside_the_management_network(
        data, mode, num_nodes, cluster_id):
    plan = plan_or_reject({"IP_MODE": mode, "NUM_NODES": str(num_nodes),
                           "CLUSTER_ID": str(cluster_id), "NAT64_V4_SUBNET_PREFIX": "10.0",
                           "MGMT_CIDRS": mgmt_text(data.draw, mode)})
    nets = [IPNetwork(s) for s in plan.network.subnets[:len(plan.network.gateways)]]
    taken = list(plan.network.gateways)
    for helper in filter(None, (plan.dns64, plan.nat64)):
        taken += [ip for ip in helper.ips if IPAddress(ip).version == 6]
    for node in plan.nodes:
        assert len(node.ips) == len(nets)
        for ip, net in zip(node.ips, nets):
            assert IPAddress(ip) in net and IPAddress(ip) not in (net.network, net.broadcast)
        taken += node.ips
    assert len(taken) == len(set(taken))


def objects(plan):
    """Every name the cluster puts on the Docker engine or in kubeconfig."""
    names = {plan.network.name, plan.context}
    names |= {n.name for n in plan.nodes} | {n.volume for n in plan.nodes}
    names |= {h.name for h in (plan.dns64, plan.nat64) if h}
    return names


@settings(max_examples=150, deadline=None)  # timings vary on a shared CI machine
@given(data=st.data(), mode=MODES, ids=st.lists(st.integers(0, 254), min_size=2,
                                                  max_size=2, unique=True),
       label=st.sampled_from([None, "foo", "team.b"]), own_mgmt=st.booleans())
def test_clusters_with_different_ids_share_no_subnet_and_no_name(data, mode, ids, label,
                                                                  own_mgmt):
    common = {"IP_MODE": mode, "NAT64_V4_SUBNET_PREFIX": "10.0", "DIND_LABEL": label or ""}
    if own_mgmt:
        v4 = f"172.{data.draw(st.integers(16, 31))}.0.0/24"
        v6 = f"fd{data.draw(st.integers(0x50, 0xff)):02x}:7::/64"
        common["MGMT_CIDRS"] = {"ipv4": v4, "ipv6": v6}.get(mode, f"{v4} {v6}")
    a, b = (plan_or_reject({**common, "CLUSTER_ID": str(i)}) for i in ids)
    if a.cluster_id == b.cluster_id:   # a label's derived ID may equal the other's explicit ID
        reject()
    for net_a, net_b in zip(a.network.subnets, b.network.subnets):
        net_a, net_b = IPNetwork(net_a), IPNetwork(net_b)
        assert net_a.last < net_b.first or net_b.last < net_a.first
    assert not objects(a) & objects(b)
    assert a.labels != b.labels and a.cluster_key != b.cluster_key
