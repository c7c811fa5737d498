"""What every action shares: the plan, the settings values, the caller's environment, output."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from dind_cluster.plan import ClusterPlan
from dind_cluster.ui import Progress


@dataclass
class ActionContext:
    plan: ClusterPlan
    values: Mapping[str, str]          # resolved settings (name -> value)
    environ: Mapping[str, str]         # the caller's environment (DOCKER_HOST, HOME, KUBECONFIG …)
    progress: Progress
    _client: Optional[object] = field(default=None, repr=False)
    _host_size: Optional[tuple] = field(default=None, repr=False)
    _facts: Optional[object] = field(default=None, repr=False)

    @property
    def client(self):
        """The Docker client, created on first use (so pure commands never import docker)."""
        if self._client is None:
            from dind_cluster.backend.client import docker_client
            from dind_cluster.checks import engine_timeout

            self._client = docker_client(self.environ, engine_timeout(self.value("DIND_ENGINE_TIMEOUT", "10"), {}))
        return self._client

    def host_size(self) -> tuple[int, int]:
        """(CPUs, bytes of memory) of the engine's host, asked of the engine once per command."""
        if self._host_size is None:
            from dind_cluster.backend.facts import engine_size

            self._host_size = engine_size(self.client)
        return self._host_size

    def facts(self):
        """The engine's and its host's facts (backend/facts.py), gathered once per command: a
        label's free cluster ID and the preflight both read them."""
        if self._facts is None:
            from dind_cluster.backend.facts import gather_facts

            self._facts = gather_facts(self.client, self.environ)
        return self._facts

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name) or default

    def flag(self, name: str) -> bool:
        """A variable that is on when set to anything but empty/false/0 (the original tests -n)."""
        return (self.values.get(name) or "").lower() not in ("", "false", "0", "no")
