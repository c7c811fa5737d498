"""fixed/: one generated script per supported minor, pinned, and up to date with its generator."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from dind_cluster import __version__
from dind_cluster.versions import PINNED

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "build" / "fixed-scripts.py"


def test_fixed_holds_one_script_per_supported_minor_as_generated():
    done = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (REPO / "fixed").glob("dind-cluster-v*.sh"))
    assert names == sorted(f"dind-cluster-v{minor}.sh" for minor in PINNED)


def test_each_script_pins_its_patch_release_and_the_tools_version():
    for minor, patch in PINNED.items():
        text = (REPO / "fixed" / f"dind-cluster-v{minor}.sh").read_text()
        assert re.search(rf"^k8s_version={re.escape(patch)}$", text, re.M)
        assert re.search(rf"^tool_version={re.escape(__version__)}$", text, re.M)
        assert "@" + "K8S_VERSION@" not in text
        assert (REPO / "fixed" / f"dind-cluster-v{minor}.sh").stat().st_mode & 0o111


def test_check_fails_when_a_script_is_stale(tmp_path):
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)], check=True, capture_output=True)
    first = sorted(tmp_path.glob("*.sh"))[0]
    first.write_text(first.read_text().replace("k8s_version=", "k8s_version=v0.0.0#"))
    done = subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert f"{first} is out of date" in done.stderr
