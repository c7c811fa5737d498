"""Working inside node containers: files in (put_archive), commands (exec), readiness."""
from __future__ import annotations

import io
import socket
import ssl
import struct
import tarfile
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Union

import docker.errors

from dind_cluster.backend.client import docker_errors
from dind_cluster.errors import CommandFailed, DockerError, Timeout
from dind_cluster.parallel import run_all

Content = Union[bytes, str]
Stdin = Union[bytes, Iterable[bytes], None]


def tar_of(files: Mapping[str, Content], mode: int = 0o644, mtime: Optional[float] = None) -> bytes:
    """Pure: an in-memory tar of absolute paths (extracted at /), with parent directories."""
    buf = io.BytesIO()
    stamp = int(time.time() if mtime is None else mtime)
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set = set()
        for path, content in files.items():
            if not path.startswith("/"):
                raise ValueError(f"put_files needs absolute paths, got {path!r}")
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                if parent not in dirs:
                    dirs.add(parent)
                    info = tarfile.TarInfo(parent)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, stamp
                    tar.addfile(info)
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode, info.mtime = len(data), mode, stamp
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put_files(container, files: Mapping[str, Content], mode: int = 0o644) -> None:
    """Write files into a container, created or running, without any shell quoting."""
    with docker_errors(f"writing {', '.join(files)} into {container.name}"):
        if not container.put_archive("/", tar_of(files, mode)):
            raise DockerError(f"writing files into {container.name} was refused")


# Unpacks the tar on stdin at / (existing directories keep their owner and mode), then runs "$@".
_WITH_FILES = ["sh", "-c", 'tar -x --no-overwrite-dir -C / -f - && exec "$@"', "with-files"]


def exec_with_files(container, files: Mapping[str, Content], argv: list, *, mode: int = 0o644,
                    check: bool = True) -> tuple:
    """put_files then exec_in, in one exec: the files go in as a tar on the command's stdin.
    A put_archive costs the engine more CPU than an exec (dockerd re-executes itself to unpack
    in a chroot), and `up` puts a kubeadm config into every node."""
    return exec_in(container, [*_WITH_FILES, *argv], stdin=tar_of(files, mode), check=check, shown=argv)


_observer: list = [None]  # with -v, the CLI's callback(container name, argv) for every command run


def show_commands(observer: Optional[Callable[[str, list], None]]) -> None:
    """Have `observer` told of every command run in a container from now on (None: stop)."""
    _observer[0] = observer


def exec_in(container, argv: list, *, stdin: Stdin = None,
            environment: Optional[Mapping[str, str]] = None, check: bool = True,
            shown: Optional[list] = None) -> tuple:
    """Run argv in a container; returns (exit code, output with stderr merged). `shown` is the
    command as -v shows it and a failure names it, when argv only wraps it."""
    argv = [str(a) for a in argv]
    shown = [str(a) for a in shown] if shown is not None else argv
    if _observer[0] is not None:
        _observer[0](container.name, shown)
    env = dict(environment or {})
    with docker_errors(f"running '{' '.join(shown)}' in {container.name}"):
        code, frames = run_exec(container, argv, env, stdin)
    text = b"".join(data for _, data in frames).decode(errors="replace")
    if check and code != 0:
        raise CommandFailed(container.name, shown, code, text)
    return code, text


STDOUT, STDERR = 1, 2


