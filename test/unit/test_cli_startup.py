"""The CLI's start-up cost, by what it imports (DESIGN.md: `config --json` under 0.3 s; bench/ times it,
this checks the cause): a command that needs no engine loads neither the Docker SDK nor the libraries
only other commands use, nor pydantic (Typer >= 0.29 builds a pydantic TypeAdapter per parameter)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Run the command in a fresh interpreter and report the top-level packages it imported.
_PROBE = """
import json, sys
sys.argv = ["dind-cluster"] + json.loads(sys.argv[1])
from dind_cluster import cli
code = 0
try:
    cli.main()
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
sys.stderr.write("\\n@@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""

HEAVY = {"docker", "requests", "urllib3", "pydantic", "pydantic_core", "jinja2", "yaml", "rich"}


def imported_by(args: list, tmp_path, **env) -> tuple:
    settings = ("DIND_", "DOCKER_", "NUM_", "CLUSTER_ID", "IP_MODE", "CNI_PLUGIN")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(settings)}
    environ.update(HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "kubeconfig"), EMBEDDED_CONFIG="y", **env)
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], env=environ,
                          capture_output=True, text=True, timeout=120)
    report = json.loads(done.stderr.rpartition("@@@")[2])
    return report["code"], {name.split(".")[0] for name in report["modules"]}, done


@pytest.mark.parametrize("args", [["config", "--json"], ["config"], ["--nodes", "3", "--cluster-id", "7", "config"]])
def test_config_imports_no_engine_sdk_and_no_heavy_library(args, tmp_path):
    code, packages, done = imported_by(args, tmp_path)
    assert code == 0, done.stderr
    assert "dind_cluster" in packages and "typer" in packages   # the probe did run the command
    assert packages & HEAVY == set(), f"{' '.join(args)} imported {sorted(packages & HEAVY)}"


def test_a_bad_setting_is_reported_without_the_engine_sdk(tmp_path):
    code, packages, done = imported_by(["config", "--json"], tmp_path, NUM_NODES="two")
    assert code == 1 and "ERROR: NUM_NODES: " in done.stderr
    assert packages & HEAVY == set(), sorted(packages & HEAVY)


@pytest.mark.parametrize("command", ["down", "pause", "snapshot"])
def test_engine_commands_that_touch_no_kubeconfig_or_template_load_the_sdk_alone(command, tmp_path):
    """The probe sees lazy imports: it finds docker, which these commands do import (up to the
    engine's first answer, which a missing socket refuses)."""
    code, packages, done = imported_by([command], tmp_path, DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert code == 1 and "couldn't connect to the Docker engine" in done.stderr
    assert "docker" in packages
    assert packages & (HEAVY - {"docker", "requests", "urllib3"}) == set(), sorted(packages & HEAVY)
