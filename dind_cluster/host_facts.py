"""The host's facts for preflight, read from its files (under a root tests can fake): routes,
inotify and pid limits, IPv6, tun, br_netfilter and the engine's free disk."""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Optional

from dind_cluster.preflight import HostRoute

RTF_UP = 0x1
RTF_LOCAL_OR_ANYCAST = 0x80000000 | 0x00100000   # the host's own addresses, not routes


def host_facts(root: Path, data_root: str) -> dict:
    proc = root / "proc"
    routes = (parse_proc_route(_read(proc / "net/route") or "")
              + parse_proc_ipv6_route(_read(proc / "net/ipv6_route") or ""))
    return dict(kernel_ipv6=(proc / "sys/net/ipv6").is_dir(),
                tun_device=(root / "dev/net/tun").exists(), routes=tuple(routes),
                max_user_watches=_int(_read(proc / "sys/fs/inotify/max_user_watches")),
                max_user_instances=_int(_read(proc / "sys/fs/inotify/max_user_instances")),
                pid_max=_int(_read(proc / "sys/kernel/pid_max")),
                free_disk=_free_bytes(root / data_root.lstrip("/")),
                bridge_netfilter=(proc / "sys/net/bridge").is_dir(),
                netfilter_module=_has_module(root, _read(proc / "sys/kernel/osrelease"), "br_netfilter"))


def _has_module(root: Path, release: Optional[str], name: str) -> bool:
    folder = root / "lib/modules" / (release or "").strip()
    return bool(release) and folder.is_dir() and any(folder.rglob(f"{name}.ko*"))


def parse_proc_route(text: str) -> list[HostRoute]:
    """/proc/net/route (IPv4, main table): addresses are little-endian hex."""
    routes = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8 or not int(f[3], 16) & RTF_UP:
            continue
        dest, mask = (ipaddress.IPv4Address(int(x, 16).to_bytes(4, "little")) for x in (f[1], f[7]))
        routes.append(HostRoute(str(ipaddress.ip_network(f"{dest}/{mask}", strict=False)), f[0]))
    return routes


def parse_proc_ipv6_route(text: str) -> list[HostRoute]:
    """/proc/net/ipv6_route: destination (32 hex), prefix length (hex), ..., device last."""
    routes = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10 or not int(f[8], 16) & RTF_UP or int(f[8], 16) & RTF_LOCAL_OR_ANYCAST:
            continue
        dest = ipaddress.IPv6Address(int(f[0], 16))
        net = ipaddress.ip_network(f"{dest}/{int(f[1], 16)}", strict=False)
        routes.append(HostRoute(str(net), f[9]))
    return routes


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text()
    except OSError:
        return None


def _int(text: Optional[str]) -> Optional[int]:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def _free_bytes(path: Path) -> Optional[int]:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize
