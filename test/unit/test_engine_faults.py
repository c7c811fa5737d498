"""Faulty engines: one that accepts connections and never answers, none at all, a malformed
DOCKER_HOST. Every command fails in bounded time with one ERROR line naming the engine."""
import os
import socket
import subprocess
import sys
import threading
import time

import pytest


@pytest.fixture
def silent_engine(tmp_path):
    """A unix socket that accepts every connection and never writes a byte."""
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"unix://{path}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def invoke(*args, **env):
    """In-process, for the cases that need no real wait."""
    from typer.testing import CliRunner

    from dind_cluster import cli
    result = CliRunner().invoke(cli.app, list(args), env={"EMBEDDED_CONFIG": "y", "DIND_CONFIG": None, **env})
    return result


def run_cli(*args, timeout=60, **env):
    environ = {**os.environ, "EMBEDDED_CONFIG": "y", "HOME": env.pop("HOME", os.environ.get("HOME", "/root")), **env}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", "from dind_cluster.cli import main; main()", *args],
                            capture_output=True, text=True, env=environ, timeout=timeout)
    return result, time.monotonic() - started


@pytest.mark.parametrize("command", ["down", "dump64"])
def test_an_engine_that_never_answers_fails_in_bounded_time(silent_engine, command, tmp_path):
    result, took = run_cli("-q", command, DOCKER_HOST=silent_engine, DIND_ENGINE_TIMEOUT="2", HOME=str(tmp_path))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert took < 20
    assert lines[0].startswith(f"ERROR: couldn't connect to the Docker engine at {silent_engine}: no answer within 2 s")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["dump", "dump64"])
def test_dump_without_an_engine_is_an_error(command, tmp_path):
    result = invoke("-q", command, DOCKER_HOST=f"unix://{tmp_path}/none.sock", HOME=str(tmp_path))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("ERROR: couldn't connect to the Docker engine at unix://")
    assert "%%%" not in result.output


@pytest.mark.parametrize("host", ["tcp://[::1", "tcp://127.0.0.1:99999", "foo://x", "tcp://", "tcp://h:0"])
def test_a_malformed_docker_host_is_one_error_line(host, tmp_path):
    result = invoke("-q", "down", DOCKER_HOST=host, HOME=str(tmp_path))
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: DOCKER_HOST: "), result.output


def test_the_client_itself_turns_a_malformed_host_into_a_config_error():
    from dind_cluster.backend.client import docker_client
    from dind_cluster.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        docker_client({"DOCKER_HOST": "tcp://[::1"})
    assert err.value.variable == "DOCKER_HOST"
