"""The example every command's --help ends with (commands added later get theirs here too)."""
from __future__ import annotations

EXAMPLES = {
    "config": "CLUSTER_ID=10 IP_MODE=dual-stack dind-cluster config --json",
    "split-dump": "dind-cluster dump > dump.txt; dind-cluster split-dump < dump.txt",
    "split-dump64": "curl -s https://ci.example/job/42/log | dind-cluster split-dump64",
    "up": "NUM_NODES=3 CLUSTER_ID=10 dind-cluster up",
    "reup": "dind-cluster reup",
    "doctor": "dind-cluster doctor",
    "down": "CLUSTER_ID=10 dind-cluster down",
    "clean": "dind-cluster clean --all --images",
    "snapshot": "dind-cluster snapshot",
    "restore": "dind-cluster restore",
    "pause": "dind-cluster pause",
    "unpause": "dind-cluster unpause",
    "apiserver-port": "curl -k https://127.0.0.1:$(dind-cluster apiserver-port)/version",
    "build-image": "DIND_K8S_VERSION=v1.35.9 dind-cluster build-image",
    "init": "dind-cluster init --skip-phases=addon/kube-proxy",
    "join": "dind-cluster join",
    "remove-node": "dind-cluster remove-node kube-node-2",
    "copy-image": "docker build -t myapp:dev . && dind-cluster copy-image myapp:dev --node kube-node-1",
    "dump": "dind-cluster dump > cluster-dump.txt",
    "dump64": "dind-cluster dump64   # in a CI job's failure step",
    "export-logs": "dind-cluster export-logs ./logs",
    "e2e": "dind-cluster e2e '\\[Conformance]' '\\[Slow]'",
    "e2e-serial": "dind-cluster e2e-serial '\\[Serial]'",
    "list": "dind-cluster list --json | jq -r '.[].context'",
    "get kubeconfig": "dind-cluster get kubeconfig --name dind-cluster-10 > kubeconfig",
    "export kubeconfig": "dind-cluster export kubeconfig --name dind-cluster-10",
    "registry up": "dind-cluster registry up && docker push localhost:5000/app:dev",
    "registry down": "dind-cluster registry down --volumes",
    "registry status": "DIND_LOCAL_REGISTRY_PORT=5001 dind-cluster registry status",
}


def epilog(name: str) -> str:
    """Typer's epilog (rich markup: a literal [ is written \\[)."""
    return f"Example:  $ {EXAMPLES[name]}"
