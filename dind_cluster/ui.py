"""Progress lines on stderr (✓/✗, colour only on a TTY); data goes to stdout elsewhere."""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Iterator, Optional, Sequence, TextIO

from dind_cluster.errors import one_line


class Progress:
    """Writes one status line per step: `• msg` when it starts, `✓ msg (1.2s)` or `✗ msg` when it ends.

    On a terminal the end line replaces the start line (one line per step) unless something was
    printed in between; elsewhere (CI logs, files) both are plain lines.
    """

    def __init__(self, stream: Optional[TextIO] = None, quiet: bool = False, verbose: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.verbose = verbose
        self._colour = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._lock = threading.Lock()
        self._pending: Optional[object] = None  # the step whose start line awaits its end (TTY only)
        self._commands: set = set()             # commands shown in the current step

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self._colour else text

    def line(self, text: str) -> None:
        if not self.quiet:
            with self._lock:
                self._end_pending()
                print(text, file=self.stream, flush=True)

    def _end_pending(self) -> None:
        if self._pending is not None:
            print(file=self.stream)
            self._pending = None

    def detail(self, text: str) -> None:
        """Shown only with -v: commands run, rendered configs."""
        if self.verbose:
            self.line(self._paint("2", text))

    def command(self, where: str, argv: Sequence[str]) -> None:
        """A command run in a container, shown with -v once per step (polls repeat theirs)."""
        key = (where, tuple(argv))
        if self.verbose and key not in self._commands:
            self._commands.add(key)
            self.detail(f"{where}$ {' '.join(argv)}")

    def _start(self, token: object, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self._end_pending()
            self._commands = set()
            if self._colour:
                print(text, end="", file=self.stream, flush=True)
                self._pending = token
            else:
                print(text, file=self.stream, flush=True)

    def _end(self, token: object, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            if self._pending is token:
                print(f"\r\033[2K{text}", file=self.stream, flush=True)  # over the start line
                self._pending = None
            else:
                self._end_pending()
                print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def step(self, message: str) -> Iterator[None]:
        started, token = time.monotonic(), object()
        self._start(token, f"{self._paint('97', '•')} {message}")
        try:
            yield
        except BaseException:
            self._end(token, f"{self._paint('91', '✗')} {message}")
            raise
        self._end(token, f"{self._paint('92', '✓')} {message} ({time.monotonic() - started:.1f}s)")


def format_error(message: str, hint: str = "") -> str:
    """The one-line error (plus at most one hint line) every known failure prints."""
    text = f"ERROR: {one_line(message)}"
    if hint.strip():
        text += "\n" + "\n".join(one_line(line) for line in hint.strip().splitlines())
    return text
