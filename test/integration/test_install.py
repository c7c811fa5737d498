"""The tool installed from its wheel into a venv outside the checkout, run from an empty directory:
build-image, up, list, get/export kubeconfig and clean --images on the real engine with the stand-in.

`clean --images` removes every unused image the tool built, on a shared engine; this module keeps
every such image that existed before it (a stopped container of its own uses each one) so that it
removes only what it built itself.
"""
from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import docker.errors
import pytest
import yaml

import clusters
import wheels
from clusters import free_cluster_id, remove_cluster
from dind_cluster.backend.containers import exec_in, tar_of
from dind_cluster.backend.ourimages import our_images
from dind_cluster.images import IMAGE_LABEL

pytestmark = pytest.mark.docker

# A Kubernetes version of this module's own: its node image tag is this module's alone.
K8S_VERSION = "v1.31.80"


@pytest.fixture(scope="module")
def tool(tmp_path_factory) -> Path:
    return wheels.install(tmp_path_factory.mktemp("venv") / "dind")


@pytest.fixture(scope="module")
def env(engine, tmp_path_factory):
    env = clusters.cluster_env(tmp_path_factory.mktemp("home"), CLUSTER_ID=free_cluster_id(engine, 80, 84),
                               DIND_K8S_VERSION=K8S_VERSION)
    env["_CONTEXT"] = f"dind-cluster-{env['CLUSTER_ID']}"
    before = {i.id for i in our_images(engine)}
    yield env
    remove_cluster(engine, f"cluster-{env['CLUSTER_ID']}")
    for image in engine.images.list(filters={"label": IMAGE_LABEL}):
        if image.id not in before and any(t.split(":")[1].startswith(K8S_VERSION) for t in image.tags):
            engine.images.remove(image.id, force=True)