def run_exec(container, argv: list, env: Optional[Mapping[str, str]] = None, stdin: Stdin = None,
             collect: Optional[Callable[[int, bytes], None]] = None) -> tuple:
    """Run argv: (exit code, [(STDOUT or STDERR, bytes), …] in the order sent); with `collect`,
    each frame goes to collect(stream, data) instead and the list is empty. With `stdin`, a
    thread writes it on the hijacked socket and then half-closes it while we read the output.
    Docker errors pass unchanged (callers wrap them in docker_errors)."""
    api = container.client.api
    exec_id = api.exec_create(container.id, argv, stdin=stdin is not None, stdout=True, stderr=True,
                              environment=dict(env or {}))["Id"]
    reader, sock = _start_exec(api, exec_id)
    # No bound on the output's pauses: kubeadm init or join may be silent for minutes (pulling
    # images, the kubelet's TLS bootstrap) and bounds its own waits. Writing stdin is bounded.
    api._disable_socket_timeout(sock)
    failed: list = []
    writer = None
    if stdin is not None:
        chunks = [stdin] if isinstance(stdin, bytes) else stdin
        writer = threading.Thread(target=_feed, args=(getattr(sock, "_sock", sock), chunks, failed,
                                                      api.timeout), daemon=True)
        writer.start()
    frames: list = []
    take = collect or (lambda stream, data: frames.append((stream, data)))
    try:
        for stream, data in _frames(reader):
            take(stream, data)
    finally:
        if writer is not None:
            writer.join()
        _close(reader, sock)
    if failed and isinstance(failed[0], _Stalled):
        raise DockerError(f"feeding stdin to '{' '.join(argv)}' in {container.name}: the command took "
                          f"none of it for {failed[0].seconds:g} s", "is the command reading its stdin?")
    code = api.exec_inspect(exec_id)["ExitCode"]
    if failed and (code == 0 or not isinstance(failed[0], OSError)):
        raise DockerError(f"feeding stdin to '{' '.join(argv)}' in {container.name}: {failed[0]}")
    return code, frames


def _close(reader, sock) -> None:
    """End the hijacked connection itself: the buffered reader and the SDK's file objects share
    the socket, so closing one of them leaves it open."""
    raw = getattr(sock, "_sock", sock)
    try:
        raw.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    for obj in (reader, sock, raw):
        try:
            obj.close()
        except OSError:
            pass


def exec_demux(container, argv: list) -> tuple:
    """(exit code, stdout, stderr) of argv run without stdin."""
    code, frames = run_exec(container, argv)
    return (code, b"".join(data for stream, data in frames if stream == STDOUT),
            b"".join(data for stream, data in frames if stream == STDERR))


class Tail:
    """The last `limit` bytes of a stream (cut at a line's start), in at most twice that memory."""

    def __init__(self, limit: int):
        self.limit, self.dropped, self._buf = limit, 0, bytearray()

    def add(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > 2 * self.limit:
            self._cut(len(self._buf) - self.limit)

    def value(self) -> bytes:
        if len(self._buf) > self.limit:
            self._cut(len(self._buf) - self.limit)
        return bytes(self._buf)

    def _cut(self, n: int) -> None:
        if self._buf[n - 1:n] != b"\n":   # the line cut in two goes too
            end = self._buf.find(b"\n", n)
            n = len(self._buf) if end < 0 else end + 1
        self.dropped += n
        del self._buf[:n]


def exec_demux_tail(container, argv: list, limit: int) -> tuple:
    """exec_demux holding at most the last `limit` bytes of stdout and of stderr: (exit code,
    stdout, stderr, bytes of stdout left out). All of it is read, so the command ends as it would."""
    out, err = Tail(limit), Tail(min(limit, 1 << 16))
    code, _ = run_exec(container, argv, collect=lambda stream, data: (out if stream == STDOUT else err).add(data))
    return code, out.value(), err.value(), out.dropped


def _start_exec(api, exec_id: str) -> tuple:
    """Start an exec on a hijacked connection: (what to read its output from, its socket).

    The SDK reads an exec's output from the raw socket under http.client's buffered reader, so the
    output that came in with the response's headers (a quick command on a loaded host) is lost:
    exec_run returns less than was printed, or fails with "N is not a valid stream" when a frame
    is cut. We read through that buffer."""
    res = api._post_json(api._url("/exec/{0}/start", exec_id), data={"Tty": False, "Detach": False},
                         headers={"Connection": "Upgrade", "Upgrade": "tcp"}, stream=True)
    sock = api._get_raw_response_socket(res)   # raises for an error status
    return res.raw._fp.fp, sock


def _frames(reader) -> Iterable[tuple]:
    """Docker's multiplexed stream: an 8-byte header (stream, 3 zero bytes, big-endian length)
    before each frame."""
    while True:
        header = reader.read(8)
        if len(header) < 8:
            return
        length = int.from_bytes(header[4:], "big")
        data = reader.read(length) if length else b""
        if header[0] in (STDOUT, STDERR):
            yield header[0], data


class _Stalled(Exception):
    def __init__(self, seconds: float):
        super().__init__(f"no progress for {seconds:g} s")
        self.seconds = seconds


def _feed(raw, chunks: Iterable[bytes], failed: list, stall_after: Optional[float]) -> None:
    """Write the chunks, then half-close. A send that makes no progress for `stall_after` seconds
    (SO_SNDTIMEO: the reads on the same socket stay unbounded) ends the whole exec."""
    if stall_after:
        seconds = int(stall_after)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                       struct.pack("ll", seconds, int((stall_after - seconds) * 1e6)))
    how = socket.SHUT_WR
    try:
        for chunk in chunks:
            raw.sendall(chunk)
    except (BlockingIOError, ssl.SSLWantWriteError):   # SO_SNDTIMEO ran out (plain or TLS socket)
        failed.append(_Stalled(stall_after))
        how = socket.SHUT_RDWR   # the reads end too: nobody will take the rest
    except Exception as exc:  # noqa: BLE001 - the source or the socket broke; reported below
        failed.append(exc)
    finally:
        try:
            raw.shutdown(how)
        except OSError:
            pass


