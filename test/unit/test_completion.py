"""Shell completion: scripts for bash, zsh and fish, and the candidates the tool gives back through
Typer's protocol (_DIND_CLUSTER_COMPLETE) for subcommands, options and their values."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dind_cluster import completion
from dind_cluster.backend.inventory import ClusterFacts, NodeFacts
from dind_cluster.versions import PINNED


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o default -F"), ("zsh", "compdef"),
                                           ("fish", "complete --command dind-cluster")])
def test_completion_scripts_are_produced_for_each_shell(shell, marker):
    # Typer detects the user's shell; with detection off, the shell is named on the command line.
    done = tool("--show-completion", shell, env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert marker in done.stdout
    assert f"_DIND_CLUSTER_COMPLETE=complete_{shell}" in done.stdout


def tool(*args: str, env: dict) -> subprocess.CompletedProcess:
    """The tool as its console script runs it (prog name dind-cluster), in a subprocess."""
    done = subprocess.run([sys.executable, "-c", "from dind_cluster.cli import main; main()", *args],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done


def complete_bash(words: str, env: dict | None = None) -> list:
    """What bash's completion function would get for the command line `words`."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    return tool(env={**(env or {}), "_DIND_CLUSTER_COMPLETE": "complete_bash", "COMP_WORDS": words,
                     "COMP_CWORD": str(cword)}).stdout.split()


def test_subcommands_options_and_fixed_values_complete_through_the_shell_protocol():
    assert {"up", "down", "list", "get", "export", "clean"} <= set(complete_bash("dind-cluster "))
    assert complete_bash("dind-cluster get ") == ["kubeconfig"]
    assert "--images" in complete_bash("dind-cluster clean --")
    assert complete_bash("dind-cluster --ip-mode ") == ["ipv4", "ipv6", "dual-stack"]
    assert complete_bash("dind-cluster --cni calico") == ["calico", "calico-kdd"]


def test_an_engine_that_does_not_answer_gives_no_candidates_and_no_noise():
    assert complete_bash("dind-cluster get kubeconfig --name ", {"DOCKER_HOST": "unix:///nonexistent.sock"}) == []


def test_kubernetes_versions_complete_to_the_pinned_patches():
    assert [v for v, _ in completion.k8s_versions("v1.3")] == list(PINNED.values())
    assert completion.k8s_versions("v1.37") == [(PINNED["1.37"], "Kubernetes 1.37")]


CLUSTERS = [
    ClusterFacts("default", "ipv4", (NodeFacts("kube-master", "master", "running", ()),), 1, 1),
    ClusterFacts("cluster-10", "ipv6", (NodeFacts("kube-master-cluster-10", "master", "running", ()),
                                        NodeFacts("kube-node-1-cluster-10", "worker", "running", ())), 2, 1),
    ClusterFacts("foo", None, (), 1, 1),
    ClusterFacts("bar-3", "ipv4", (), 1, 1),
    ClusterFacts("baz-300", "ipv4", (), 1, 1),   # DIND_LABEL=baz-300: 300 is no cluster ID
]


@pytest.fixture
def engine_clusters(monkeypatch):
    monkeypatch.setattr(completion, "_clusters", lambda environ: CLUSTERS)


def test_contexts_ids_and_nodes_complete_from_the_engines_clusters(engine_clusters):
    assert [v for v, _ in completion.contexts({}, "dind")] == [
        "dind", "dind-cluster-10", "dind-foo", "dind-bar-3", "dind-baz-300"]
    assert [v for v, _ in completion.contexts({}, "dind-c")] == ["dind-cluster-10"]
    assert completion.cluster_ids({}, "") == [("10", "dind-cluster-10"), ("3", "dind-bar-3")]
    assert completion.labels({}, "") == [("foo", "dind-foo"), ("bar", "with --cluster-id 3"),
                                         ("baz-300", "dind-baz-300")]
    assert [v for v, _ in completion.node_names({}, "kube-node")] == ["kube-node-1-cluster-10"]
    assert ("kube-master", "master of dind") in completion.node_names({}, "")

