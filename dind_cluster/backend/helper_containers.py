"""Docker primitives for the cluster's helper containers (the HA load balancer, DNS64, NAT64): one
static address on the cluster network, our labels and role, a tmpfs /run, their files put in
before they start. What each helper runs and how it is checked stays with balancer.py and
helpers64.py."""
from __future__ import annotations

from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import Content, put_files
from dind_cluster.backend.network import static_endpoint
from dind_cluster.backend.nodes import Created
from dind_cluster.naming import ROLE_LABEL
from dind_cluster.plan import ClusterPlan


def base_options(client, plan: ClusterPlan, name: str, ips, role: str, image: str) -> dict:
    """containers.create arguments every helper shares."""
    return dict(image=image, name=name, hostname=name, detach=True, network=plan.network.name,
                networking_config={plan.network.name: static_endpoint(client, ips)},
                labels={**plan.labels, ROLE_LABEL: role}, tmpfs={"/run": ""})


def start_helper(client, options: dict, files: dict[str, Content], created: Created, what: str):
    """Create the container (recorded in `created` for a rollback), put its files in, start it."""
    with docker_errors(f"creating {what}"):
        container = client.containers.create(**options)
    created.containers.append(container)
    put_files(container, files)
    with docker_errors(f"starting {what}"):
        container.start()
    return container
