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


def frames(*parts) -> bytes:
    return b"".join(struct.pack(">BxxxL", stream, len(data)) + data for stream, data in parts)


def _serve(server: socket.socket, stdin_seen: list, replies: list) -> None:
    """Answers execs with replies[0], replies[1]… ((frames, exit code); the last one repeats), a
    container's inspection with a running container."""
    code = 0
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
                output, code = replies.pop(0) if len(replies) > 1 else replies[0]
                conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                             b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + output)
                conn.shutdown(socket.SHUT_WR)
                while chunk := conn.recv(65536):   # what the client feeds as stdin, until it half-closes
                    stdin_seen.append(chunk)
                continue
            body = json.dumps({"ApiVersion": "1.41"} if "/version" in line else
                              {"Id": "c1", "Name": "/kube-node-1", "State": {"Status": "running"}}
                              if line.startswith("GET") and "/containers/" in line else
                              {"Id": "e1"} if "/containers/" in line else {"ExitCode": code}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(body) + body)


@pytest.fixture
def node(tmp_path):
    path = str(tmp_path / "engine.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)
    stdin_seen: list = []
    replies = [(FRAMES, 0)]
    threading.Thread(target=_serve, args=(server, stdin_seen, replies), daemon=True).start()
    client = docker.DockerClient(base_url=f"unix://{path}", version="1.41", timeout=10)
    container = client.containers.prepare_model({"Id": "c1", "Name": "/kube-node-1"})
    yield container, stdin_seen, replies
    server.close()


def test_output_that_came_with_the_headers_is_kept(node):
    container, *_ = node
    assert exec_in(container, ["true"]) == (0, "hello\nwarn\nworld\n")


def test_output_that_came_with_the_headers_is_kept_when_feeding_stdin(node):
    container, stdin_seen, _ = node
    assert exec_in(container, ["cat"], stdin=b"in") == (0, "hello\nwarn\nworld\n")


def test_the_image_build_reads_the_image_list_whole_and_from_stdout_only(node):
    # preload pins each image `ctr images ls -q` lists in the image build container: a list lost
    # with the headers would pin none, and a warning on stderr is no image.
    from dind_cluster.backend.preload import _image_refs

    container, *_ = node
    assert _image_refs(container) == ["hello", "world"]


REPORT = (1, b"systemd=running\ncontainerd=up\nbr_netfilter=yes\nunit:dind-node-setup.service=active\n")


def booted_then(container, replies, reply_list):
    from dind_cluster.backend.containers import exec_with_files_once_booted

    replies[:] = reply_list
    return exec_with_files_once_booted(container, {"/etc/kubeadm/join.yaml": "x"}, ["kubeadm", "join"],
                                       timeout=30, units=("dind-node-setup.service",))


def test_a_boot_not_over_is_asked_again_and_only_the_commands_output_is_its(node):
    container, _, replies = node
    starting = (1, b"systemd=starting\ncontainerd=down\nbr_netfilter=yes\nunit:dind-node-setup.service=\n")
    report, code, out = booted_then(container, replies, [
        (frames(starting), 75), (frames(REPORT, (1, b"--\n[preflight] ok\n"), (2, b"joined\n")), 0)])
    assert (report.state, report.units, code, out) == ("ready", {"dind-node-setup.service": "active"}, 0,
                                                       "[preflight] ok\njoined\n")


def test_the_commands_own_exit_75_is_its_failure_not_a_boot_still_going_on(node):
    container, _, replies = node
    report, code, out = booted_then(container, replies, [(frames(REPORT, (1, b"--\nno tokens\n")), 75)])
    assert (report.state, code, out) == ("ready", 75, "no tokens\n")


def test_a_unit_that_failed_ends_the_wait_without_the_command(node):
    container, _, replies = node
    failed = (1, b"systemd=degraded\ncontainerd=up\nbr_netfilter=yes\nunit:dind-node-setup.service=failed\n")
    report, code, _ = booted_then(container, replies, [(frames(failed), 76)])
    assert (report.units, code) == ({"dind-node-setup.service": "failed"}, 76)


def test_a_boot_report_that_ends_well_without_running_the_command_is_an_older_images(node):
    from dind_cluster.errors import DockerError

    container, _, replies = node
    with pytest.raises(DockerError, match="older than this dind-cluster"):
        booted_then(container, replies, [(frames(REPORT), 0)])


def test_a_tail_keeps_the_last_whole_lines_within_its_limit():
    from dind_cluster.backend.containers import Tail

    tail = Tail(20)
    text = b"".join(b"line %03d\n" % i for i in range(100))   # 9 bytes a line
    for start in range(0, len(text), 7):   # chunks that cut lines in two
        tail.add(text[start:start + 7])
    kept = tail.value()
    assert kept == b"line 098\nline 099\n"
    assert tail.dropped + len(kept) == len(text)
