"""The run mode learnt about an engine is kept on disk, per engine, so later commands skip the probes."""
from unittest import mock

import docker

from dind_cluster.backend import runmode
from dind_cluster.backend.runmode import RunMode, detect_run_mode

INFO = {"ID": "ENGINE-A", "ServerVersion": "20.10.24", "KernelVersion": "6.1", "SecurityOptions": [],
        "CgroupVersion": "1"}


def engine(info):
    client = mock.create_autospec(docker.DockerClient, instance=True)
    client.info.return_value = info
    return client


def test_a_cached_mode_is_used_without_probing(tmp_path, monkeypatch):
    monkeypatch.setattr(runmode, "_cache", {})
    fallback = RunMode(False, 1, ("SYS_RESOURCE",), ("SYS_RESOURCE",))
    runmode._save(runmode._cache_file(tmp_path, INFO), fallback)
    probe = mock.Mock(side_effect=AssertionError("probed although cached"))
    monkeypatch.setattr(runmode, "_privileged_works", probe)
    assert detect_run_mode(engine(INFO), "img", cache_dir=tmp_path) == fallback


def test_another_engine_or_kernel_has_its_own_entry(tmp_path):
    assert runmode._cache_file(tmp_path, INFO) != runmode._cache_file(tmp_path, {**INFO, "KernelVersion": "6.2"})
    assert runmode._cache_file(tmp_path, INFO) != runmode._cache_file(tmp_path, {**INFO, "ID": "ENGINE-B"})


def test_probed_mode_is_written_for_the_next_command(tmp_path, monkeypatch):
    monkeypatch.setattr(runmode, "_cache", {})
    monkeypatch.setattr(runmode, "_privileged_works", lambda *a: True)
    mode = detect_run_mode(engine({**INFO, "ID": "ENGINE-C"}), "img", cache_dir=tmp_path)
    assert mode == RunMode(True, 1)
    assert runmode._load(runmode._cache_file(tmp_path, {**INFO, "ID": "ENGINE-C"})) == mode
