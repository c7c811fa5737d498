"""The project as users install it: one wheel (plus its dependencies' wheels) per test session,
and virtual environments outside the checkout that install it with pip from that directory alone."""
from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _pip(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise AssertionError(f"pip {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def _not_sources(directory: str, names: list) -> set:
    skip = {n for n in names if n in (".venv", ".git", "__pycache__", ".pytest_cache", ".hypothesis")
            or n.endswith(".egg-info")}
    if Path(directory) == REPO / "build":
        skip |= {n for n in names if n == "lib" or n.startswith("bdist.")}
    return skip


@functools.lru_cache(maxsize=None)
def wheelhouse() -> Path:
    """A directory holding the project's wheel, built from the checkout, and its dependencies'."""
    house = Path(tempfile.mkdtemp(prefix="dind-wheelhouse-"))
    # From a copy: setuptools keeps build/lib in the source tree, and stale files there would ship.
    source = house / "source"
    shutil.copytree(REPO, source, ignore=_not_sources)
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(house), str(source), cwd=house)
    [wheel] = house.glob("dind_cluster-*.whl")
    _pip("wheel", "--quiet", "--wheel-dir", str(house), str(wheel), cwd=house)
    return house


def project_wheel() -> Path:
    [wheel] = wheelhouse().glob("dind_cluster-*.whl")
    return wheel


def install(venv: Path) -> Path:
    """A fresh venv at `venv` with the wheel installed from the wheelhouse only; its dind-cluster."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                           "--no-index", "--find-links", str(wheelhouse()), "dind-cluster"],
                          cwd=venv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin" / "dind-cluster"
