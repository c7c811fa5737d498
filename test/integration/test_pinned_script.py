"""A generated fixed/dind-cluster-v1.NN.sh, copied alone into an empty directory, installs the tool into
its own cached venv from a local package source (the wheel built from this checkout) and brings up a
cluster of its pinned patch release with the stand-in; the second run installs nothing."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import clusters
import wheels
from clusters import free_cluster_id, remove_cluster
from dind_cluster import __version__
from dind_cluster.images import IMAGE_LABEL, VERSION_LABEL
from dind_cluster.versions import PINNED as SUPPORTED

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
MINOR = list(SUPPORTED)[-1]
PINNED = SUPPORTED[MINOR]


@pytest.fixture(scope="module")
def script_env(engine, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    env = clusters.cluster_env(home, CLUSTER_ID=free_cluster_id(engine, 85, 89), XDG_CACHE_HOME=str(home / "cache"),
                               DIND_PACKAGE=f"dind-cluster=={__version__}",
                               DIND_PIP_OPTIONS=f"--no-index --find-links {wheels.wheelhouse()}")
    env.pop("DIND_K8S_VERSION", None)
    before = {i.id for i in engine.images.list(filters={"label": f"{VERSION_LABEL}={PINNED}"})}
    yield env
    remove_cluster(engine, f"cluster-{env['CLUSTER_ID']}")
    for image in engine.images.list(filters={"label": f"{VERSION_LABEL}={PINNED}"}):
        if image.id not in before and image.labels.get(IMAGE_LABEL) == "node":
            engine.images.remove(image.id, force=True)


def run(script: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(script), *args], cwd=script.parent, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"{script.name} {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def test_a_fixed_script_alone_installs_the_tool_once_and_brings_up_its_pinned_version(
        engine, script_env, tmp_path):
    script = tmp_path / f"dind-cluster-v{MINOR}.sh"
    shutil.copy(REPO / "fixed" / script.name, script)
    first = run(script, script_env, "up")
    venv = Path(script_env["XDG_CACHE_HOME"]) / "dind-cluster" / "fixed" / __version__
    assert first.stderr.splitlines()[0] == f"dind-cluster: installing dind-cluster=={__version__} into {venv} (once)…"
    master = engine.containers.get(f"kube-master-cluster-{script_env['CLUSTER_ID']}")
    assert master.image.labels[VERSION_LABEL] == PINNED
    again = run(script, script_env, "list", "--json")
    assert "installing" not in again.stderr
    [doc] = [d for d in json.loads(again.stdout) if d["context"] == f"dind-cluster-{script_env['CLUSTER_ID']}"]
    assert doc["state"] == "running"
    run(script, script_env, "clean")
    assert not clusters.owned(engine, f"cluster-{script_env['CLUSTER_ID']}")[0]
