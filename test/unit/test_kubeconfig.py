"""The host kubeconfig: admin.conf renamed to the cluster's context, merged without losing other entries."""
import os
import stat
import threading

import pytest
import yaml

from dind_cluster import kubeconfig
from dind_cluster.errors import DindError

ADMIN_CONF = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Q0EK
    server: https://10.192.0.2:6443
  name: kubernetes
contexts:
- context: {cluster: kubernetes, user: kubernetes-admin}
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
users:
- name: kubernetes-admin
  user: {client-certificate-data: Q0VSVAo=, client-key-data: S0VZCg==}
"""
OTHER = {"apiVersion": "v1", "kind": "Config", "current-context": "prod",
         "clusters": [{"name": "prod", "cluster": {"server": "https://prod:6443"}}],
         "users": [{"name": "prod", "user": {"token": "x"}}],
         "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}]}


def test_path_is_first_kubeconfig_entry_or_home():
    assert str(kubeconfig.kubeconfig_path({"KUBECONFIG": "/a/one:/b/two", "HOME": "/h"})) == "/a/one"
    assert str(kubeconfig.kubeconfig_path({"HOME": "/h"})) == "/h/.kube/config"


def test_server_url_brackets_ipv6():
    assert kubeconfig.server_url("127.0.0.1", 32768) == "https://127.0.0.1:32768"
    assert kubeconfig.server_url("::1", 32768) == "https://[::1]:32768"


def test_entry_renames_everything_to_the_context_and_points_at_the_published_port():
    entry = kubeconfig.cluster_entry(ADMIN_CONF, "dind-cluster-10", "https://127.0.0.1:40000")
    assert entry["clusters"] == [{"name": "dind-cluster-10", "cluster": {
        "certificate-authority-data": "Q0EK", "server": "https://127.0.0.1:40000"}}]
    assert entry["users"][0]["name"] == "dind-cluster-10"
    assert entry["users"][0]["user"]["client-key-data"] == "S0VZCg=="
    assert entry["contexts"] == [{"name": "dind-cluster-10",
                                  "context": {"cluster": "dind-cluster-10", "user": "dind-cluster-10"}}]


def test_merge_keeps_other_entries_replaces_ours_and_writes_mode_0600(tmp_path):
    path = tmp_path / "kube" / "config"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(OTHER))
    old = kubeconfig.cluster_entry(ADMIN_CONF, "dind", "https://127.0.0.1:1111")
    new = kubeconfig.cluster_entry(ADMIN_CONF, "dind", "https://127.0.0.1:2222")
    kubeconfig.merge_into(path, old, use_context=False)
    kubeconfig.merge_into(path, new, use_context=False)
    conf = yaml.safe_load(path.read_text())
    assert [c["name"] for c in conf["clusters"]] == ["prod", "dind"]
    assert conf["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:2222"
    assert conf["current-context"] == "prod"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_use_context_switches_current_context(tmp_path):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER))
    kubeconfig.merge_into(path, kubeconfig.cluster_entry(ADMIN_CONF, "dind", "https://x:1"), use_context=True)
    assert yaml.safe_load(path.read_text())["current-context"] == "dind"


def test_concurrent_merges_lose_nothing(tmp_path):
    path = tmp_path / "config"

    def add(i):
        kubeconfig.merge_into(path, kubeconfig.cluster_entry(ADMIN_CONF, f"dind-cluster-{i}", "https://x:1"), False)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = {c["name"] for c in yaml.safe_load(path.read_text())["contexts"]}
    assert names == {f"dind-cluster-{i}" for i in range(12)}


def test_remove_drops_only_our_entries_and_reports_it(tmp_path):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER))
    kubeconfig.merge_into(path, kubeconfig.cluster_entry(ADMIN_CONF, "dind-foo", "https://x:1"), use_context=True)
    assert kubeconfig.remove_from(path, "dind-foo") is True
    conf = yaml.safe_load(path.read_text())
    assert [c["name"] for c in conf["contexts"]] == ["prod"]
    assert conf["current-context"] == ""
    assert kubeconfig.remove_from(path, "dind-foo") is False
    assert kubeconfig.remove_from(tmp_path / "absent", "dind-foo") is False


@pytest.mark.parametrize("text", ["clusters: [\n", "- just\n- a list\n"])
def test_unreadable_kubeconfig_is_a_one_line_error_and_stays_as_it_was(tmp_path, text):
    path = tmp_path / "config"
    path.write_text(text)
    entry = kubeconfig.cluster_entry(ADMIN_CONF, "dind", "https://127.0.0.1:1")
    with pytest.raises(DindError, match=r"kubeconfig .*config"):
        kubeconfig.merge_into(path, entry, use_context=True)
    with pytest.raises(DindError, match=r"kubeconfig .*config"):
        kubeconfig.remove_from(path, "dind")
    assert path.read_text() == text


def test_unwritable_kubeconfig_directory_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    entry = kubeconfig.cluster_entry(ADMIN_CONF, "dind", "https://127.0.0.1:1")
    with pytest.raises(DindError, match=r"^can't write the kubeconfig "):
        kubeconfig.merge_into(blocker / "config", entry, use_context=True)


def test_a_failed_write_leaves_no_temp_file(tmp_path):
    path = tmp_path / "config"
    with pytest.raises(yaml.representer.RepresenterError):
        kubeconfig._write(path, {"bad": object()})
    assert list(tmp_path.iterdir()) == []


def entry():
    return kubeconfig.cluster_entry(ADMIN_CONF, "dind", "https://127.0.0.1:1111")


def test_the_lock_is_kubectls_and_gone_after_a_merge_so_kubectl_config_commands_work(tmp_path):
    # kubectl (client-go) creates <kubeconfig>.lock exclusively and fails while it exists
    path = tmp_path / "config"
    kubeconfig.merge_into(path, entry(), use_context=True)
    kubeconfig.remove_from(path, "dind")
    assert not (tmp_path / "config.lock").exists()


def test_a_merge_waits_while_kubectl_holds_the_lock(tmp_path):
    path, lock = tmp_path / "config", tmp_path / "config.lock"
    lock.write_text("")
    seen = []

    def kubectl_done():
        seen.append(path.exists())  # nothing written while kubectl held the lock
        lock.unlink()

    release = threading.Timer(0.5, kubectl_done)
    release.start()
    kubeconfig.merge_into(path, entry(), use_context=True)
    release.join()
    assert seen == [False]
    assert "dind" in path.read_text() and not lock.exists()


def test_a_lock_that_stays_is_a_one_line_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(kubeconfig, "LOCK_WAIT", 0.3)
    (tmp_path / "config.lock").write_text("")
    with pytest.raises(DindError) as err:
        kubeconfig.merge_into(tmp_path / "config", entry(), use_context=True)
    assert "config.lock" in err.value.message and "\n" not in err.value.message
