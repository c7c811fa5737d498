"""Node containers on the real Docker engine: create, ready, network, down/up, snapshots,
clean, pause, copy-image. The pure helpers of the backend are checked first, without Docker."""
from __future__ import annotations

import io
import tarfile

import docker
import docker.errors
import pytest

from dind_cluster.images import NODE_FILES_ENV

from dind_cluster.backend.containers import (BOOT_REPORT, exec_in, exec_with_files, exec_with_files_once_booted,
                                             put_files, show_commands, tar_of, wait_for_nodes)
from dind_cluster.backend.network import ensure_network, overlapping
from dind_cluster.backend.nodes import (Created, clean, create_nodes, list_cluster,
                                        master_port, node_env, node_options, pause, remove_nodes,
                                        unpause)
from dind_cluster.backend.runmode import (CAPABILITIES, RunMode, detect_run_mode,
                                          missing_capabilities)
from dind_cluster.backend.snapshots import (has_snapshot, missing_snapshot_parts,
                                            restore_nodes, snapshot_nodes)
from dind_cluster.backend.transfer import (IMAGE_ID_LABEL, copy_image, normalize_ref,
                                           parse_ctr_images)
from dind_cluster.errors import CommandFailed, DockerError, Timeout
from dind_cluster.naming import CLUSTER_LABEL, ROLE_LABEL

# ---- pure helpers (no Docker) ----


def test_tar_of_holds_files_with_parents_and_mode():
    data = tar_of({"/etc/dind/node.env": "A=1\n", "/x/bin": b"\x00\x01"}, mode=0o600)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert tar.extractfile("etc/dind/node.env").read() == b"A=1\n"
        assert tar.getmember("x/bin").mode == 0o600
    assert names.index("etc") < names.index("etc/dind") < names.index("etc/dind/node.env")


def test_tar_of_refuses_relative_paths():
    with pytest.raises(ValueError):
        tar_of({"etc/x": "y"})


@pytest.mark.parametrize("capbnd, last, missing", [
    ("000001fffeffffff", 40, ("SYS_RESOURCE",)),       # this project's CI machines
    ("000001ffffffffff", 40, ()),
    ("0000003fffffffff", 37, ()),                       # older kernel: caps 0..37
    ("000001fffefffffe", 40, ("CHOWN", "SYS_RESOURCE")),
])
def test_missing_capabilities_reads_the_bounding_set(capbnd, last, missing):
    status = f"Name:\tcontainerd-shim\nCapPrm:\t0\nCapBnd:\t{capbnd}\n"
    assert missing_capabilities(status, last) == missing


def test_missing_capabilities_without_capbnd_is_an_error():
    with pytest.raises(DockerError):
        missing_capabilities("Name: x\n", 40)


@pytest.mark.parametrize("ref, name", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("foo/bar:1", "docker.io/foo/bar:1"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
    ("localhost:5000/x", "localhost:5000/x:latest"),
    ("localhost/x:2", "localhost/x:2"),
])
def test_normalize_ref_gives_containerd_names(ref, name):
    assert normalize_ref(ref) == name


def test_parse_ctr_images_reads_refs_and_labels():
    text = ("REF TYPE DIGEST SIZE PLATFORMS LABELS\n"
            "docker.io/library/a:1 application/vnd.docker.distribution.manifest.v2+json "
            "sha256:ab 1.2 KiB linux/amd64 dind-cluster.io/image-id=sha256:cd,x=y\n"
            "docker.io/library/b:2 application/vnd.oci.image.index.v1+json sha256:ef "
            "3.0 MiB linux/amd64,linux/arm64 -\n")
    assert parse_ctr_images(text) == {
        "docker.io/library/a:1": {IMAGE_ID_LABEL: "sha256:cd", "x": "y"},
        "docker.io/library/b:2": {}}


def test_overlapping_finds_clashes_of_the_same_family_only():
    assert overlapping(("10.192.0.0/24",), ["10.0.0.0/8"]) == ("10.192.0.0/24", "10.0.0.0/8")
    assert overlapping(("10.192.0.0/24",), ["10.193.0.0/24", "fd00::/64"]) is None


