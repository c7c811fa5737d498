"""The local registry container on the engine: built from image/registry, its data on a named
volume, published on 127.0.0.1:<port>, attached to each cluster network that uses it at the
address registries.registry_addresses gives. It carries dind-cluster.io/registry=<port> and no
cluster label: it is shared, so `down` and `clean` of a cluster leave it."""
from __future__ import annotations

import errno
import socket
import time
from typing import Callable, Mapping, Optional

import docker
import docker.errors

from dind_cluster import registries as pure
from dind_cluster.backend import helper_images
from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import last_logs
from dind_cluster.errors import ConfigError, DockerError, Timeout
from dind_cluster.naming import CLUSTER_LABEL

Progress = Optional[Callable[[str], None]]
CONTAINER_PORT = f"{pure.REGISTRY_CONTAINER_PORT}/tcp"


def find(client: docker.DockerClient, port: int):
    """The registry container for `port`, None when there is none; a container of that name that
    isn't ours is an error (we never touch it)."""
    name = pure.container_name(port)
    try:
        with docker_errors(f"inspecting container {name}", keep=(docker.errors.NotFound,)):
            found = client.containers.get(name)
    except docker.errors.NotFound:
        return None
    if found.labels.get(pure.REGISTRY_LABEL) != str(port):
        raise DockerError(f"a container named {name} exists and is not dind-cluster's registry",
                          f"remove it ('docker rm -f {name}') or set DIND_LOCAL_REGISTRY_PORT")
    return found


def check_port_free(port: int) -> None:
    """The host port must be free before we publish on it (bind to find out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"can't be bound ({exc.strerror})"
            raise ConfigError("DIND_LOCAL_REGISTRY_PORT", f"port {port} on 127.0.0.1 {why}",
                              "choose a free port, or stop what listens there") from None


def ensure(client: docker.DockerClient, port: int, base: str, build_env: Mapping[str, str],
           check_port: bool = True, progress: Progress = None):
    """The running registry for `port`: reused, restarted, or built and created."""
    found = find(client, port)
    if found is not None and found.status == "running":
        return found
    if found is None and check_port:
        check_port_free(port)
    image = helper_images.ensure_image(client, "registry", pure.REGISTRY_REPOSITORY, base, progress, build_env)
    container = found or _create(client, port, image)
    with docker_errors(f"starting {container.name}"):
        container.start()
    wait_serving(container)
    return container


def _create(client, port: int, image: str):
    labels = {pure.REGISTRY_LABEL: str(port)}
    volume = pure.volume_name(port)
    with docker_errors(f"creating volume {volume}"):
        try:
            client.volumes.get(volume)
        except docker.errors.NotFound:
            client.volumes.create(volume, labels=labels)
    with docker_errors(f"creating the registry container {pure.container_name(port)}"):
        return client.containers.create(
            image, name=pure.container_name(port), detach=True, labels=labels,
            ports={CONTAINER_PORT: ("127.0.0.1", port)}, restart_policy={"Name": "unless-stopped"},
            volumes={volume: {"bind": pure.REGISTRY_STORAGE, "mode": "rw"}})


def wait_serving(container, timeout: float = 30.0) -> None:
    """Serving once its log says it listens (the image has no HTTP client to ask it with)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with docker_errors(f"reading the log of {container.name}"):
            container.reload()
            if container.status in ("exited", "dead"):
                raise DockerError(f"{container.name} stopped while starting", last_logs(container))
            if b"listening on" in container.logs():
                return
        time.sleep(0.2)
    raise Timeout(f"{container.name} not serving after {timeout:g}s", last_logs(container))


def attach(client: docker.DockerClient, container, network_name: str, addresses: tuple) -> None:
    """Connect the registry to a cluster network at its planned addresses (again if they differ)."""
    with docker_errors(f"inspecting {container.name}"):
        container.reload()
    current = (container.attrs.get("NetworkSettings") or {}).get("Networks", {}).get(network_name)
    if current is not None:
        have = {current.get("IPAddress"), current.get("GlobalIPv6Address")} - {"", None}
        if have == set(addresses):
            return
        with docker_errors(f"disconnecting {container.name} from {network_name}"):
            client.networks.get(network_name).disconnect(container, force=True)
    v4 = [a for a in addresses if ":" not in a]
    v6 = [a for a in addresses if ":" in a]
    with docker_errors(f"connecting {container.name} to {network_name}"):
        client.networks.get(network_name).connect(container, ipv4_address=v4[0] if v4 else None,
                                                  ipv6_address=v6[0] if v6 else None)


def cluster_networks(client: docker.DockerClient, container) -> list:
    """The names of the cluster networks (ours, by label) the registry is attached to."""
    with docker_errors(f"inspecting {container.name}"):
        container.reload()
        attached = set((container.attrs.get("NetworkSettings") or {}).get("Networks") or {})
        ours = client.networks.list(filters={"label": CLUSTER_LABEL})
    return sorted(n.name for n in ours if n.name in attached)


def release(network) -> None:
    """Disconnect registries from a network about to be removed (Docker refuses otherwise)."""
    with docker_errors(f"inspecting network {network.name}"):
        network.reload()
        for container_id in (network.attrs.get("Containers") or {}):
            container = network.client.containers.get(container_id)
            if pure.REGISTRY_LABEL in container.labels:
                network.disconnect(container, force=True)


def remove(client: docker.DockerClient, port: int, volumes: bool = False) -> list:
    """Remove the registry container (and with `volumes` its data); returns what went."""
    gone = []
    container = find(client, port)
    if container is not None:
        with docker_errors(f"removing {container.name}"):
            container.remove(force=True, v=True)
        gone.append(container.name)
    if volumes:
        try:
            with docker_errors("removing the registry's volume", keep=(docker.errors.NotFound,)):
                volume = client.volumes.get(pure.volume_name(port))
                if volume.attrs.get("Labels", {}).get(pure.REGISTRY_LABEL) == str(port):
                    volume.remove(force=True)
                    gone.append(volume.name)
        except docker.errors.NotFound:
            pass
    return gone