def run_once(client, image: str, doing: str, **options) -> bytes:
    """Run a short-lived container to completion and return its output; it is removed with its
    anonymous volumes whatever happens (the SDK's run(remove=True) keeps those: a snapshot image
    declares VOLUME /var). A non-zero exit is a DockerError carrying the output."""
    with docker_errors(doing):
        container = client.containers.create(image, **options)
        try:
            container.start()
            code = container.wait().get("StatusCode", 1)
            output = container.logs(stdout=True, stderr=True)
        finally:
            container.remove(force=True, v=True)
    if code != 0:
        raise DockerError(f"{doing} failed (exit {code})", output.decode(errors="replace")[-1000:])
    return output


BOOT_WAIT_SLICE = 10   # seconds one blocking `is-system-running --wait` may take

BOOT_REPORT = "/usr/local/sbin/dind-boot-report"   # in the node image (image/rootfs)


@dataclass(frozen=True)
class BootReport:
    """What a node said about its boot (BOOT_REPORT's key=value lines)."""
    systemd: str
    containerd: bool
    br_netfilter: bool
    units: Mapping[str, str]

    @property
    def state(self) -> str:
        """'ready', or what is still missing: systemd's state or 'containerd'."""
        if self.systemd not in ("running", "degraded"):
            return f"systemd {self.systemd or 'not answering'}"
        return "ready" if self.containerd else "containerd not answering"


