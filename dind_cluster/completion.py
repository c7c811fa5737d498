"""Shell completion candidates for option values (Typer's `--install-completion` / `--show-completion`
make the bash, zsh and fish scripts; they call back into the tool with the word being typed).

Fixed choices come from the validation tables; cluster contexts, IDs, labels and node names from the
engine. A completion never prints an error: an engine that doesn't answer just gives no candidates.
"""
from __future__ import annotations

from typing import Iterable, List, Mapping, Tuple

from dind_cluster.naming import DEFAULT_CLUSTER_KEY, context_name, numbered, suffix_of_key

Candidate = Tuple[str, str]  # (value, help shown by zsh and fish)


def matching(candidates: Iterable[Candidate], incomplete: str) -> List[Candidate]:
    return [(value, help_) for value, help_ in candidates if value.startswith(incomplete)]


def ip_modes(incomplete: str) -> List[Candidate]:
    from dind_cluster import validation   # here: it loads netaddr, which `--help` needn't

    return matching(((m, "IP_MODE") for m in validation.IP_MODES), incomplete)


def cni_plugins(incomplete: str) -> List[Candidate]:
    from dind_cluster import validation

    return matching(((p, "CNI_PLUGIN") for p in validation.CNI_PLUGINS), incomplete)


def k8s_versions(incomplete: str) -> List[Candidate]:
    from dind_cluster.versions import PINNED

    return matching(((patch, f"Kubernetes {minor}") for minor, patch in PINNED.items()), incomplete)


def _clusters(environ: Mapping[str, str]) -> list:
    """The engine's clusters, or [] when it can't be asked (completion stays silent)."""
    try:
        from dind_cluster.backend.client import docker_client
        from dind_cluster.backend.inventory import clusters_on_engine

        return clusters_on_engine(docker_client(environ))
    except Exception:  # noqa: BLE001 - no candidates rather than noise in the user's shell
        return []


def contexts(environ: Mapping[str, str], incomplete: str) -> List[Candidate]:
    return matching(((context_name(suffix_of_key(c.key)), f"{len(c.nodes)} node(s)") for c in _clusters(environ)),
                    incomplete)


def cluster_ids(environ: Mapping[str, str], incomplete: str) -> List[Candidate]:
    """CLUSTER_ID values of numbered clusters (`cluster-10` -> 10, `foo-3` -> 3; not `foo-300`)."""
    found = []
    for cluster in _clusters(environ):
        label_and_id = numbered(cluster.key)
        if label_and_id:
            found.append((label_and_id[1], context_name(suffix_of_key(cluster.key))))
    return matching(found, incomplete)


def labels(environ: Mapping[str, str], incomplete: str) -> List[Candidate]:
    """DIND_LABEL values of labelled clusters (`foo` -> foo; `foo-3` -> foo, with CLUSTER_ID 3)."""
    found = []
    for cluster in _clusters(environ):
        label, number = numbered(cluster.key) or (cluster.key, None)
        if cluster.key == DEFAULT_CLUSTER_KEY or (number and label == "cluster"):
            continue   # the default label's clusters: CLUSTER_ID alone names them
        found.append((label, f"with --cluster-id {number}") if number
                     else (label, context_name(suffix_of_key(cluster.key))))
    return matching(found, incomplete)


def node_names(environ: Mapping[str, str], incomplete: str) -> List[Candidate]:
    return matching(((n.name, f"{n.role} of {context_name(suffix_of_key(c.key))}")
                     for c in _clusters(environ) for n in c.nodes), incomplete)

