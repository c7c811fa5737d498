"""e2e must test this cluster: the plan's context has to lead to the cluster's published apiserver."""
import pytest
import yaml

from dind_cluster import kubeconfig
from dind_cluster.actions.e2e_run import check_context
from dind_cluster.errors import DindError
from dind_cluster.plan import make_plan

PLAN = make_plan({"CLUSTER_ID": "73"})


def write(tmp_path, server, context="dind-cluster-73"):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": context, "user": {}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}]}))
    return path


def test_the_context_of_this_cluster_passes(tmp_path):
    check_context(write(tmp_path, "https://127.0.0.1:32001"), PLAN, 32001)


@pytest.mark.parametrize("server, port, words", [
    ("https://127.0.0.1:32001", 32002, "leads to https://127.0.0.1:32001, not to this cluster's apiserver "
                                       "(https://127.0.0.1:32002)"),
    ("https://prod.example:6443", 32001, "leads to https://prod.example:6443"),
    ("https://127.0.0.1:32001", None, "(not running)"),
])
def test_a_context_leading_elsewhere_is_refused(tmp_path, server, port, words):
    with pytest.raises(DindError) as err:
        check_context(write(tmp_path, server), PLAN, port)
    assert words in err.value.message


def test_a_missing_context_is_refused(tmp_path):
    with pytest.raises(DindError, match="has no context dind-cluster-73"):
        check_context(write(tmp_path, "https://127.0.0.1:1", context="dind"), PLAN, 1)


def test_context_server_follows_context_to_cluster(tmp_path):
    assert kubeconfig.context_server(write(tmp_path, "https://x:1"), "dind-cluster-73") == "https://x:1"
    assert kubeconfig.context_server(tmp_path / "missing", "dind") is None
