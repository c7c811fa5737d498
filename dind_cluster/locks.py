"""Locks between dind-cluster processes on one host: flock(2) on a file under the cache.

flock is released by the kernel when its holder exits, so a crashed run never leaves a stale
lock. Locks are re-entrant within a process (`reup` is `down` then `up`).
(The kubeconfig is different: it is shared with kubectl and uses kubectl's protocol, see
kubeconfig.locked.)
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

from dind_cluster.errors import DindError

_held: dict = {}          # path -> [fd, depth]
_guard = threading.RLock()


@contextlib.contextmanager
def hold(path: Path, busy: Optional[Callable[[str], DindError]] = None, wait: float = 600.0,
         note: str = "") -> Iterator[None]:
    """Hold the lock at `path`. With `busy`, fail at once with busy(what the holder wrote: its pid
    and `note`) when another process has it; without, wait for it up to `wait` seconds."""
    key = str(path)
    with _guard:
        if key in _held:
            _held[key][1] += 1
        else:
            _held[key] = [_acquire(Path(path), busy, wait, note), 1]
    try:
        yield
    finally:
        with _guard:
            entry = _held[key]
            entry[1] -= 1
            if not entry[1]:
                del _held[key]
                os.close(entry[0])  # closing the descriptor releases the flock


def _acquire(path: Path, busy, wait: float, note: str) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DindError(f"can't create the lock file {path}: {exc.strerror or exc}") from None
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if busy is not None or time.monotonic() > deadline:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise (busy(holder) if busy else DindError(f"{path} stays locked by process {holder}")) from None
            time.sleep(0.1)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {note}".strip().encode() + b"\n", 0)
    return fd
