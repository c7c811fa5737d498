"""A node's first boot, cheaply: Docker copies nothing into its fresh /var volume (mounted nocopy
because the node image's label says its entrypoint seeds /var from the image), the entrypoint does,
before systemd starts; a restarted node keeps its /var. Units a node has no use for stay inactive
and the node still reaches the state the boot wait waits for. Real engine, real systemd."""
from __future__ import annotations

import time

import docker
import pytest

from dind_cluster.backend.containers import boot_report, exec_in, exec_with_files_once_booted, wait_for_nodes
from dind_cluster.backend.network import ensure_network
from dind_cluster.backend.nodes import NODE_ENV_PATH, create_nodes
from dind_cluster.backend.runmode import detect_run_mode
from dind_cluster.cni import ROUTES_PATH
from dind_cluster.images import NODE_FILES_ENV, NODE_FILES_LABEL, VAR_SEED_LABEL

pytestmark = pytest.mark.docker

STAGING = "/var/.dind-seeding"   # where the entrypoint copies the seed before moving it into place
# What the image's /var holds that the node's software needs (dpkg and apt databases, kubelet's dir).
SEEDED = ("/var/lib/dpkg", "/var/lib/apt", "/var/lib/kubelet")


def boot(engine, plan, image):
    mode = detect_run_mode(engine, image, plan.labels)
    ensure_network(engine, plan)
    nodes = create_nodes(engine, plan, image, mode)
    wait_for_nodes(nodes, timeout=90)
    return nodes


def listing(container, *paths: str) -> set:
    """path, owner, group, mode and link target of everything under `paths`."""
    out = exec_in(container, ["find", *paths, "-printf", r"%p %u %g %m %l\n"])[1]
    return set(out.splitlines())


@pytest.fixture(scope="module")
def image_var(engine, module_scope, node_image) -> set:
    """The same listing of the image's own /var (a container without any volume on it)."""
    holder = engine.containers.run(node_image, entrypoint=["sleep", "infinity"], command=[],
                                   detach=True, labels=module_scope.labels)
    try:
        return listing(holder, *SEEDED)
    finally:
        holder.remove(force=True)


@pytest.fixture(scope="module")
def cluster(engine, module_scope, node_image):
    plan = module_scope.plan(workers=1)
    return plan, boot(engine, plan, node_image)


def test_the_node_image_says_its_entrypoint_seeds_var(engine, node_image):
    assert engine.images.get(node_image).labels.get(VAR_SEED_LABEL) == "/var"


def test_a_fresh_node_volume_is_mounted_nocopy_and_gets_the_image_var(cluster, image_var):
    _, nodes = cluster
    for node in nodes:
        var = [m for m in node.attrs["Mounts"] if m["Destination"] == "/var"][0]
        assert var["Type"] == "volume" and "nocopy" in var["Mode"], var
        assert listing(node, *SEEDED) >= image_var
        assert exec_in(node, ["dpkg-query", "-W", "-f", "${Status}", "systemd"])[1] == "install ok installed"
        # containerd keeps its state on the volume (preloaded images too: test_node_image.py).
        assert exec_in(node, ["stat", "-c", "%m", "/var/lib/containerd"])[1].strip() == "/var"
        assert exec_in(node, ["test", "-e", STAGING], check=False)[0] == 1


def test_dpkg_database_stays_in_the_image_and_still_works(cluster):
    """Most of the image's /var by file count (what copying it costs): not in each node's volume."""
    _, nodes = cluster
    node = nodes[0]
    assert exec_in(node, ["find", "/var", "-xdev", "-path", "*/dpkg/info/*", "-print", "-quit"])[1] == ""
    target = exec_in(node, ["readlink", "/var/lib/dpkg"])[1].strip()
    assert not target.startswith("/var/"), target
    exec_in(node, ["apt-mark", "hold", "bash"])            # dpkg writes its status through the link
    assert exec_in(node, ["apt-mark", "showhold"])[1].split() == ["bash"]


def test_the_node_image_says_its_entrypoint_writes_the_files_its_environment_carries(engine, node_image):
    assert engine.images.get(node_image).labels.get(NODE_FILES_LABEL) == NODE_FILES_ENV


def test_an_image_that_doesnt_say_so_gets_its_files_as_an_archive(engine, scope, node_image):
    # A DIND_IMAGE or snapshot made by an older dind-cluster: its entrypoint would ignore the variable.
    plan = scope.plan(workers=0)
    holder = engine.containers.create(node_image, labels=scope.labels)
    older = holder.commit(repository=f"older-{scope.value}", tag="x", changes=[f"LABEL {NODE_FILES_LABEL}=no"])
    holder.remove()   # the image keeps the scope's label: the fixture removes it
    mode = detect_run_mode(engine, node_image, plan.labels)
    ensure_network(engine, plan)
    since = int(time.time()) - 1
    node = create_nodes(engine, plan, older.id, mode, extra_files={plan.master.name: {"/etc/dind/probe": "p\n"}})[0]
    assert exec_in(node, ["cat", "/etc/dind/probe"])[1] == "p\n"
    assert not any(e.startswith(NODE_FILES_ENV + "=") for e in node.attrs["Config"]["Env"])
    actions = [e["Action"] for e in engine.events(since=since, until=int(time.time()) + 1, decode=True,
                                                   filters={"type": "container", "container": node.id})]
    assert "extract-to-dir" in actions, actions


