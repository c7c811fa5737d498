"""How node containers get their powers: `--privileged`, or the fallback when the runtime lacks
a capability (reference DESIGN "Nodes"), and which cgroup version the engine runs."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import docker
import docker.errors

from dind_cluster.backend.client import docker_errors
from dind_cluster.backend.containers import run_once
from dind_cluster.errors import DockerError

# Linux capability numbers (include/uapi/linux/capability.h) → names Docker accepts.
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
PROBE_LABEL = "dind-cluster.io/probe"
UNCONFINED = ("seccomp=unconfined", "apparmor=unconfined")

_cache: dict = {}


@dataclass(frozen=True)
class RunMode:
    privileged: bool
    cgroup_version: int                      # 1 or 2, from the engine's info
    cap_drop: tuple[str, ...] = ()           # fallback only: what the runtime can't grant
    missing: tuple[str, ...] = field(default=(), compare=False)

    def host_options(self) -> dict:
        """Keyword arguments for containers.create giving a node its powers."""
        opts: dict = {"security_opt": list(UNCONFINED)}
        if self.privileged:
            opts["privileged"] = True
            return opts
        opts.update(cap_add=["ALL"], cap_drop=list(self.cap_drop),
                    device_cgroup_rules=["a *:* rwm"],
                    devices=["/dev/kmsg:/dev/kmsg:rw"])  # kubelet's OOM watcher reads it
        return opts


def missing_capabilities(status_text: str, last_cap: int) -> tuple[str, ...]:
    """Pure: names of capabilities 0..last_cap absent from the CapBnd line of a /proc status."""
    for line in status_text.splitlines():
        if line.startswith("CapBnd:"):
            bound = int(line.split()[1], 16)
            last = min(last_cap, len(CAPABILITIES) - 1)
            return tuple(CAPABILITIES[i] for i in range(last + 1) if not bound >> i & 1)
    raise DockerError("couldn't read the runtime's capability bounding set (no CapBnd line)",
                      status_text[-400:])


def detect_run_mode(client: docker.DockerClient, image: str,
                    labels: Optional[Mapping[str, str]] = None, cache_dir: Optional[Path] = None) -> RunMode:
    """Privileged when the engine allows it, else the fallback; probed once per engine.

    With `cache_dir` the answer is also kept on disk, keyed by the engine's ID, version and
    kernel, so that later commands (a restore after `down`) skip the probe containers.
    """
    with docker_errors("reading the Docker engine's info"):
        info = client.info()
    key = info.get("ID") or id(client)
    cache_file = _cache_file(cache_dir, info) if cache_dir else None
    if key not in _cache and cache_file and cache_file.exists():
        _cache[key] = _load(cache_file)
    if key not in _cache:
        cgroup = 2 if str(info.get("CgroupVersion", "1")) == "2" else 1
        labels = {**(labels or {}), PROBE_LABEL: "run-mode"}
        if _privileged_works(client, image, labels):
            _cache[key] = RunMode(privileged=True, cgroup_version=cgroup)
        else:
            missing = _runtime_missing_caps(client, image, labels)
            _cache[key] = RunMode(False, cgroup, cap_drop=missing, missing=missing)
        if cache_file:
            _save(cache_file, _cache[key])
    return _cache[key]


def _cache_file(cache_dir: Path, info: Mapping) -> Path:
    engine = "|".join(str(info.get(k, "")) for k in ("ID", "ServerVersion", "KernelVersion", "SecurityOptions",
                                                     "CgroupVersion"))
    return cache_dir / f"run-mode-{hashlib.sha256(engine.encode()).hexdigest()[:16]}.json"


def _load(path: Path) -> RunMode:
    data = json.loads(path.read_text())
    return RunMode(data["privileged"], data["cgroup_version"], tuple(data["cap_drop"]), tuple(data["missing"]))


def _save(path: Path, mode: RunMode) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(mode)))
    except OSError:
        pass  # only a cache: the next command probes again


def _privileged_works(client, image: str, labels: dict) -> bool:
    with docker_errors(f"creating a probe container from {image}"):
        probe = client.containers.create(image, entrypoint=["/bin/true"], command=[],
                                         privileged=True, labels=labels)
    try:
        probe.start()
        return True
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc).lower()
        if "apply caps" in text or "operation not permitted" in text:
            return False
        raise DockerError(f"starting a privileged probe container: {exc.explanation or exc}")
    finally:
        with docker_errors("removing the probe container"):
            probe.remove(force=True, v=True)  # a snapshot image declares VOLUME /var


def _runtime_missing_caps(client, image: str, labels: dict) -> tuple[str, ...]:
    """The runtime's bounding set is that of the container's parent (the containerd shim),
    visible from a container sharing the host's PID namespace."""
    script = "cat /proc/sys/kernel/cap_last_cap; cat /proc/$PPID/status"
    out = run_once(client, image, f"probing the runtime's capabilities with {image}",
                   entrypoint=["/bin/sh", "-c", script], command=[], pid_mode="host", labels=labels)
    first, _, status = out.decode(errors="replace").partition("\n")
    return missing_capabilities(status, int(first.strip() or len(CAPABILITIES) - 1))
