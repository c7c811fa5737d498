#!/usr/bin/env python3
"""Generate fixed/dind-cluster-v<minor>.sh, one standalone script per supported Kubernetes minor (as
kubeadm-dind-cluster's fixed/ scripts), from build/fixed-script.sh.in, dind_cluster/versions.py
(minors and their pinned patches) and the tool's version.

Usage: build/fixed-scripts.py [--out DIR] [--check]   (--check: fail if DIR isn't up to date)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dind_cluster import __version__  # noqa: E402
from dind_cluster.versions import PINNED  # noqa: E402

TEMPLATE = Path(__file__).with_name("fixed-script.sh.in")


def script_name(minor: str) -> str:
    return f"dind-cluster-v{minor}.sh"


def render(minor: str, k8s_version: str, tool_version: str = __version__) -> str:
    text = TEMPLATE.read_text()
    for key, value in (("MINOR", minor), ("K8S_VERSION", k8s_version), ("TOOL_VERSION", tool_version)):
        text = text.replace(f"@{key}@", value)
    return text


def scripts() -> dict:
    return {script_name(minor): render(minor, patch) for minor, patch in PINNED.items()}


def write(out: Path) -> list:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("dind-cluster-v*.sh"):
        old.unlink()
    written = []
    for name, text in scripts().items():
        path = out / name
        path.write_text(text)
        path.chmod(0o755)
        written.append(path)
    return written


def stale(out: Path) -> list:
    """What --check reports: scripts missing, different, or no longer generated."""
    want = scripts()
    have = {p.name: p.read_text() for p in out.glob("dind-cluster-v*.sh")}
    return sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "fixed")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.out)
        for name in problems:
            print(f"fixed-scripts: {args.out / name} is out of date; run build/fixed-scripts.py", file=sys.stderr)
        return 1 if problems else 0
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