def parse_boot_report(text: str) -> BootReport:
    """Pure: the report's key=value lines (anything else, e.g. a shell's complaint, is ignored)."""
    values, units = {}, {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key.startswith("unit:"):
            units[key[len("unit:"):]] = value.strip()
        else:
            values[key] = value.strip()
    return BootReport(systemd=values.get("systemd", ""), containerd=values.get("containerd") == "up",
                      br_netfilter=values.get("br_netfilter") == "yes", units=units)


def boot_report(container, wait: int = 0, units: Iterable[str] = ()) -> BootReport:
    """Ask a node how its boot went, in one exec: with `wait`, systemd answers only once its boot is
    over (up to `wait` seconds). Asking systemd, containerd and each unit separately, and polling,
    cost several execs a node, each about 50 ms of the engine's and runc's time on a small host."""
    code, out = exec_in(container, [BOOT_REPORT, str(wait), *units], check=False)
    if _no_boot_report(code, out):
        raise _older_image(container)
    return parse_boot_report(out)


def _no_boot_report(code: int, out: str) -> bool:
    """The exec couldn't run BOOT_REPORT (wait_until tells this from a node that stopped meanwhile)."""
    return code in (126, 127) and "systemd=" not in out


def _older_image(container) -> DockerError:
    return DockerError(f"node {container.name}: its image is older than this dind-cluster (no {BOOT_REPORT}, "
                       "or one that can't run a command once booted)",
                       "rebuild the node image ('dind-cluster build-image', or unset DIND_IMAGE)")


def wait_until(container, is_ready: Callable[[object], str], *, what: str, timeout: float,
               interval: float = 0.2) -> None:
    """Poll until `is_ready(container)` returns "ready" (else it says what is missing). A container
    that stops, or that its restart policy restarts meanwhile (its entrypoint failed), or the
    timeout, raises with the container's last log lines as the hint; so does an error of
    `is_ready` that the container's stop explains (an exec into it can't run)."""
    deadline = time.monotonic() + timeout
    state, restarts = "not started", None

    def look() -> bool:
        """Inspect it again; whether it stopped, or was restarted since the first look."""
        nonlocal restarts
        with docker_errors(f"inspecting {container.name}"):
            container.reload()
        count = container.attrs.get("RestartCount", 0)
        restarts = count if restarts is None else restarts
        return container.status in ("exited", "dead", "restarting") or count > restarts

    while True:
        if look():
            raise DockerError(f"{what} {container.name} stopped while starting "
                              f"(exit {container.attrs['State'].get('ExitCode')})",
                              last_logs(container))
        if container.status == "running":
            try:
                state = is_ready(container)
            except DockerError:
                if not look() and container.status == "running":
                    raise
                continue   # it stopped or restarted: said at the top
            if state == "ready":
                return
        if time.monotonic() > deadline:
            raise Timeout(f"{what} {container.name} not ready after {timeout:g}s ({state})",
                          last_logs(container))
        time.sleep(interval)


def wait_for_node(container, timeout: float = 120, units: Iterable[str] = ()) -> BootReport:
    """Wait until systemd and containerd run in a node; returns its last boot report."""
    wait = _wait_slice(timeout)
    reports: list = []

    def ready(c) -> str:
        reports[:] = [boot_report(c, wait, units)]
        return reports[0].state

    wait_until(container, ready, what="node", timeout=timeout)
    return reports[0]


def _wait_slice(timeout: float) -> int:
    return max(1, min(BOOT_WAIT_SLICE, int(timeout)))


BOOT_NOT_OVER = 75    # BOOT_REPORT's exit code when its boot wait ran out before COMMAND could run
REPORT_END = "--"     # the line between BOOT_REPORT's report and COMMAND's output


def exec_with_files_once_booted(container, files: Mapping[str, Content], argv: list, *, timeout: float,
                                units: Iterable[str] = (), mode: int = 0o644) -> tuple:
    """wait_for_node, then exec_with_files, in one exec: BOOT_REPORT runs the command in its place
    as soon as the node's boot is over (an exec saved for every worker of `up`, and its join starts
    once it is booted, not once all are). Returns (the boot report, the command's exit code and
    output); judging the report is the caller's."""
    wait, units = _wait_slice(timeout), [str(u) for u in units]
    stdin = tar_of(files, mode)
    done: list = []

    def ready(c) -> str:
        code, out = exec_in(c, [BOOT_REPORT, str(wait), *units, "--", *_WITH_FILES, *argv], stdin=stdin,
                            check=False, shown=[BOOT_REPORT, str(wait), *units, "--", *argv])
        lines = out.split("\n")
        end = lines.index(REPORT_END) if REPORT_END in lines else None
        report = parse_boot_report("\n".join(lines[:end]))
        if end is None:
            if code == BOOT_NOT_OVER:
                return report.state if report.state != "ready" else "booting"
            if code == 0 or _no_boot_report(code, out):   # 0: a BOOT_REPORT that ignored COMMAND
                raise _older_image(c)
        done[:] = [report, code, "\n".join(lines[end + 1:]) if end is not None else out]
        return "ready"

    wait_until(container, ready, what="node", timeout=timeout)
    return tuple(done)


def wait_for_nodes(containers: list, timeout: float = 120, units: Iterable[str] = ()) -> list:
    """Wait for every node in parallel; their boot reports, or the first failure raised."""
    return run_all(lambda c: wait_for_node(c, timeout, units), containers)


def last_logs(container, lines: int = 20) -> str:
    try:
        text = container.logs(tail=lines).decode(errors="replace").rstrip()
    except docker.errors.APIError as exc:
        return f"(no logs: {exc.explanation or exc})"
    return f"last {lines} log lines of {container.name}:\n{text}" if text else "(no log output)"
