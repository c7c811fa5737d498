"""Node containers (node-protocol.md): create in parallel, list, down, clean, pause.

Everything we create carries plan.labels (CLUSTER_LABEL=<cluster key>), so listing, `down` and
`clean` go by label, and an interrupted `up` is finished by `clean` or by the next `up`.
"""
from __future__ import annotations

import base64
import hashlib
from concurrent.futures import wait
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Union

import docker
import docker.errors

from dind_cluster.backend.client import docker_errors
from dind_cluster.balancer import ROLE as BALANCER_ROLE
from dind_cluster.backend.containers import Content, put_files, tar_of
from dind_cluster.backend.network import remove_network, static_endpoint
from dind_cluster.backend.registry import release as release_registries
from dind_cluster.backend.runmode import RunMode
from dind_cluster.errors import DockerError
from dind_cluster.images import NODE_FILES_ENV, NODE_FILES_LABEL, VAR_SEED_LABEL
from dind_cluster.naming import CLUSTER_LABEL, ROLE_LABEL
from dind_cluster.parallel import run_all
from dind_cluster.resources import LIMITS_LABEL, docker_limits, limits_label
from dind_cluster.plan import ClusterPlan, NodePlan, Shape, shape_from_names

NODE_LABEL = "dind-cluster.io/node"
BALANCER_LABEL = "dind-cluster.io/balancer"   # on nodes (and so snapshots) of an HA control plane
NODE_ROLES = ("master", "worker")
SNAPSHOT_LABEL = "dind-cluster.io/snapshot"
NODE_ENV_PATH = "/etc/dind/node.env"
APISERVER_CONTAINER_PORT = "6443/tcp"
RESTART_POLICY = {"Name": "unless-stopped"}
DEFAULT_CPU_SHARES = 1024   # the kernel's, and a container's without --cpu-shares
BOOT_CPU_SHARES = 128       # workers booting beside the master's boot and kubeadm init (steps.start_nodes)


@dataclass
class Created:
    """What this run made, so a failed `up` can take it back (unless --retain)."""
    containers: list = field(default_factory=list)
    volumes: list = field(default_factory=list)
    networks: list = field(default_factory=list)
    pending: list = field(default_factory=list)   # futures of creations still running in other threads

    def rollback(self) -> None:
        wait(self.pending)   # what they are still making must be taken back too
        for kind, objs in (("container", self.containers), ("volume", self.volumes),
                           ("network", self.networks)):
            for obj in reversed(objs):
                _remove(obj, kind)
            objs.clear()


@dataclass
class ClusterObjects:
    containers: list
    volumes: list
    networks: list
    images: list


def node_env(plan: ClusterPlan, node: NodePlan) -> str:
    """Pure: /etc/dind/node.env, KEY=value lines the node's scripts read."""
    values = {
        "IP_MODE": plan.ip_mode, "NODE_NAME": node.name, "NODE_ROLE": node.role,
        "NODE_IPS": ",".join(node.ips), "POD_CIDRS": ",".join(node.pod_cidrs),
        "POD_GATEWAYS": ",".join(node.pod_gateways), "SERVICE_CIDR": plan.service_cidr,
        "SERVICE_NET_MODE": plan.service_net_mode, "DNS_SVC_IP": plan.dns_svc_ip,
        "CNI_PLUGIN": plan.cni_plugin, "USE_HAIRPIN": str(plan.use_hairpin).lower(),
        "DNS_SERVER": plan.dns_server or "", "DNS64_PREFIX_CIDR": plan.dns64_prefix_cidr or "",
        "LOCAL_NAT64_SERVER": plan.local_nat64_server or "",
    }
    return "".join(f"{k}={v}\n" for k, v in values.items())


def node_labels(plan: ClusterPlan, node: NodePlan) -> dict:
    labels = {**plan.labels, ROLE_LABEL: node.role, NODE_LABEL: node.name, LIMITS_LABEL: limits_label(node.limits)}
    if plan.balancer is not None:
        labels[BALANCER_LABEL] = plan.balancer.name
    return labels


