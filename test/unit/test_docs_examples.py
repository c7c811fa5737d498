"""The GitHub Actions example in docs/ stays a workflow that uses real subcommands and keeps the state
on failure."""
from __future__ import annotations

import re
from pathlib import Path

import typer.main
import yaml

from dind_cluster.cli import app

REPO = Path(__file__).resolve().parents[2]


def test_github_actions_example_brings_a_cluster_up_runs_tests_and_dumps_on_failure():
    workflow = yaml.safe_load((REPO / "docs" / "examples" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    runs = [(step.get("if"), step.get("run", "")) for step in steps]
    used = [m.group(1) for _, text in runs for m in re.finditer(r"\./dind-cluster\.sh (\S+)", text)]
    assert set(used) <= set(typer.main.get_command(app).commands), used
    assert "up" in used
    on_failure = " ".join(text for cond, text in runs if cond == "failure()")
    assert "dump64" in on_failure and "export-logs" in on_failure
    assert "fixed/dind-cluster-v" in " ".join(text for _, text in runs)