def test_a_restarted_node_keeps_its_var_and_the_files_changed_since_its_first_boot(cluster):
    # The files a node is created with come in its environment and are written at its first boot
    # only: `join` and `remove-node` rewrite a node's routes later, and a restart must keep them.
    _, nodes = cluster
    worker = nodes[1]
    exec_in(worker, ["sh", "-c", "echo kept > /var/lib/kept && rm /var/lib/dpkg/status-old "
                                 f"&& echo '# changed' >> {NODE_ENV_PATH}"])
    worker.restart()
    wait_for_nodes([worker], timeout=90)
    assert exec_in(worker, ["cat", "/var/lib/kept"])[1] == "kept\n"
    assert exec_in(worker, ["test", "-e", "/var/lib/dpkg/status-old"], check=False)[0] == 1
    assert exec_in(worker, ["tail", "-n", "1", NODE_ENV_PATH])[1] == "# changed\n"


def test_a_new_nodes_files_come_with_its_container_not_through_an_engine_archive(engine, scope, node_image):
    # A put_archive costs dockerd a re-execution of itself (~70 ms of CPU) for every node of `up`.
    plan = scope.plan(workers=0)
    mode = detect_run_mode(engine, node_image, plan.labels)
    ensure_network(engine, plan)
    since = int(time.time()) - 1
    files = {"/etc/dind/probe/first": "one\n", "/etc/containerd/certs.d/probe/hosts.toml": "server = 'x'\n"}
    node = create_nodes(engine, plan, node_image, mode, extra_files={plan.master.name: files})[0]
    wait_for_nodes([node], timeout=90)
    for path, content in files.items():
        assert exec_in(node, ["cat", path])[1] == content
    assert f"NODE_NAME={plan.master.name}\n" in exec_in(node, ["cat", NODE_ENV_PATH])[1]
    assert exec_in(node, ["stat", "-c", "%a", "/etc/containerd"])[1].strip() == "755"   # kept its mode
    actions = [e["Action"] for e in engine.events(since=since, until=int(time.time()) + 1, decode=True,
                                                   filters={"type": "container", "container": node.id})]
    assert "start" in actions and "extract-to-dir" not in actions, actions
    # systemd, and so every service of the node, runs without that variable.
    assert b"DIND_NODE_FILES" not in exec_in(node, ["cat", "/proc/1/environ"])[1].encode()


def boot_on(engine, scope, image, script: str):
    """A one-node cluster whose empty volume `script` prepared first (as a boot cut short would)."""
    plan = scope.plan(workers=0)
    volume = plan.master.volume
    engine.volumes.create(volume, labels=dict(plan.labels))
    engine.containers.run(image, entrypoint=["sh", "-c", script], command=[], remove=True,
                          labels=scope.labels, volumes={volume: {"bind": "/var", "mode": "rw,nocopy"}})
    return boot(engine, plan, image)[0]


def test_an_interrupted_first_copy_is_done_again_not_taken_as_complete(engine, scope, node_image):
    """A half-copied staging directory (no completion mark) is thrown away and /var seeded anew."""
    node = boot_on(engine, scope, node_image, f"mkdir -p {STAGING}/var/lib && touch {STAGING}/var/lib/half")
    assert exec_in(node, ["test", "-e", STAGING], check=False)[0] == 1
    assert exec_in(node, ["test", "-e", "/var/lib/half"], check=False)[0] == 1
    assert exec_in(node, ["test", "-s", "/var/lib/dpkg/status"], check=False)[0] == 0


# Masked in image/setup.sh (each with its reason there): first-boot units, host-wide sysctls,
# module loading with nothing to load.
LEAN = ("ldconfig.service", "systemd-sysusers.service", "systemd-journal-catalog-update.service",
        "systemd-update-done.service", "systemd-sysctl.service", "systemd-modules-load.service")
KEPT = ("dbus.service", "systemd-journald.service", "systemd-tmpfiles-setup.service",
        "containerd.service")


def test_units_a_node_has_no_use_for_stay_inactive_and_it_still_boots(cluster):
    _, nodes = cluster
    for node in nodes:
        assert boot_report(node).state == "ready"
        for unit in LEAN + KEPT:
            load, active = exec_in(node, ["systemctl", "show", "-p", "LoadState", "-p", "ActiveState",
                                          "--value", unit])[1].split()
            assert (load, active) == (("masked", "inactive") if unit in LEAN else ("loaded", "active")), unit
        # The generators are masked too: none wrote its units (the getty one would want a console).
        assert exec_in(node, ["find", "/run/systemd", "-path", "*/generator*", "-mindepth", "2"])[1] == ""