def node_options(client, plan: ClusterPlan, node: NodePlan, run_mode: RunMode,
                 apiserver_port: Optional[int] = None, seeds_var: bool = False) -> dict:
    """Keyword arguments of containers.create for one node (everything but the image).
    `seeds_var`: the image's entrypoint fills an empty /var itself (VAR_SEED_LABEL), so the
    volume is mounted nocopy and dockerd doesn't copy the image's /var into it."""
    endpoint = static_endpoint(client, node.ips)
    volumes = {node.volume: {"bind": "/var", "mode": "rw,nocopy" if seeds_var else "rw"},
               "/lib/modules": {"bind": "/lib/modules", "mode": "ro"}}
    # A private cgroup namespace on v1 and v2 alike, never the host's tree: the node's systemd
    # then makes kubepods.slice at the paths the kubelet checks, inside the node's own cgroup.
    # init=False: an engine with "init": true would make docker-init PID 1, not systemd.
    # The restart policy brings nodes back after an engine or host restart (dind-node-setup
    # redoes their routes and DNS at every boot).
    opts = dict(
        name=node.name, hostname=node.name, detach=True, labels=node_labels(plan, node),
        network=plan.network.name, networking_config={plan.network.name: endpoint},
        volumes=volumes, tmpfs={"/run": "", "/run/lock": "", "/tmp": ""},
        cgroupns="private", init=False, restart_policy=RESTART_POLICY,
        stop_signal="SIGRTMIN+3", **run_mode.host_options())
    opts.update(docker_limits(node.limits))
    # Nodes route pod traffic (bridge/ptp and static routes need forwarding on).
    opts["sysctls"] = {"net.ipv4.ip_forward": "1"}
    if plan.ip_mode != "ipv4":
        opts["sysctls"].update({"net.ipv6.conf.all.disable_ipv6": "0",
                                "net.ipv6.conf.all.forwarding": "1"})
    if plan.dns_server:
        opts["dns"] = [plan.dns_server]
    if node.role == "master" and plan.balancer is None:   # else the balancer publishes it
        opts["ports"] = {APISERVER_CONTAINER_PORT: (plan.apiserver_host, apiserver_port)}
    return opts


def create_nodes(client: docker.DockerClient, plan: ClusterPlan,
                 image: Union[str, Mapping[str, str]], run_mode: RunMode, *,
                 extra_files: Optional[Mapping[str, Mapping[str, Content]]] = None,
                 progress: Optional[Callable[[str], None]] = None,
                 apiserver_port: Optional[int] = None, created: Optional[Created] = None,
                 nodes: Optional[tuple] = None, cpu_shares: Optional[Mapping[str, int]] = None) -> list:
    """Create and start every node (or `nodes`) in parallel; returns containers, master first.

    `image` is one image for all nodes or {node name: image} (restore from snapshots);
    `extra_files` is {node name: {path: content}} written at its first boot; existing volumes are
    reused, which is what keeps a cluster's state across `down` and `up`; `cpu_shares` is
    {node name: CPU weight} for nodes that start with one until `restore_cpu_shares`.
    """
    created = created if created is not None else Created()
    todo = nodes if nodes is not None else plan.nodes
    images = {node.name: image if isinstance(image, str) else image[node.name] for node in todo}
    refs = sorted(set(images.values()))
    labels = dict(zip(refs, run_all(lambda ref: image_labels(client, ref), refs)))
    # Snapshots (a mapping) restore onto volumes that already have their content, which Docker
    # never copies over: only a fresh node's volume is mounted nocopy for the entrypoint to seed.
    seeds_var = isinstance(image, str) and VAR_SEED_LABEL in labels[image]

    def one(node: NodePlan):
        node_image = images[node.name]
        files = {NODE_ENV_PATH: node_env(plan, node), **(extra_files or {}).get(node.name, {})}
        carried = files_environment(files) if reads_files_env(labels[node_image]) else None
        container = _create_node(client, plan, node, node_image, run_mode, apiserver_port, created,
                                 seeds_var, (cpu_shares or {}).get(node.name), carried or {})
        if carried is None:
            put_files(container, files)
        with docker_errors(f"starting node {node.name}"):
            container.start()
        if progress:
            progress(node.name)
        return container

    return run_all(one, todo)


