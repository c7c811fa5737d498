"""Pure: the few lines `up` ends with: where the cluster is and what to type next."""
from __future__ import annotations

from typing import Optional

from dind_cluster.kubeconfig import server_url
from dind_cluster.naming import DEFAULT_DIND_LABEL
from dind_cluster.plan import ClusterPlan

NODEPORT_EXAMPLE = 30080


def selector(plan: ClusterPlan) -> str:
    """The settings that select this cluster again, as a command prefix (`CLUSTER_ID=10 `)."""
    if plan.dind_label == DEFAULT_DIND_LABEL:
        return ""
    if plan.dind_label == f"cluster-{plan.cluster_id}":
        return f"CLUSTER_ID={plan.cluster_id} "
    numbered = f"-{plan.cluster_id}"
    if plan.dind_label.endswith(numbered):  # DIND_LABEL=foo CLUSTER_ID=3 made the label foo-3
        return f"DIND_LABEL={plan.dind_label[:-len(numbered)]} CLUSTER_ID={plan.cluster_id} "
    return f"DIND_LABEL={plan.dind_label} "  # a legacy label: its ID comes from the label


def up_summary(plan: ClusterPlan, port: Optional[int]) -> str:
    worker = plan.nodes[1] if len(plan.nodes) > 1 else plan.master
    tool = f"{selector(plan)}dind-cluster"
    api = server_url(plan.apiserver_host, port) if port else "(no published port)"
    return "\n".join([
        f"Cluster {plan.context} is up: {len(plan.nodes)} node(s), {', '.join(n.name for n in plan.nodes)}",
        f"  apiserver  {api}   kubectl --context {plan.context} get nodes",
        f"  NodePort   {server_url(worker.ips[0], NODEPORT_EXAMPLE).replace('https', 'http')} from this host "
        "(any node's address and the service's nodePort)",
        f"  next       {tool} list | {tool} get kubeconfig | {tool} dump | {tool} down | {tool} clean",
    ])
