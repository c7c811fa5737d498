"""The lines `up` ends with: context, nodes, apiserver, a NodePort address, the next commands with the
settings that select the same cluster again."""
from __future__ import annotations

import pytest

from dind_cluster.actions.summary import selector, up_summary
from dind_cluster.plan import make_plan


def test_summary_names_the_context_nodes_apiserver_nodeport_and_next_commands():
    lines = up_summary(make_plan({"CLUSTER_ID": "10", "NUM_NODES": "1"}), 32768).splitlines()
    assert lines[0] == "Cluster dind-cluster-10 is up: 2 node(s), kube-master-cluster-10, kube-node-1-cluster-10"
    assert lines[1].split() == ["apiserver", "https://127.0.0.1:32768", "kubectl", "--context", "dind-cluster-10",
                                "get", "nodes"]
    assert lines[2].split()[:2] == ["NodePort", "http://10.192.10.3:30080"]
    assert "CLUSTER_ID=10 dind-cluster down" in lines[3] and "CLUSTER_ID=10 dind-cluster get kubeconfig" in lines[3]


def test_ipv6_addresses_are_bracketed():
    plan = make_plan({"IP_MODE": "ipv6", "NUM_NODES": "1"})
    text = up_summary(plan, 40000)
    assert "https://[::1]:40000" in text and f"http://[{plan.nodes[1].ips[0]}]:30080" in text


@pytest.mark.parametrize("values, prefix", [({}, ""), ({"CLUSTER_ID": "3"}, "CLUSTER_ID=3 "),
                                            ({"DIND_LABEL": "foo", "CLUSTER_ID": "3"}, "DIND_LABEL=foo CLUSTER_ID=3 "),
                                            ({"DIND_LABEL": "foo"}, "DIND_LABEL=foo ")])
def test_next_commands_carry_the_settings_that_select_the_cluster(values, prefix):
    assert selector(make_plan(values)) == prefix
    again = dict(word.split("=") for word in prefix.split())
    assert make_plan(again).context == make_plan(values).context