# The files a new node starts with (node.env, CNI config, routes, registry and proxy settings) come
# in its container's NODE_FILES_ENV, a base64 tar behind an ID of its own (image/rootfs's
# dind-entrypoint writes them at the container's first boot and unsets it): a put_archive before
# start costs dockerd a re-execution of itself, ~70 ms of CPU a node. Beyond FILES_ENV_MAX (the
# kernel takes at most 128 KiB a variable), and for an image whose NODE_FILES_LABEL doesn't say
# its entrypoint reads them (made by an older dind-cluster), they are put in as an archive.
FILES_ENV_MAX = 96 * 1024


def files_environment(files: Mapping[str, Content]) -> Optional[dict]:
    """{NODE_FILES_ENV: "<id>:<base64 tar>"}, or None when too large to carry so. The ID is the
    content's hash: new content (tar_of stamps the time) is written, a restart's is not."""
    payload = base64.b64encode(tar_of(files)).decode()
    if len(payload) > FILES_ENV_MAX:
        return None
    return {NODE_FILES_ENV: f"{hashlib.sha256(payload.encode()).hexdigest()[:16]}:{payload}"}


def reads_files_env(labels: Mapping[str, str]) -> bool:
    """Whether a node image (or a container of it: its labels include the image's) is of this
    dind-cluster's entrypoint and boot report: files carried in NODE_FILES_ENV, COMMAND once booted."""
    return labels.get(NODE_FILES_LABEL) == NODE_FILES_ENV


def image_labels(client, image: str) -> dict:
    """A node image's labels: whether its entrypoint seeds an empty /var (VAR_SEED_LABEL) and
    writes the files its environment carries (NODE_FILES_LABEL)."""
    with docker_errors(f"inspecting image {image}"):
        return client.images.get(image).labels or {}


def _create_node(client, plan, node, image, run_mode, apiserver_port, created, seeds_var, cpu_shares, environment):
    _remove_stale_container(client, plan, node.name)
    _ensure_volume(client, plan, node.volume, created)
    opts = node_options(client, plan, node, run_mode, apiserver_port, seeds_var)
    if cpu_shares is not None:
        opts["cpu_shares"] = cpu_shares
    if environment:
        opts["environment"] = dict(environment)
    with docker_errors(f"creating node {node.name} from {image}"):
        container = client.containers.create(image, **opts)
    created.containers.append(container)
    return container


def restore_cpu_shares(containers: list) -> list:
    """Give nodes created with a `cpu_shares` weight the default one back; returns the names of
    those the engine refused (an engine without the CPU controller ignored the weight at create
    too, so they run at the default already)."""
    def restore(container) -> Optional[str]:
        try:
            with docker_errors(f"updating the CPU weight of {container.name}"):
                container.update(cpu_shares=DEFAULT_CPU_SHARES)
        except DockerError:
            return container.name
        return None

    return [name for name in run_all(restore, containers) if name]


def _owned(attrs_labels: Optional[dict], plan: ClusterPlan) -> bool:
    return (attrs_labels or {}).get(CLUSTER_LABEL) == plan.cluster_key


def existing_ours(client, plan: ClusterPlan, name: str):
    """The container called `name` if it is this cluster's, None if there is none; a container of
    that name that isn't ours is an error (we never touch it)."""
    try:
        with docker_errors(f"inspecting container {name}", keep=(docker.errors.NotFound,)):
            old = client.containers.get(name)
    except docker.errors.NotFound:
        return None
    if not _owned(old.labels, plan):
        raise DockerError(f"a container named {name} exists and is not part of cluster "
                          f"'{plan.cluster_key}'", f"remove it ('docker rm -f {name}') or choose "
                          "another CLUSTER_ID / DIND_LABEL")
    return old