def test_the_boot_report_says_when_containerd_or_a_unit_is_not_running(cluster):
    _, nodes = cluster
    node = nodes[0]
    exec_in(node, ["systemctl", "stop", "containerd.service"])
    try:
        report = boot_report(node, units=("dind-node-setup.service", "no-such.service"))
        assert (report.containerd, report.state) == (False, "containerd not answering")
        assert report.units == {"dind-node-setup.service": "active", "no-such.service": "inactive"}
    finally:
        exec_in(node, ["systemctl", "start", "containerd.service"])
    assert boot_report(node).state == "ready"


def test_a_complete_copy_whose_move_into_place_was_cut_short_is_finished(engine, scope, node_image):
    node = boot_on(engine, scope, node_image, f"mkdir -p {STAGING}/var/lib && touch {STAGING}/var/lib/copied "
                                              f"{STAGING}/.complete && mkdir /var/lib && ln {STAGING}/var/lib/copied /var/lib/")
    assert exec_in(node, ["test", "-e", STAGING], check=False)[0] == 1
    assert exec_in(node, ["stat", "-c", "%h", "/var/lib/copied"])[1].strip() == "1"   # staging gone


def test_a_node_asked_as_soon_as_it_starts_answers_in_one_exec_once_booted(engine, scope, node_image):
    # systemd's bus comes up a moment after the container starts; asked before that, the report
    # used to come back empty at once and every node cost the engine two or three execs.
    plan = scope.plan(workers=0)
    mode = detect_run_mode(engine, node_image, plan.labels)
    ensure_network(engine, plan)
    node = create_nodes(engine, plan, node_image, mode)[0]
    report = boot_report(node, wait=90, units=("dind-node-setup.service",))
    assert (report.state, report.units) == ("ready", {"dind-node-setup.service": "active"})


def test_a_command_given_to_the_boot_wait_runs_once_the_node_is_booted_in_the_same_exec(engine, scope, node_image):
    # `up` boots and joins each worker so: kubeadm join with its config, as soon as that node is booted.
    plan = scope.plan(workers=0)
    mode = detect_run_mode(engine, node_image, plan.labels)
    ensure_network(engine, plan)
    node = create_nodes(engine, plan, node_image, mode)[0]
    script = "systemctl is-system-running; cat /etc/kubeadm/probe.yaml; exit 3"
    report, code, out = exec_with_files_once_booted(node, {"/etc/kubeadm/probe.yaml": "kind: Probe\n"},
                                                    ["sh", "-c", script], timeout=90, units=("dind-node-setup.service",))
    assert (report.state, report.units) == ("ready", {"dind-node-setup.service": "active"})
    state, *printed = out.split()
    assert (code, printed) == (3, ["kind:", "Probe"]) and state in ("running", "degraded"), out
    assert exec_in(node, ["stat", "-c", "%a", "/etc/kubeadm/probe.yaml"])[1].strip() == "644"


def test_the_command_given_to_the_boot_wait_doesnt_run_on_a_node_whose_set_up_failed(engine, scope, node_image):
    # A node joins only once its network set-up is done; a route that can't be added fails it.
    plan = scope.plan(workers=0)
    mode = detect_run_mode(engine, node_image, plan.labels)
    ensure_network(engine, plan)
    bad = {plan.master.name: {ROUTES_PATH: "-4 10.244.9.0/24 192.0.2.1\n"}}
    node = create_nodes(engine, plan, node_image, mode, extra_files=bad)[0]
    report, code, _ = exec_with_files_once_booted(node, {}, ["touch", "/etc/ran"], timeout=90,
                                                  units=("dind-node-setup.service",))
    assert (report.state, report.units, code) == ("ready", {"dind-node-setup.service": "failed"}, 76)
    assert exec_in(node, ["test", "-e", "/etc/ran"], check=False)[0] == 1


def test_a_nodes_journal_on_its_kept_var_is_held_to_a_small_size(cluster):
    # The journal lives on the /var volume that down/up keep, and a node is removed without a clean
    # shutdown: its next boot leaves the last file aside and starts a new one, 8 MiB each time.
    # journald's own limit (10 % of the file system, up to 4 GiB) would let that pile up per node.
    _, nodes = cluster
    for node in nodes:
        exec_in(node, ["journalctl", "--flush"])
        said = exec_in(node, ["journalctl", "-b", "-u", "systemd-journald", "--no-pager", "-o", "cat"])[1]
        system = [line for line in said.splitlines() if line.startswith("System Journal (/var/log/journal/")]
        assert system and ", max 256M," in system[-1], said
