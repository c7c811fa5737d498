"""Pod cgroups the way the kubelet makes them, with the real containerd and runc in a node
(docs/real-kubernetes.md, "cgroups"): a container started under kubepods.slice with runc's systemd
cgroup driver must exist at the paths the kubelet checks inside the node
(/sys/fs/cgroup/<controller>/kubepods.slice/…, name=systemd included on cgroup v1), sit under the
node's own cgroup as the host sees it, and be gone from the host after `clean`.

Also the node options kind relies on: machine-id and product_uuid differ across nodes, and a node
killed with SIGKILL comes back by itself (restart policy) with its routes and DNS.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from dind_cluster.backend.containers import exec_in, wait_for_node
from dind_cluster.backend.nodes import clean

from test_nodes import up

pytestmark = pytest.mark.docker
SLICE = "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-poddind.slice"
SCOPE = "cri-containerd-{id}.scope"
KUBELET_V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "systemd")
# A rootfs for the nested container: sleep and the libraries it links, from the node's own files.
ROOTFS_SCRIPT = ("set -e; r=/var/tmp/sleeproot; rm -rf $r; mkdir -p $r/proc $r/dev $r/sys; "
                 "for f in /bin/sleep $(ldd /bin/sleep | awk '$3 ~ /^\\// {print $3} $1 ~ /^\\// {print $1}'); "
                 "do mkdir -p $r$(dirname $f); cp -L $f $r$f; done")


def host_cgroup_root() -> Path:
    return Path("/sys/fs/cgroup")


def hierarchies_in(node) -> dict:
    """{mount point in the node: what the kubelet calls it}: every v1 hierarchy, or the v2 tree."""
    _, out = exec_in(node, ["awk", '$3 == "cgroup" || $3 == "cgroup2" { print $2 }', "/proc/self/mounts"])
    return [line.strip() for line in out.splitlines() if line.strip()]


def node_cgroup_on_host(node, mount: str) -> Path:
    """Where the host sees the node's cgroup for one hierarchy: that of its PID 1 (systemd, in
    init.scope of the node's cgroup namespace) from /proc/<pid>/cgroup on the host."""
    pid = node.attrs["State"]["Pid"]
    name = Path(mount).name
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        wanted = {"systemd": "name=systemd"}.get(name, name)
        if (mount == "/sys/fs/cgroup" and controllers == "") or wanted in controllers.split(","):
            path = path[:-len("/init.scope")] if path.endswith("/init.scope") else path  # systemd's own
            return host_cgroup_root() / ("" if mount == "/sys/fs/cgroup" else name) / path.lstrip("/")
    pytest.fail(f"no {mount} line in /proc/{pid}/cgroup of {node.name}")


@pytest.fixture(scope="module")
def nodes(engine, module_scope, node_image):
    if not Path("/proc/1/cgroup").exists() or not host_cgroup_root().is_dir():
        pytest.skip("the host's cgroup tree isn't visible here")
    plan = module_scope.plan(workers=1)
    return plan, up(engine, plan, node_image)


def run_pod_container(node, cid: str) -> int:
    """A container started by containerd + runc with the systemd cgroup driver under the kubelet's
    slice layout; returns its PID as the node sees it."""
    exec_in(node, ["sh", "-c", ROOTFS_SCRIPT])
    exec_in(node, ["ctr", "run", "-d", "--rootfs", "--runc-systemd-cgroup",
                   "--cgroup", f"kubepods-besteffort-poddind.slice:cri-containerd:{cid}",
                   "/var/tmp/sleeproot", cid, "/bin/sleep", "600"])
    _, out = exec_in(node, ["ctr", "task", "ls"])
    return int(next(line.split()[1] for line in out.splitlines() if line.startswith(cid)))


def test_pod_cgroups_nest_in_the_node_at_the_kubelets_paths_and_go_with_clean(engine, nodes):
    plan, containers = nodes
    node = containers[-1]
    cid = "cgtest"
    pid = run_pod_container(node, cid)
    mounts = hierarchies_in(node)
    if "/sys/fs/cgroup" not in mounts:
        # cgroup v1: the hierarchies the kubelet's cgroup manager checks for a pod's existence
        # (pkg/kubelet/cm/cgroup_manager_linux.go: cpu, cpuacct, cpuset, memory, systemd, pids)
        mounts = [f"/sys/fs/cgroup/{c}" for c in KUBELET_V1_CONTROLLERS]
        missing = [m for m in mounts if m not in hierarchies_in(node)]
        assert not missing, f"{node.name} lacks {missing}"
    on_host = []
    for mount in mounts:
        inside = f"{mount}/{SLICE}/{SCOPE.format(id=cid)}"
        code, procs = exec_in(node, ["cat", f"{inside}/cgroup.procs"], check=False)
        assert code == 0 and str(pid) in procs.split(), f"{inside} missing in {node.name} or without {pid}: {procs}"
        host_path = node_cgroup_on_host(node, mount) / SLICE / SCOPE.format(id=cid)
        assert host_path.is_dir(), f"the host doesn't see the pod cgroup under the node's: {host_path}"
        assert not (host_cgroup_root() / Path(mount).relative_to("/sys/fs/cgroup") / "kubepods.slice").exists() \
            or node_cgroup_on_host(node, mount) == host_cgroup_root() / Path(mount).relative_to("/sys/fs/cgroup")
        on_host.append(host_path)
    clean(engine, plan.cluster_key)
    deadline = time.monotonic() + 10
    while any(p.exists() for p in on_host) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p for p in on_host if p.exists()] == []


def test_machine_id_and_product_uuid_differ_across_nodes(engine, module_scope, node_image):
    plan = module_scope.plan(workers=1)
    containers = up(engine, plan, node_image)
    ids = [exec_in(c, ["cat", "/etc/machine-id"])[1].strip() for c in containers]
    assert all(len(i) == 32 for i in ids) and len(set(ids)) == len(ids)
    uuids = []
    for c in containers:
        code, out = exec_in(c, ["cat", "/sys/class/dmi/id/product_uuid"], check=False)
        uuids.append(out.strip() if code == 0 else exec_in(c, ["cat", "/etc/dind/product_uuid"])[1].strip())
    assert len(set(uuids)) == len(uuids), uuids
    for c in containers:   # what the kubelet reports as the node's ids stays across a restart
        c.restart(timeout=10)
        wait_for_node(c, timeout=90)
    assert [exec_in(c, ["cat", "/etc/machine-id"])[1].strip() for c in containers] == ids
    code, out = exec_in(containers[0], ["sh", "-c", "grep ' /sys ' /proc/self/mounts"])
    assert " ro," in out, f"/sys is not read-only in {containers[0].name}: {out}"
