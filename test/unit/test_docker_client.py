"""The one factory for the Docker client (backend/client.py), against a minimal engine on a unix socket
that answers /version and /_ping and counts the requests: every engine command pays for its client,
so making one costs a single round trip (the API version, which is also the proof that it answers)."""
from __future__ import annotations

import http.server
import json
import socketserver
import threading

import pytest

from dind_cluster.backend.client import CALL_TIMEOUT, docker_client


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - the name http.server calls
        self.server.requests.append(self.path)
        if self.path == "/version":
            self._answer(200, json.dumps({"ApiVersion": "1.41", "Version": "20.10.24"}).encode(), "application/json")
        elif self.path.endswith("/_ping"):
            self._answer(200, b"OK", "text/plain")
        else:
            self._answer(404, b'{"message": "not in this test engine"}', "application/json")

    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self) -> str:
        return "unix"

    def log_message(self, *args) -> None:
        pass


class _Engine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    requests: list


@pytest.fixture
def counting_engine(tmp_path):
    server = _Engine(str(tmp_path / "engine.sock"), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_client_costs_one_round_trip_and_speaks_the_engines_api_version(counting_engine):
    client = docker_client({"DOCKER_HOST": f"unix://{counting_engine.server_address}"})
    assert counting_engine.requests == ["/version"]
    assert client.api.api_version == "1.41"
    assert client.api.timeout == CALL_TIMEOUT
    assert client.ping() is True   # the client works against that engine