def _remove_stale_container(client, plan: ClusterPlan, name: str) -> None:
    """A container left by an interrupted run is ours to replace; anyone else's is not."""
    old = existing_ours(client, plan, name)
    if old is not None:
        _remove(old, "container")


def _ensure_volume(client, plan: ClusterPlan, name: str, created: Created) -> None:
    """Each node has its own volume name, so nodes can make theirs at the same time."""
    with docker_errors(f"creating volume {name}"):
        try:
            vol = client.volumes.get(name)
        except docker.errors.NotFound:
            created.volumes.append(client.volumes.create(name, labels=dict(plan.labels)))
            return
    if not _owned(vol.attrs.get("Labels"), plan):
        raise DockerError(f"volume {name} exists and is not part of cluster "
                          f"'{plan.cluster_key}'", f"remove it ('docker volume rm {name}') or "
                          "choose another CLUSTER_ID / DIND_LABEL")


def _label_filter(cluster_key: Optional[str], *more: str) -> dict:
    first = CLUSTER_LABEL if cluster_key is None else f"{CLUSTER_LABEL}={cluster_key}"
    return {"label": [first, *more]}


def _listed(client, filters: dict) -> list:
    """Containers as the engine lists them, not inspected one by one: one round trip, and one that
    another run removes meanwhile can't fail the listing. Only id, names, labels and state are known."""
    return client.containers.list(all=True, filters=filters, sparse=True)


def _name(container) -> str:
    return container.name or next(iter(container.attrs.get("Names") or ()), container.id).lstrip("/")


def _role(listed) -> str:
    """The role label of a container as listed (`_listed`)."""
    return (listed.attrs.get("Labels") or {}).get(ROLE_LABEL, "")


def list_cluster(client: docker.DockerClient, cluster_key: Optional[str] = None,
                 then: Optional[Callable[[list], None]] = None) -> ClusterObjects:
    """Everything carrying our cluster label (of one cluster, or of all when None); the containers
    as the engine lists them (`_listed`), given to `then` as soon as they are listed."""
    flt = _label_filter(cluster_key)

    def containers() -> list:
        found = _listed(client, flt)
        if then is not None:
            then(found)   # while the slower listings (images) go on
        return found

    listings = (containers, lambda: client.volumes.list(filters=flt),
                lambda: client.networks.list(filters=flt),
                lambda: client.images.list(filters=_label_filter(cluster_key, SNAPSHOT_LABEL)))
    with docker_errors("listing the cluster's Docker objects"):
        return ClusterObjects(*run_all(lambda listing: listing(), listings))   # four round trips at once


def node_containers(client, cluster_key: Optional[str]) -> list:
    """Node containers (master and workers) of a cluster, master first; inspected all at once."""
    with docker_errors("listing node containers"):
        listed = [c for c in _listed(client, _label_filter(cluster_key, ROLE_LABEL)) if _role(c) in NODE_ROLES]
        nodes = run_all(lambda c: client.containers.get(c.id), listed)
    return sorted(nodes, key=lambda c: (c.labels[ROLE_LABEL] != "master", c.name))


def balancer_container(client, cluster_key: str):
    """The cluster's load balancer container, None without one."""
    with docker_errors("listing the load balancer"):
        found = client.containers.list(all=True, filters=_label_filter(cluster_key, f"{ROLE_LABEL}={BALANCER_ROLE}"))
    return found[0] if found else None


def cluster_shape(client, plan: ClusterPlan) -> Optional[Shape]:
    """The shape of the cluster as it exists: its node containers, else its snapshot images
    (after `down`); None when it has neither."""
    with docker_errors("listing the cluster's nodes"):
        found = [c.attrs.get("Labels") or {} for c in _listed(client, _label_filter(plan.cluster_key, NODE_LABEL))]
        if not found:
            found = [i.labels for i in client.images.list(filters=_label_filter(plan.cluster_key, SNAPSHOT_LABEL))]
    names = [labels.get(NODE_LABEL, "") for labels in found]
    balanced = any(BALANCER_LABEL in labels for labels in found)
    return shape_from_names(names, plan.suffix, balanced)


