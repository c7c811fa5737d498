"""IPv6-only and dual-stack clusters through the real CLI, on the real engine, with the stand-in
Kubernetes binaries (reference §3, §8).

Every IPv6 cluster's REMOTE_DNS64_V4SERVER is an address inside its own NAT64 /16, where the test
starts a dnsmasq of its own right after `up`: no packet and no query leaves this machine.
"""
from __future__ import annotations

import ipaddress
import json
import os
import random
import time
from pathlib import Path

import pytest

from dind_cluster.backend.containers import exec_in
from dind_cluster.backend.facts import gather_facts
from dind_cluster.naming import ROLE_LABEL
from dind_cluster.plan import make_plan
from dind_cluster.preflight import run_preflight

from clusters import cli, kubectl, owned, ping_between_test_pods, remove_cluster
from conftest import TEST_LABEL, base_image

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parents[2]
STANDIN_BIN = REPO / "test" / "standin" / "bin"
MY_IDS = range(200, 231)             # CLUSTER_IDs no other test module uses
NAT64_BASE = "10.0"                  # 10.<id>: CLUSTER_IDs above 13 leave 172.16/12
A_ONLY_NAME = "ipv4only.test"
ADDRESS_VARIABLES = ("MGMT_CIDRS", "NAT64_V4_SUBNET_PREFIX", "POD_NETWORK_CIDR", "SERVICE_CIDR",
                     "DNS64_PREFIX")
DNS_DOCKERFILE = b"""ARG BASE
FROM ${BASE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends dnsmasq-base >/dev/null \\
    && rm -rf /var/lib/apt/lists/*
"""


# --- helpers shared with test_side_by_side.py ------------------------------------------------

def cluster_values(home: Path, **values: str) -> dict:
    """The environment of one cluster's CLI: its own HOME, kubeconfig and kubectl directory."""
    env = {k: v for k, v in os.environ.items() if k not in (
        "IP_MODE", "DIND_LABEL", "CLUSTER_ID", "MGMT_CIDRS", "POD_NETWORK_CIDR", "SERVICE_CIDR",
        "APISERVER_PORT", "NAT64_V4_SUBNET_PREFIX", "REMOTE_DNS64_V4SERVER", "NUM_NODES")}
    env.update({"HOME": str(home), "KUBECONFIG": str(home / ".kube" / "config"),
                "KUBECTL_DIR": str(home / "kubectl"), "DIND_K8S_BIN_DIR": str(STANDIN_BIN),
                "DIND_K8S_IMAGES_DIR": "none", "DIND_BASE_IMAGE": base_image(),
                "EMBEDDED_CONFIG": "y", "DIND_WAIT_TIMEOUT": "120", "NUM_NODES": "1"})
    env.update(values)
    return env


def with_local_dns(env: dict) -> dict:
    """IPv6 mode: REMOTE_DNS64_V4SERVER inside the cluster's own NAT64 /16 (from `config --json`)."""
    if env.get("IP_MODE") != "ipv6":
        return env
    prefix = config_json(env)["nat64_v4_subnet_prefix"]
    return {**env, "REMOTE_DNS64_V4SERVER": f"{prefix}.0.53"}


def config_json(env: dict) -> dict:
    return json.loads(cli(env, "config", "--json").stdout)


def address_clashes(engine, values: dict) -> list:
    """Preflight's subnet problems (other networks, host routes) for a planned cluster."""
    facts = gather_facts(engine, os.environ)
    return [p.message for p in run_preflight(facts, make_plan(values))
            if p.message.startswith(ADDRESS_VARIABLES)]


def unused(engine, values: dict) -> bool:
    key = make_plan(values).cluster_key
    return owned(engine, key) == ([], [], []) and not address_clashes(engine, values)


def free_cluster_id(engine, taken: set, **values: str) -> str:
    """A random CLUSTER_ID of MY_IDS whose names and subnets nothing on this engine uses."""
    ids = [i for i in MY_IDS if str(i) not in taken]
    random.shuffle(ids)
    for cid in ids:
        if unused(engine, {**values, "CLUSTER_ID": str(cid)}):
            taken.add(str(cid))
            return str(cid)
    pytest.skip(f"no free CLUSTER_ID in {MY_IDS}")


def cluster_key(env: dict) -> str:
    return make_plan(env).cluster_key


def up(engine, env: dict, cleanups: list) -> dict:
    """`up` one cluster; its removal (by label) is registered first, so it happens on failure."""
    cleanups.append(cluster_key(env))
    cli(env, "up")
    return env


def remove_clusters(engine, keys: list) -> None:
    for key in keys:
        remove_cluster(engine, key)


def node_containers(engine, env: dict) -> list:
    return [engine.containers.get(n.name) for n in make_plan(env).nodes]


def listed_nodes(env: dict) -> list:
    result = kubectl(env, make_plan(env).context, "get", "nodes", "-o", "json")
    assert result.returncode == 0, result.stderr
    return sorted(item["metadata"]["name"] for item in json.loads(result.stdout)["items"])


def kubeconfig_server(env: dict) -> str:
    context = make_plan(env).context
    result = kubectl(env, context, "config", "view", "-o",
                     f"jsonpath={{.clusters[?(@.name==\"{context}\")].cluster.server}}")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def interface_addresses(node) -> set:
    _, out = exec_in(node, ["ip", "-o", "addr", "show", "dev", "eth0", "scope", "global"])
    return {line.split()[3].split("/")[0] for line in out.splitlines()}


# --- the test DNS server (dnsmasq) on the NAT64 /16 ------------------------------------------

class DnsServer:
    """dnsmasq at REMOTE_DNS64_V4SERVER on the cluster network; answers A_ONLY_NAME with an A only."""

    def __init__(self, engine, scope, env: dict) -> None:
        self.engine, self.scope, self.env = engine, scope, env
        self.plan = make_plan(env)
        self.address = env["REMOTE_DNS64_V4SERVER"]
        self.container = None

    def start(self) -> None:
        image = f"dind-cluster-testdns:{self.scope.value}"
        import io
        self.engine.images.build(fileobj=io.BytesIO(DNS_DOCKERFILE), tag=image, rm=True, forcerm=True,
                                 buildargs={"BASE": base_image()}, labels=self.scope.labels)
        endpoint = self.engine.api.create_endpoint_config(ipv4_address=self.address)
        self.container = self.engine.containers.run(
            image, ["dnsmasq", "-k", "--user=root", "--no-resolv", "--no-hosts", "--log-queries",
                    "--log-facility=-", f"--address=/{A_ONLY_NAME}/{self.address}"],
            name=f"testdns-{self.scope.value}", detach=True, labels=self.scope.labels,
            network=self.plan.network.name, networking_config={self.plan.network.name: endpoint},
            cap_add=["NET_ADMIN"])

    def queried_from(self) -> list:
        """Source addresses of the A queries for A_ONLY_NAME the server has seen."""
        logs = self.container.logs().decode(errors="replace")
        return [line.rsplit(" from ", 1)[1].strip() for line in logs.splitlines()
                if f"query[A] {A_ONLY_NAME} from " in line]

    def remove(self) -> None:
        if self.container is not None:
            self.container.remove(force=True)
            self.container = None
