"""Progress lines: one line per step on a terminal (the end replaces the start), plain start and end
lines elsewhere; -v shows each command once per step."""
from __future__ import annotations

import io
import re

import pytest

from dind_cluster.ui import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def shown(raw: str) -> list:
    """What a terminal displays: \\r + erase-line rewrites the current line; colours dropped."""
    lines = [""]
    for part in re.split(r"(\n|\r\x1b\[2K)", re.sub(r"\x1b\[\d+m", "", raw)):
        if part == "\n":
            lines.append("")
        elif part == "\r\x1b[2K":
            lines[-1] = ""
        else:
            lines[-1] += part
    return [line for line in lines if line]


def test_on_a_terminal_each_step_ends_on_its_own_start_line():
    out = Terminal()
    progress = Progress(stream=out)
    for name in ("one", "two"):
        with progress.step(f"Step {name}"):
            pass
    assert [re.sub(r"\(\d+\.\ds\)", "(t)", line) for line in shown(out.getvalue())] == [
        "✓ Step one (t)", "✓ Step two (t)"]


def test_on_a_terminal_output_inside_a_step_keeps_the_start_line():
    out = Terminal()
    progress = Progress(stream=out, verbose=True)
    with pytest.raises(RuntimeError):
        with progress.step("Failing"):
            progress.detail("a detail")
            raise RuntimeError
    assert shown(out.getvalue()) == ["• Failing", "a detail", "✗ Failing"]


def test_in_logs_start_and_end_are_plain_lines_with_the_duration():
    out = io.StringIO()
    with Progress(stream=out).step("Working"):
        pass
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    start, end = out.getvalue().splitlines()
    assert start == "• Working" and re.fullmatch(r"✓ Working \(\d+\.\ds\)", end)


def test_verbose_shows_each_command_once_per_step_and_quiet_mode_nothing():
    out = io.StringIO()
    progress = Progress(stream=out, verbose=True)
    for _ in range(2):
        with progress.step("Waiting"):
            for _ in range(3):
                progress.command("kube-master", ["systemctl", "is-system-running"])
    assert out.getvalue().count("kube-master$ systemctl is-system-running") == 2
    silent = io.StringIO()
    Progress(stream=silent, verbose=False).command("kube-master", ["true"])
    assert silent.getvalue() == ""