def test_node_env_names_the_node_and_its_pod_cidrs(offline_plan):
    env = node_env(offline_plan, offline_plan.master)
    assert f"NODE_NAME={offline_plan.master.name}\n" in env
    assert "POD_CIDRS=10.244.1.0/24\n" in env and "IP_MODE=ipv4\n" in env


@pytest.mark.parametrize("seeds_var, mode", [(True, "rw,nocopy"), (False, "rw")])
def test_node_options_mount_the_volume_nocopy_only_for_an_image_that_seeds_var(
        offline_plan, seeds_var, mode):
    client = docker.DockerClient(base_url="unix:///nonexistent.sock", version="1.41")  # never asked
    opts = node_options(client, offline_plan, offline_plan.master, RunMode(False, 1),
                        seeds_var=seeds_var)
    assert opts["volumes"][offline_plan.master.volume] == {"bind": "/var", "mode": mode}


# ---- real engine ----


def up(client, plan, image, created=None, port=None):
    mode = detect_run_mode(client, image, plan.labels)
    ensure_network(client, plan, created)
    nodes = create_nodes(client, plan, image, mode, apiserver_port=port, created=created)
    wait_for_nodes(nodes, timeout=90)
    return nodes


@pytest.fixture(scope="module")
def cluster(engine, module_scope, node_image):
    plan = module_scope.plan(workers=2)
    return plan, up(engine, plan, node_image)


@pytest.mark.docker
def test_three_nodes_boot_with_planned_names_addresses_and_files(engine, cluster):
    plan, nodes = cluster
    assert [c.name for c in nodes] == [n.name for n in plan.nodes]
    for container, node in zip(nodes, plan.nodes):
        _, state = exec_in(container, ["systemctl", "is-system-running"], check=False)
        assert state.strip() in ("running", "degraded")
        assert exec_in(container, ["hostname"])[1].strip() == node.name
        assert f"inet {node.ips[0]}/24" in exec_in(container, ["ip", "-4", "addr"])[1]
        assert f"NODE_NAME={node.name}" in exec_in(container, ["cat", "/etc/dind/node.env"])[1]
        container.reload()
        assert container.labels[ROLE_LABEL] == node.role
        var = [m for m in container.attrs["Mounts"] if m["Destination"] == "/var"]
        assert var and var[0]["Name"] == node.volume


@pytest.mark.docker
def test_nodes_ping_each_other_over_the_management_network(cluster):
    plan, nodes = cluster
    for container in nodes:
        for other in plan.nodes:
            exec_in(container, ["ping", "-c", "1", "-W", "2", other.ips[0]])


@pytest.mark.docker
def test_run_mode_is_privileged_exactly_when_the_engine_allows_it(engine, cluster, node_image,
                                                                 module_scope):
    plan, nodes = cluster
    mode = detect_run_mode(engine, node_image)
    probe = engine.containers.create(node_image, entrypoint=["/bin/true"], command=[],
                                     privileged=True, labels=module_scope.labels)
    try:
        probe.start()
        privileged_ok = True
    except docker.errors.APIError:
        privileged_ok = False
    assert mode.privileged == privileged_ok
    _, conf = exec_in(nodes[0], ["cat", "/etc/containerd/config.toml"])
    if not mode.privileged:  # the fallback: what the runtime lacks is dropped, nothing else
        assert mode.cap_drop and set(mode.cap_drop) <= set(CAPABILITIES)
        assert "restrict_oom_score_adj = true" in conf  # the entrypoint told containerd
        exec_in(nodes[0], ["test", "-c", "/dev/kmsg"])  # the kubelet's OOM watcher reads it
        # /proc/sys writable as with --privileged (the same value written back: nothing changes)
        exec_in(nodes[0], ["sh", "-c", "cat /proc/sys/vm/overcommit_memory > /proc/sys/vm/overcommit_memory"])
        all_caps = engine.containers.create(node_image, entrypoint=["/bin/true"], command=[],
                                            cap_add=["ALL"], labels=module_scope.labels)
        with pytest.raises(docker.errors.APIError):
            all_caps.start()  # so dropping the missing ones is needed
    else:
        assert "restrict_oom_score_adj = false" in conf


