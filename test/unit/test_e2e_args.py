"""The e2e / e2e-serial command line: the original's defaults and escaping (kdc-behaviour §7)."""

import re
import shutil
import subprocess

import pytest

from dind_cluster.e2e import e2e_command, e2e_patterns, escape_e2e_name
from dind_cluster.errors import ConfigError


@pytest.mark.parametrize("text, expected", [
    ("existing RC", r"existing\s+RC"),
    ("[Serial]", r"\[Serial\]"),
    (r"a\b", r"a\\b"),
    ("$x*.^(y)", r"\$x\*\.\^\(y\)"),
    ("a \t  b", r"a\s+b"),
    (" lead and trail ", r"\s+lead\s+and\s+trail\s+"),
    ("two\nlines", "twolines"),                 # sed works per line: the newline just goes
    ("end \n start", r"end\s+\s+start"),
    ("a|b+c?{1}", "a|b+c?{1}"),                 # not in the original's list: left alone
    ("", ""),
])
def test_escape_e2e_name_table(text, expected):
    assert escape_e2e_name(text) == expected


@pytest.mark.parametrize("text", ["existing RC", "[sig-network] Services should (serve)",
                                  r"a\b $x *.^", "tabs\tand  spaces", "two\nlines", ""])
def test_escape_matches_the_originals_sed(text):
    if not shutil.which("sed") or not shutil.which("bash"):
        pytest.skip("SKIPPED: needs GNU sed and bash")
    script = r"""sed 's/[]\$*.^()[]/\\&/g; s/\s\+/\\s+/g' <<< "$1" | tr -d '\n'"""
    out = subprocess.run(["bash", "-c", script, "escape", text], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    assert escape_e2e_name(text) == out


@pytest.mark.parametrize("name", ["[sig-apps] Deployment should (work) $1.5*", "existing RC"])
def test_escaped_name_matches_itself_as_a_regexp(name):
    assert re.fullmatch(escape_e2e_name(name), name)


@pytest.mark.parametrize("serial, focus, skip, expected", [
    (False, None, None, (r"\[Conformance\]", r"\[Serial\]")),
    (False, "", "", (r"\[Conformance\]", r"\[Serial\]")),   # empty = not given (bash ${1:-…})
    (False, "existing RC", None, (r"existing\s+RC", r"\[Serial\]")),
    (False, None, "[Slow]", (r"\[Conformance\]", r"\[Slow\]")),
    (True, None, None, (r"\[Serial\].*\[Conformance\]", "")),
    (True, "[sig-node] x", "Flaky one", (r"\[sig-node\]\s+x", r"Flaky\s+one")),
])
def test_focus_and_skip_defaults(serial, focus, skip, expected):
    assert e2e_patterns(serial, focus, skip) == expected


BASE = dict(ginkgo="/k/ginkgo", e2e_test="/k/e2e.test", kubeconfig="/home/u/.kube/config",
            context="dind", report_dir=None, parallel_nodes=4, no_parallel=False)
TAIL = ["/k/e2e.test", "--", "--kubeconfig=/home/u/.kube/config", "--context=dind",
        "--provider=skeleton"]


@pytest.mark.parametrize("serial, focus, skip, changes, expected", [
    (False, None, None, {},
     ["/k/ginkgo", "--nodes=4", *TAIL, r"--ginkgo.focus=\[Conformance\]",
      r"--ginkgo.skip=\[Serial\]"]),
    (False, "existing RC", "[Slow]", {"no_parallel": True, "report_dir": "/tmp/r"},
     ["/k/ginkgo", *TAIL, r"--ginkgo.focus=existing\s+RC", r"--ginkgo.skip=\[Slow\]",
      "--report-dir=/tmp/r"]),
    (True, None, None, {"context": "dind-cluster-10"},
     ["/k/ginkgo", "/k/e2e.test", "--", "--kubeconfig=/home/u/.kube/config",
      "--context=dind-cluster-10", "--provider=skeleton",
      r"--ginkgo.focus=\[Serial\].*\[Conformance\]"]),
    (False, None, None, {"no_color": True, "num_nodes": 2, "parallel_nodes": 1},
     ["/k/ginkgo", "--nodes=1", "--no-color", *TAIL, "--num-nodes=2",
      r"--ginkgo.focus=\[Conformance\]", r"--ginkgo.skip=\[Serial\]"]),
])
def test_e2e_command_lines(serial, focus, skip, changes, expected):
    assert e2e_command(serial, focus, skip, **{**BASE, **changes}) == expected


def test_no_insecure_host_flag_is_ever_passed():
    argv = e2e_command(False, None, None, **BASE)
    assert not [a for a in argv if a.startswith("--host") or ":8080" in a]


def test_serial_run_ignores_the_parallel_node_count():
    assert e2e_command(True, None, None, **{**BASE, "parallel_nodes": 0})[:2] == ["/k/ginkgo",
                                                                                 "/k/e2e.test"]


def test_parallel_run_needs_at_least_one_node():
    with pytest.raises(ConfigError, match="at least 1"):
        e2e_command(False, None, None, **{**BASE, "parallel_nodes": 0})