def run(tool: Path, env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(tool), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"dind-cluster {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("empty")


@pytest.fixture(scope="module")
def built(engine, tool, env, elsewhere) -> str:
    return run(tool, env, elsewhere, "build-image").stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def brought_up(built, tool, env, elsewhere) -> subprocess.CompletedProcess:
    return run(tool, env, elsewhere, "-v", "up")


@pytest.fixture(scope="module")
def cluster(brought_up, env):
    return env


def test_the_installed_tool_reads_nothing_from_the_checkout(tool, elsewhere):
    where = subprocess.run([str(tool.parent / "python"), "-c", "import dind_cluster.paths as p; print(p.image_dir())"],
                           cwd=elsewhere, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(tool.parent.parent)) and where.endswith("dind_cluster/image")
    assert (Path(where) / "rootfs" / "usr" / "local" / "sbin" / "dind-entrypoint").stat().st_mode & 0o111


def test_build_image_from_the_wheel_makes_a_node_image(engine, built):
    image = engine.images.get(built)
    assert image.labels[IMAGE_LABEL] == "node"
    assert built.startswith(f"dind-cluster-node:{K8S_VERSION}-")


def test_verbose_up_shows_step_durations_and_commands_and_ends_with_a_summary(brought_up, cluster):
    err = brought_up.stderr.splitlines()
    master = f"kube-master-cluster-{cluster['CLUSTER_ID']}"
    assert f"• Running kubeadm init on {master}" in err  # not a terminal: start and end are plain lines
    assert any(re.fullmatch(rf"✓ Running kubeadm init on {master} \(\d+\.\ds\)", line) for line in err)
    # every command run in a node, once per step (the boot wait: `dind-boot-report N <units>`, one exec a round)
    assert sum(line.startswith(f"{master}$ /usr/local/sbin/dind-boot-report ") for line in err) == 1
    assert sum(line.startswith(f"{master}$ kubeadm init") for line in err) == 1
    summary = brought_up.stdout.splitlines()[-4:]
    assert summary[0].startswith(f"Cluster {cluster['_CONTEXT']} is up: 2 node(s)")
    assert summary[1].split()[2:5] == ["kubectl", "--context", cluster["_CONTEXT"]]
    assert f"CLUSTER_ID={cluster['CLUSTER_ID']} dind-cluster down" in summary[3]


def test_list_shows_the_cluster_running_with_its_nodes_and_apiserver(tool, cluster, elsewhere):
    docs = json.loads(run(tool, cluster, elsewhere, "list", "--json").stdout)
    [doc] = [d for d in docs if d["context"] == cluster["_CONTEXT"]]
    assert doc["state"] == "running" and doc["ip_mode"] == "ipv4"
    assert [n["role"] for n in doc["nodes"]] == ["master", "worker"]
    assert doc["apiserver"].startswith("https://127.0.0.1:")
    line = [ln for ln in run(tool, cluster, elsewhere, "list").stdout.splitlines() if ln.startswith(cluster["_CONTEXT"])]
    assert line[0].split() == [cluster["_CONTEXT"], "running", "ipv4", "2", doc["apiserver"]]


@pytest.mark.parametrize("internal", [False, True])
def test_get_kubeconfig_reaches_the_apiserver_on_loopback_or_the_cluster_network(tool, cluster, elsewhere,
                                                                                 tmp_path, internal):
    args = ["get", "kubeconfig"] + (["--internal"] if internal else [])
    text = run(tool, cluster, elsewhere, *args).stdout
    conf = yaml.safe_load(text)
    server = conf["clusters"][0]["cluster"]["server"]
    master = json.loads(run(tool, cluster, elsewhere, "list", "--json").stdout)
    [doc] = [d for d in master if d["context"] == cluster["_CONTEXT"]]
    assert server == (f"https://{doc['nodes'][0]['ips'][0]}:6443" if internal else doc["apiserver"])
    assert conf["current-context"] == cluster["_CONTEXT"]
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    # The host reaches the cluster network's addresses directly, as a container on it would.
    got = clusters.kubectl({**cluster, "KUBECONFIG": str(path)}, cluster["_CONTEXT"], "get", "nodes", "-o", "name")
    assert got.returncode == 0, got.stderr
    assert len(got.stdout.split()) == 2


def test_export_kubeconfig_brings_back_a_deleted_context(tool, cluster, elsewhere):
    Path(cluster["KUBECONFIG"]).unlink()
    run(tool, cluster, elsewhere, "export", "kubeconfig")
    got = clusters.kubectl(cluster, cluster["_CONTEXT"], "get", "nodes", "-o", "name")
    assert got.returncode == 0, got.stderr
    assert oct(Path(cluster["KUBECONFIG"]).stat().st_mode & 0o777) == "0o600"


def test_copy_image_into_one_named_node_only(engine, module_scope, tool, cluster, elsewhere):
    context = tar_of({"/Dockerfile": "FROM scratch\nCOPY hello /hello\n", "/hello": module_scope.value})
    tag = f"dind-cluster-testtiny:{module_scope.value}"
    engine.images.build(fileobj=io.BytesIO(context), custom_context=True, tag=tag, labels=module_scope.labels, rm=True)
    master, worker = (f"kube-{n}-cluster-{cluster['CLUSTER_ID']}" for n in ("master", "node-1"))
    run(tool, cluster, elsewhere, "copy-image", "--node", worker, tag)
    listed = {n: exec_in(engine.containers.get(n), ["ctr", "-n", "k8s.io", "images", "ls", "-q"])[1] for n in (master, worker)}
    assert tag in listed[worker] and tag not in listed[master]
    wrong = subprocess.run([str(tool), "copy-image", "--node", "kube-node-9", tag], env=cluster, cwd=elsewhere,
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1
    assert wrong.stderr.splitlines()[-1].startswith("ERROR: --node: kube-node-9 is not a running node of cluster")


def test_doctor_reports_the_space_the_tools_images_take(tool, cluster, elsewhere, built):
    done = subprocess.run([str(tool), "doctor"], env=cluster, cwd=elsewhere, capture_output=True, text=True,
                          timeout=300)
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("• images: ")]
    count = int(re.match(r"• images: (\d+) node, helper and snapshot image\(s\): [\d.]+ [KMG]?B", line).group(1))
    assert count >= 3  # at least this module's node image and its cluster's two snapshots
    assert "'dind-cluster clean --images' removes them" in line


def test_clean_images_removes_the_clusters_and_the_images_it_built_and_nothing_else(
        engine, module_scope, tool, cluster, built, elsewhere):
    others = [i for i in our_images(engine) if i.tags != (built,) and i.kind != "snapshot"]
    for image in others:  # a stopped container of this test keeps every image it didn't build
        engine.containers.create(image.id, command=["true"], labels=module_scope.labels)
    snapshots = engine.images.list(filters={"label": f"dind-cluster.io/cluster=cluster-{cluster['CLUSTER_ID']}"})
    assert snapshots, "up took no snapshot"
    out = run(tool, cluster, elsewhere, "clean", "--images").stdout
    assert f"removed node image {built}" in out
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(built)
    assert not engine.images.list(filters={"label": f"dind-cluster.io/cluster=cluster-{cluster['CLUSTER_ID']}"})
    assert {i.id for i in others} <= {i.id for i in our_images(engine)}
    docs = json.loads(run(tool, cluster, elsewhere, "list", "--json").stdout)
    assert cluster["_CONTEXT"] not in [d["context"] for d in docs]
