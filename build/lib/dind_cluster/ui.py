"""Progress lines on stderr (✓/✗, colour only on a TTY); data goes to stdout elsewhere."""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Iterator, Optional, TextIO


class Progress:
    """Writes one status line per step: `• msg` when it starts, `✓ msg (1.2s)` or `✗ msg` when it ends."""

    def __init__(self, stream: Optional[TextIO] = None, quiet: bool = False, verbose: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.verbose = verbose
        self._colour = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._lock = threading.Lock()

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self._colour else text

    def line(self, text: str) -> None:
        if not self.quiet:
            with self._lock:
                print(text, file=self.stream, flush=True)

    def detail(self, text: str) -> None:
        """Shown only with -v: commands run, rendered configs."""
        if self.verbose:
            self.line(self._paint("2", text))

    @contextlib.contextmanager
    def step(self, message: str) -> Iterator[None]:
        started = time.monotonic()
        self.line(f"{self._paint('97', '•')} {message}")
        try:
            yield
        except BaseException:
            self.line(f"{self._paint('91', '✗')} {message}")
            raise
        self.line(f"{self._paint('92', '✓')} {message} ({time.monotonic() - started:.1f}s)")


def format_error(message: str, hint: str = "") -> str:
    """The one-line error (plus at most one hint line) every known failure prints."""
    text = f"ERROR: {message}"
    if hint:
        text += "\n" + hint.strip()
    return text