def remove_nodes(client: docker.DockerClient, cluster_key: str) -> int:
    """`down`: remove the node containers and the load balancer; volumes, network and snapshots stay."""
    with docker_errors("listing node containers"):
        found = _listed(client, _label_filter(cluster_key, ROLE_LABEL))
    gone = [c for c in found if _role(c) in (*NODE_ROLES, BALANCER_ROLE)]
    _in_parallel(lambda c: _remove(c, "container"), gone)
    return len(gone)


def remove_container(container) -> None:
    """One node container (remove-node), with its anonymous volumes."""
    _remove(container, "container")


def remove_volume(client, plan: ClusterPlan, name: str) -> None:
    """A node's /var volume, if it is this cluster's (remove-node)."""
    with docker_errors(f"inspecting volume {name}", keep=(docker.errors.NotFound,)):
        try:
            vol = client.volumes.get(name)
        except docker.errors.NotFound:
            return
    if _owned(vol.attrs.get("Labels"), plan):
        _remove(vol, "volume")


def clean(client: docker.DockerClient, cluster_key: Optional[str]) -> ClusterObjects:
    """Remove containers, volumes, networks and snapshot images with our label; idempotent.

    Volumes, networks and images are free once the containers are gone, and none needs another:
    they go all at once (the engine's removals of each kind take long, not our calls)."""
    objs = list_cluster(client, cluster_key, then=lambda found: _in_parallel(lambda c: _remove(c, "container"), found))
    rest = ([(v, "volume") for v in objs.volumes] + [(n, "network") for n in objs.networks]
            + [(i, "image") for i in objs.images])
    _in_parallel(lambda item: _remove(*item), rest)
    return objs


def pause(client: docker.DockerClient, cluster_key: str) -> list:
    running = [c for c in node_containers(client, cluster_key) if c.status == "running"]
    _in_parallel(lambda c: _call(c.pause, f"pausing {c.name}"), running)
    return running


def unpause(client: docker.DockerClient, cluster_key: str) -> list:
    paused = [c for c in node_containers(client, cluster_key) if c.status == "paused"]
    _in_parallel(lambda c: _call(c.unpause, f"unpausing {c.name}"), paused)
    return paused


def master_port(client: docker.DockerClient, plan: ClusterPlan) -> Optional[int]:
    """Host port published for the apiserver (the master's 6443, or the balancer's in an HA
    control plane), or None when there is nothing to publish it."""
    if plan.balancer is not None:
        lb = balancer_container(client, plan.cluster_key)
        masters = [lb] if lb is not None else []
    else:
        masters = [c for c in node_containers(client, plan.cluster_key)
                   if c.labels.get(ROLE_LABEL) == "master"]
    if not masters:
        return None
    ports = (masters[0].attrs.get("NetworkSettings") or {}).get("Ports") or {}
    bindings = ports.get(APISERVER_CONTAINER_PORT) or []
    return int(bindings[0]["HostPort"]) if bindings else None


def _call(fn, doing: str):
    with docker_errors(doing):
        return fn()


def _in_parallel(fn, items: list) -> None:
    run_all(fn, items, limit=16)


def _remove(obj, kind: str) -> None:
    """Remove one object; already gone is fine (idempotent clean and rollback)."""
    name = _name(obj) if kind == "container" else getattr(obj, "name", None) or obj.id
    try:
        with docker_errors(f"removing {kind} {name}"):
            if kind == "container":
                obj.remove(force=True, v=True)
            elif kind == "image":
                obj.client.images.remove(obj.id, force=True)
            elif kind == "network":
                release_registries(obj)   # the shared local registry outlives the network
                remove_network(obj)
            else:
                obj.remove()
    except DockerError:
        if _exists(obj):
            raise


def _exists(obj) -> bool:
    try:
        obj.reload()
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError:
        return True