@pytest.mark.docker
def test_dual_stack_nodes_get_both_addresses_and_reach_each_other_over_ipv6(
        engine, scope, node_image):
    plan = scope.plan(workers=1, dual_stack=True)
    nodes = up(engine, plan, node_image)
    worker = plan.nodes[1]
    assert f"inet6 {worker.ips[1]}/64" in exec_in(nodes[1], ["ip", "-6", "addr"])[1]
    forwarding = exec_in(nodes[1], ["cat", "/proc/sys/net/ipv6/conf/all/forwarding"])[1]
    assert forwarding.strip() == "1"
    exec_in(nodes[0], ["ping", "-6", "-c", "1", "-W", "2", worker.ips[1]])


@pytest.mark.docker
def test_master_publishes_6443_on_loopback_only(engine, cluster):
    plan, nodes = cluster
    port = master_port(engine, plan)
    assert isinstance(port, int) and port > 0
    binding = nodes[0].attrs["NetworkSettings"]["Ports"]["6443/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1"
    assert not nodes[1].attrs["NetworkSettings"]["Ports"]


@pytest.mark.docker
def test_exec_in_feeds_large_stdin_and_reports_failures(cluster):
    _, nodes = cluster
    data = bytes(range(256)) * 12289  # ~3 MiB, more than any socket buffer
    code, out = exec_in(nodes[1], ["sh", "-c", "cat > /tmp/in; wc -c < /tmp/in; echo err >&2"],
                        stdin=data)
    # stdout and stderr reach us through separate pipes, so their relative order is not kept
    assert code == 0 and sorted(out.split()) == sorted([str(len(data)), "err"])
    _, env = exec_in(nodes[1], ["sh", "-c", "echo $GREETING"], environment={"GREETING": "hi"})
    assert env.strip() == "hi"
    with pytest.raises(CommandFailed) as failed:
        exec_in(nodes[1], ["sh", "-c", "echo boom; exit 3"])
    assert failed.value.command_exit_code == 3 and "boom" in failed.value.output
    assert exec_in(nodes[1], ["false"], check=False)[0] == 1


@pytest.mark.docker
def test_exec_with_files_puts_them_in_for_the_command_it_runs_and_names_only_that_command(cluster):
    _, nodes = cluster
    exec_in(nodes[2], ["sh", "-c", "mkdir -p /etc/tight && chmod 700 /etc/tight"])
    seen = []
    show_commands(lambda name, argv: seen.append(argv))
    try:
        _, out = exec_with_files(nodes[2], {"/etc/tight/k.yaml": "a: 1\n", "/etc/new/x": "y"},
                                 ["stat", "-c", "%n %a", "/etc/tight/k.yaml", "/etc/tight", "/etc/new"], mode=0o600)
        with pytest.raises(CommandFailed) as failed:
            exec_with_files(nodes[2], {"/etc/tight/k.yaml": "b: 2\n"}, ["sh", "-c", "cat /etc/tight/k.yaml; exit 4"])
    finally:
        show_commands(None)
    assert out.split("\n")[:3] == ["/etc/tight/k.yaml 600", "/etc/tight 700", "/etc/new 755"]
    assert failed.value.argv == ["sh", "-c", "cat /etc/tight/k.yaml; exit 4"] and "b: 2" in failed.value.output
    assert seen == [["stat", "-c", "%n %a", "/etc/tight/k.yaml", "/etc/tight", "/etc/new"],
                    ["sh", "-c", "cat /etc/tight/k.yaml; exit 4"]]


@pytest.mark.docker
def test_put_files_into_a_running_node(cluster):
    _, nodes = cluster
    put_files(nodes[2], {"/etc/kubeadm/a b.yaml": "k: 'v'\n"}, mode=0o600)
    assert exec_in(nodes[2], ["stat", "-c", "%a", "/etc/kubeadm/a b.yaml"])[1].strip() == "600"
    assert exec_in(nodes[2], ["cat", "/etc/kubeadm/a b.yaml"])[1] == "k: 'v'\n"


@pytest.fixture(scope="module")
def tiny_image(engine, module_scope):
    context = tar_of({"/Dockerfile": "FROM scratch\nCOPY hello /hello\n",
                      "/hello": module_scope.value})
    tag = f"dind-cluster-testtiny:{module_scope.value}"
    engine.images.build(fileobj=io.BytesIO(context), custom_context=True, tag=tag,
                        labels=module_scope.labels, rm=True)
    return tag


@pytest.mark.docker
def test_copy_image_reaches_every_nodes_containerd_and_then_skips(engine, cluster, tiny_image):
    plan, nodes = cluster
    first = copy_image(engine, plan, [tiny_image])
    assert first == {c.name: [tiny_image] for c in nodes}
    image_id = engine.images.get(tiny_image).id
    for container in nodes:
        listing = exec_in(container, ["ctr", "-n", "k8s.io", "images", "ls"])[1]
        got = parse_ctr_images(listing)[normalize_ref(tiny_image)]
        assert got[IMAGE_ID_LABEL] == image_id
    assert copy_image(engine, plan.cluster_key, [tiny_image]) == {c.name: [] for c in nodes}


@pytest.mark.docker
def test_pause_then_unpause_the_nodes(engine, cluster):
    plan, nodes = cluster
    assert {c.name for c in pause(engine, plan.cluster_key)} == {n.name for n in plan.nodes}
    try:
        for c in nodes:
            c.reload()
            assert c.status == "paused"
    finally:
        assert len(unpause(engine, plan.cluster_key)) == len(nodes)
    for c in nodes:
        c.reload()
        assert c.status == "running"


@pytest.mark.docker
def test_wait_timeout_names_the_node_and_shows_its_logs(engine, scope, node_image):
    stuck = engine.containers.run(node_image, entrypoint=["sh", "-c", "echo stuck-here; sleep 60"],
                                  command=[], name=f"stuck-{scope.value}", detach=True,
                                  labels=scope.labels)
    with pytest.raises(Timeout) as timeout:
        wait_for_nodes([stuck], timeout=2)
    assert f"stuck-{scope.value}" in timeout.value.message
    assert "stuck-here" in timeout.value.hint


@pytest.mark.docker
def test_down_keeps_volumes_and_network_and_up_reuses_them(engine, scope, node_image):
    plan = scope.plan(workers=1)
    nodes = up(engine, plan, node_image)
    exec_in(nodes[0], ["sh", "-c", "echo kept > /var/kept.txt"])
    net_id = ensure_network(engine, plan).id
    assert remove_nodes(engine, plan.cluster_key) == 2
    left = list_cluster(engine, plan.cluster_key)
    assert left.containers == []
    assert {v.name for v in left.volumes} == {n.volume for n in plan.nodes}
    assert [n.id for n in left.networks] == [net_id]
    created = Created()
    again = up(engine, plan, node_image, created)
    assert created.volumes == [] and created.networks == []
    assert exec_in(again[0], ["cat", "/var/kept.txt"])[1] == "kept\n"


@pytest.mark.docker
def test_a_second_create_replaces_our_leftover_containers(engine, scope, node_image):
    plan = scope.plan(workers=0)  # as after an interrupted `up`: our container is still there
    first = up(engine, plan, node_image)[0]
    exec_in(first, ["sh", "-c", "echo kept > /var/kept.txt"])
    second = up(engine, plan, node_image)[0]
    assert second.id != first.id
    assert [c.id for c in list_cluster(engine, plan.cluster_key).containers] == [second.id]
    assert exec_in(second, ["cat", "/var/kept.txt"])[1] == "kept\n"


@pytest.mark.docker
def test_snapshot_then_restore_keeps_files_in_etc(engine, scope, node_image):
    plan = scope.plan(workers=1)
    nodes = up(engine, plan, node_image)
    assert not has_snapshot(engine, plan)
    exec_in(nodes[1], ["sh", "-c", "mkdir -p /etc/kubernetes && echo joined > /etc/kubernetes/m"])
    images = snapshot_nodes(engine, plan)
    assert all(i.labels[CLUSTER_LABEL] == plan.cluster_key for i in images)
    remove_nodes(engine, plan.cluster_key)
    assert has_snapshot(engine, plan)  # down keeps snapshots
    mode = detect_run_mode(engine, node_image)
    restored = restore_nodes(engine, plan, mode)
    wait_for_nodes(restored, timeout=90)
    assert restored[1].image.tags == [f"dind-cluster-snapshot:{plan.nodes[1].name}"]
    assert exec_in(restored[1], ["cat", "/etc/kubernetes/m"])[1] == "joined\n"
    assert exec_in(restored[1], ["hostname", "-I"])[1].split()[0] == plan.nodes[1].ips[0]


@pytest.mark.docker
def test_snapshot_without_its_volume_is_no_snapshot(engine, scope, node_image):
    plan = scope.plan(workers=0)
    up(engine, plan, node_image)
    snapshot_nodes(engine, plan)
    remove_nodes(engine, plan.cluster_key)
    engine.volumes.get(plan.master.volume).remove()
    assert missing_snapshot_parts(engine, plan) == [f"volume {plan.master.volume}"]
    with pytest.raises(DockerError, match="no complete snapshot"):
        restore_nodes(engine, plan, detect_run_mode(engine, node_image))


@pytest.mark.docker
def test_clean_removes_everything_labelled_and_spares_unlabelled_canaries(
        engine, scope, node_image):
    plan = scope.plan(workers=1)
    up(engine, plan, node_image)
    snapshot_nodes(engine, plan)
    canary = f"kube-node-9-{scope.value}"  # looks like ours, lacks our cluster label
    engine.containers.create(node_image, name=canary, labels=scope.labels)
    engine.volumes.create(f"kubeadm-dind-{canary}", labels=scope.labels)
    engine.networks.create(f"kubeadm-dind-net-{scope.value}-canary", labels=scope.labels)
    clean(engine, plan.cluster_key)
    left = list_cluster(engine, plan.cluster_key)
    assert (left.containers, left.volumes, left.networks, left.images) == ([], [], [], [])
    engine.containers.get(canary)
    engine.volumes.get(f"kubeadm-dind-{canary}")
    engine.networks.get(f"kubeadm-dind-net-{scope.value}-canary")
    clean(engine, plan.cluster_key)  # idempotent


@pytest.mark.docker
def test_clean_names_a_foreign_container_that_keeps_the_network_in_use(engine, scope, node_image):
    plan = scope.plan()
    ensure_network(engine, plan)
    stranger = engine.containers.run(node_image, ["sleep", "300"], entrypoint=[], detach=True,
                                     network=plan.network.name, labels=scope.labels,
                                     name=f"debug-shell-{scope.value}")
    with pytest.raises(DockerError) as refused:
        clean(engine, plan.cluster_key)
    assert f"still attached: debug-shell-{scope.value}" in refused.value.message
    assert "docker network disconnect" in refused.value.hint
    stranger.remove(force=True)
    clean(engine, plan.cluster_key)
    assert list_cluster(engine, plan.cluster_key).networks == []


@pytest.mark.docker
def test_ensure_network_refuses_a_foreign_network_of_the_same_name(engine, scope):
    plan = scope.plan()
    engine.networks.create(plan.network.name, labels=scope.labels)
    with pytest.raises(DockerError, match=plan.network.name):
        ensure_network(engine, plan)


@pytest.mark.docker
def test_ensure_network_refuses_a_subnet_taken_by_another_network(engine, scope):
    plan = scope.plan()
    from docker.types import IPAMConfig, IPAMPool
    engine.networks.create(f"other-{scope.value}", labels=scope.labels, ipam=IPAMConfig(
        pool_configs=[IPAMPool(subnet=plan.network.subnets[0])]))
    with pytest.raises(DockerError) as refused:
        ensure_network(engine, plan)
    assert plan.network.subnets[0] in refused.value.message
    assert f"other-{scope.value}" in refused.value.message


@pytest.mark.docker
def test_rollback_removes_what_this_run_created(engine, scope, node_image):
    plan = scope.plan(workers=1)
    created = Created()
    up(engine, plan, node_image, created)
    assert len(created.containers) == 2 and len(created.volumes) == 2
    created.rollback()
    left = list_cluster(engine, plan.cluster_key)
    assert (left.containers, left.volumes, left.networks) == ([], [], [])


@pytest.mark.docker
def test_a_container_of_another_owner_blocks_create(engine, scope, node_image):
    plan = scope.plan(workers=0)
    engine.containers.create(node_image, name=plan.master.name, labels=scope.labels)
    ensure_network(engine, plan)
    with pytest.raises(DockerError, match="not part of cluster"):
        create_nodes(engine, plan, node_image, detect_run_mode(engine, node_image))
    assert engine.containers.get(plan.master.name).labels.get(CLUSTER_LABEL) is None
    assert scope.labels.items() <= engine.containers.get(plan.master.name).labels.items()


@pytest.mark.docker
def test_a_node_whose_network_set_up_fails_at_boot_is_named_with_its_journal(engine, scope, node_image):
    """`up` reads each node's set-up units from the same exec that waits for its boot: a routes
    file the node can't apply (a gateway on no network of the node) fails dind-node-setup, and
    the step says which node and shows the unit's journal."""
    import os

    from dind_cluster.actions.context import ActionContext
    from dind_cluster.actions.steps import SETUP_UNITS, check_node_setup
    from dind_cluster.cni import ROUTES_PATH
    from dind_cluster.errors import DindError
    from dind_cluster.ui import Progress

    plan = scope.plan(workers=0)
    mode = detect_run_mode(engine, node_image, plan.labels)
    ensure_network(engine, plan)
    bad = {plan.master.name: {ROUTES_PATH: "-4 10.244.9.0/24 192.0.2.1\n"}}
    node = create_nodes(engine, plan, node_image, mode, extra_files=bad)[0]
    reports = wait_for_nodes([node], timeout=90, units=SETUP_UNITS)
    assert reports[0].state == "ready" and reports[0].units["dind-node-setup.service"] == "failed"
    ctx = ActionContext(plan=plan, values={}, environ=dict(os.environ), progress=Progress(quiet=True),
                        _client=engine)
    with pytest.raises(DindError) as failed:
        check_node_setup(ctx, [node], reports)
    assert node.name in failed.value.message and "network set-up" in failed.value.message
    assert "dind-node-setup" in failed.value.hint


@pytest.mark.docker
def test_a_node_image_without_the_boot_report_fails_at_once_saying_so(engine, scope, node_image):
    # as a DIND_IMAGE built by an older dind-cluster would: no waiting out the boot timeout
    old = engine.containers.run(node_image, entrypoint=["sh", "-c", "rm /usr/local/sbin/dind-boot-report; sleep 60"],
                                command=[], name=f"old-{scope.value}", detach=True, labels=scope.labels)
    while "dind-boot-report" in exec_in(old, ["ls", "/usr/local/sbin"])[1]:
        pass
    with pytest.raises(DockerError) as failed:
        wait_for_nodes([old], timeout=60)
    assert "older than this dind-cluster" in failed.value.message and "build-image" in failed.value.hint


@pytest.mark.docker
def test_a_node_whose_entrypoint_fails_is_reported_stopped_with_its_log(engine, scope, node_image, monkeypatch):
    # The engine restarts it (restart policy) while we wait; an exec into it then fails, which is
    # not a missing boot report. Files that can't be written fail its entrypoint.
    import dind_cluster.backend.nodes as nodes

    plan = scope.plan(workers=0)
    mode = detect_run_mode(engine, node_image, plan.labels)
    ensure_network(engine, plan)
    monkeypatch.setattr(nodes, "files_environment", lambda files: {NODE_FILES_ENV: "0123456789abcdef:!!not base64"})
    node = create_nodes(engine, plan, node_image, mode)[0]
    with pytest.raises(DockerError) as failed:
        wait_for_nodes([node], timeout=60)
    assert "stopped while starting" in failed.value.message, failed.value.message
    assert "could not write the node's files" in failed.value.hint


# dind-boot-report as images before `up` booted and joined a worker in one exec had it: "--" and the
# command were taken for units, and it ended with 0 having run nothing.
REPORT_WITHOUT_COMMAND = """#!/bin/sh
echo systemd=running; echo containerd=up; echo br_netfilter=yes
for unit in "$@"; do echo "unit:$unit=inactive"; done
"""


@pytest.mark.docker
def test_a_node_image_whose_boot_report_cant_run_a_command_fails_the_join_saying_so(engine, scope, node_image):
    old = engine.containers.run(node_image, entrypoint=["sleep", "60"], command=[], name=f"old-{scope.value}",
                                detach=True, labels=scope.labels)
    put_files(old, {BOOT_REPORT: REPORT_WITHOUT_COMMAND}, mode=0o755)
    with pytest.raises(DockerError) as failed:
        exec_with_files_once_booted(old, {"/etc/kubeadm/join.yaml": "x"}, ["kubeadm", "join"], timeout=60)
    assert "older than this dind-cluster" in failed.value.message and "build-image" in failed.value.hint


def cgroup_cpu_weight(container) -> int:
    """The node's CPU weight as the kernel has it (cgroup v1 cpu.shares, v2 cpu.weight)."""
    for path in (f"/sys/fs/cgroup/cpu/docker/{container.id}/cpu.shares",
                 f"/sys/fs/cgroup/cpu,cpuacct/docker/{container.id}/cpu.shares",
                 f"/sys/fs/cgroup/system.slice/docker-{container.id}.scope/cpu.weight"):
        try:
            return int(open(path).read())
        except OSError:
            continue
    pytest.skip("no cgroup CPU weight file of the engine's containers on this host")


@pytest.mark.docker
def test_workers_boot_at_a_low_cpu_weight_and_get_the_default_back(engine, scope, node_image):
    """While the master boots and runs kubeadm init on a small host, workers booting beside it
    get an eighth of its CPU weight; once booted they are back at the default."""
    from dind_cluster.backend.nodes import BOOT_CPU_SHARES, DEFAULT_CPU_SHARES, restore_cpu_shares

    plan = scope.plan(workers=1)
    mode = detect_run_mode(engine, node_image, plan.labels)
    ensure_network(engine, plan)
    master = create_nodes(engine, plan, node_image, mode, nodes=plan.nodes[:1])[0]
    worker = create_nodes(engine, plan, node_image, mode, nodes=plan.nodes[1:],
                          cpu_shares={plan.nodes[1].name: BOOT_CPU_SHARES})[0]
    default, low = cgroup_cpu_weight(master), cgroup_cpu_weight(worker)
    assert low < default / 4
    wait_for_nodes([master, worker], timeout=90)
    restore_cpu_shares([worker])
    assert cgroup_cpu_weight(worker) == default
    worker.reload()
    assert worker.attrs["HostConfig"]["CpuShares"] in (0, DEFAULT_CPU_SHARES)


def _with_call_timeout(container, seconds: float):
    """The same container through a client whose calls time out after `seconds` (CALL_TIMEOUT's role)."""
    client = docker.from_env(timeout=seconds)
    return client.containers.get(container.id)


@pytest.mark.docker
def test_a_command_fed_on_stdin_may_stay_silent_longer_than_the_call_timeout(cluster):
    # kubeadm init and join get their config as a tar on stdin; a real one is silent for minutes
    # while it pulls images or waits for the kubelet's TLS bootstrap (up to 5 min by its defaults)
    _, nodes = cluster
    node = _with_call_timeout(nodes[1], 1)
    code, out = exec_in(node, ["sh", "-c", "cat > /dev/null; sleep 3; echo finished"], stdin=b"config")
    assert (code, out) == (0, "finished\n")


@pytest.mark.docker
def test_stdin_that_the_command_never_reads_fails_within_the_call_timeout(cluster):
    _, nodes = cluster
    node = _with_call_timeout(nodes[1], 1)
    data = (b"x" * (1 << 20) for _ in range(64))   # more than the pipe and socket buffers hold
    with pytest.raises(DockerError) as failed:
        exec_in(node, ["sleep", "20"], stdin=data)
    assert "stdin" in failed.value.message and "1 s" in failed.value.message
