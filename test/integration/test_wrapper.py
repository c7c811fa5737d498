"""./dind-cluster.sh keeps the original's habit: from a fresh clone it makes its own Python environment
once (one notice line on stderr), then runs `dind-cluster "$@"` — and never again sets up."""
import json
import os
import subprocess
from pathlib import Path

WRAPPER = Path(__file__).resolve().parents[2] / "dind-cluster.sh"


def run(args, env):
    return subprocess.run([str(WRAPPER), *args], env=env, capture_output=True, text=True, timeout=600)


def test_first_run_sets_up_once_with_one_notice_then_runs_the_tool(tmp_path):
    env = {**os.environ, "DIND_VENV": str(tmp_path / "venv"), "CLUSTER_ID": "10", "EMBEDDED_CONFIG": "y"}
    first = run(["config", "--json"], env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.strip().splitlines() == [
        f"dind-cluster: setting up its Python environment in {tmp_path / 'venv'} (once)…"]
    assert json.loads(first.stdout)["context"] == "dind-cluster-10"
    second = run(["config", "--json"], env)
    assert second.returncode == 0 and second.stderr == ""
    assert json.loads(second.stdout) == json.loads(first.stdout)


def test_bad_value_through_the_wrapper_is_the_tools_one_line_error(tmp_path):
    env = {**os.environ, "DIND_VENV": str(tmp_path / "venv"), "IP_MODE": "ipv5", "EMBEDDED_CONFIG": "y"}
    run(["--help"], env)  # set up first
    result = run(["up"], env)
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: IP_MODE: ")
