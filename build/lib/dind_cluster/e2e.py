"""The command line of `e2e` and `e2e-serial` (kdc-behaviour §7), for today's e2e.test.

The original ran `go run hack/e2e.go -- --test --test_args='--host=http://…:8080 …'` in a golang
container. hack/e2e.go and the insecure port are gone; today the prebuilt e2e.test runs under the
ginkgo CLI (like k8s' hack/ginkgo-e2e.sh and kind's CI): `ginkgo [--nodes=N] e2e.test -- <flags>`,
reaching the cluster through the host kubeconfig and its context. Defaults and the escaping of focus
and skip are the original's. Pure: values in, argv out.
"""

from __future__ import annotations

import re
from typing import Optional

from .errors import ConfigError

CONFORMANCE_FOCUS = r"\[Conformance\]"
SERIAL_CONFORMANCE_FOCUS = r"\[Serial\].*\[Conformance\]"
DEFAULT_SKIP = "[Serial]"  # escaped like a user's value, giving \[Serial\]

# The original's `sed 's/[]\$*.^()[]/\\&/g; s/\s\+/\\s+/g' | tr -d '\n'`.
_SPECIAL = re.compile(r"([\]\\$*.^()\[])")
_BLANKS = re.compile(r"[ \t\r\f\v]+")  # sed's \s within one line


def escape_e2e_name(text: str) -> str:
    """A test name as a ginkgo regexp: specials escaped, blank runs `\\s+`, newlines dropped.

    sed works line by line, so a newline is removed rather than turned into `\\s+`.
    """
    return "".join(_BLANKS.sub(r"\\s+", _SPECIAL.sub(r"\\\1", line)) for line in text.split("\n"))


def e2e_patterns(serial: bool, focus: Optional[str], skip: Optional[str]) -> tuple[str, str]:
    """(focus, skip) regexps; empty means "not given", as with the original's `${1:-…}`."""
    if serial:
        return (escape_e2e_name(focus) if focus else SERIAL_CONFORMANCE_FOCUS,
                escape_e2e_name(skip or ""))
    return (escape_e2e_name(focus) if focus else CONFORMANCE_FOCUS,
            escape_e2e_name(skip or DEFAULT_SKIP))


def runs_parallel(serial: bool, no_parallel: bool) -> bool:
    """GINKGO_PARALLEL: `e2e` runs in parallel unless DIND_NO_PARALLEL_E2E; e2e-serial never."""
    return not serial and not no_parallel


def e2e_command(serial: bool, focus: Optional[str], skip: Optional[str], *, ginkgo: str,
                e2e_test: str, kubeconfig: str, context: str, report_dir: Optional[str],
                parallel_nodes: int, no_parallel: bool, no_color: bool = False,
                num_nodes: Optional[int] = None) -> list[str]:
    """argv for `e2e [focus] [skip]` (serial=False) or `e2e-serial [focus] [skip]` (serial=True).

    `no_color` adds ginkgo's `--no-color` (the CLI passes it when stdout is not a TTY; the
    original had this backwards). `num_nodes` is e2e.test's `--num-nodes`, the cluster's
    schedulable node count.
    """
    focus_re, skip_re = e2e_patterns(serial, focus, skip)
    argv = [ginkgo]
    if runs_parallel(serial, no_parallel):
        if parallel_nodes < 1:
            raise ConfigError("e2e parallel nodes", f"must be at least 1, got {parallel_nodes}",
                              "a positive whole number")
        argv.append(f"--nodes={parallel_nodes}")
    if no_color:
        argv.append("--no-color")
    argv += [e2e_test, "--", f"--kubeconfig={kubeconfig}", f"--context={context}",
             "--provider=skeleton"]
    if num_nodes is not None:
        argv.append(f"--num-nodes={num_nodes}")
    if focus_re:
        argv.append(f"--ginkgo.focus={focus_re}")
    if skip_re:
        argv.append(f"--ginkgo.skip={skip_re}")
    if report_dir:
        argv.append(f"--report-dir={report_dir}")
    return argv
