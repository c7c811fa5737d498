"""An exec's output that reaches us in the same read as the engine's response headers (a quick
command on a loaded host) is kept: the SDK's exec_run read past http.client's buffer and lost it
(it returned b'' here, and in CI failed with "54 is not a valid stream"). A minimal engine on a unix
socket sends the 101 headers and the frames in one write."""
from __future__ import annotations

import json
import socket
import struct
import threading

import docker
import pytest

from dind_cluster.backend.containers import exec_in

FRAMES = b"".join(struct.pack(">BxxxL", stream, len(data)) + data
                  for stream, data in ((1, b"hello\n"), (2, b"warn\n"), (1, b"world\n")))


def _serve(server: socket.socket, stdin_seen: list) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            line = head.split(b"\r\n")[0].decode()
            length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                           if h.lower().startswith(b"content-length")), 0)
            while len(rest) < length:
                rest += conn.recv(65536)
            if "/start" in line:
                conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                             b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + FRAMES)
                conn.shutdown(socket.SHUT_WR)
                while chunk := conn.recv(65536):   # what the client feeds as stdin, until it half-closes
                    stdin_seen.append(chunk)
                continue
            body = json.dumps({"ApiVersion": "1.41"} if "/version" in line else
                              {"Id": "e1"} if "/containers/" in line else {"ExitCode": 0}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(body) + body)


@pytest.fixture
def node(tmp_path):
    path = str(tmp_path / "engine.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)
    stdin_seen: list = []
    threading.Thread(target=_serve, args=(server, stdin_seen), daemon=True).start()
    client = docker.DockerClient(base_url=f"unix://{path}", version="1.41", timeout=10)
    container = client.containers.prepare_model({"Id": "c1", "Name": "/kube-node-1"})
    yield container, stdin_seen
    server.close()


def test_output_that_came_with_the_headers_is_kept(node):
    container, _ = node
    assert exec_in(container, ["true"]) == (0, "hello\nwarn\nworld\n")


def test_output_that_came_with_the_headers_is_kept_when_feeding_stdin(node):
    container, stdin_seen = node
    assert exec_in(container, ["cat"], stdin=b"in") == (0, "hello\nwarn\nworld\n")


def test_the_image_build_reads_the_image_list_whole_and_from_stdout_only(node):
    # preload pins each image `ctr images ls -q` lists in the image build container: a list lost
    # with the headers would pin none, and a warning on stderr is no image.
    from dind_cluster.backend.preload import _image_refs

    container, _ = node
    assert _image_refs(container) == ["hello", "world"]
