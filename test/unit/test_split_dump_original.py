"""Compatibility with the original's tools: its blobs read by us, ours read by its pipeline.

The original wrote `lzma | base64 -w 100` and read with sed, `base64 -d`, `lzma -dc` and awk
(kdc-behaviour §6). These tests run those very commands; fixtures/dump/ holds a log made by them
(see make-fixture.sh) so the format stays pinned even where the tools are missing.
"""

import io
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dind_cluster import dump

FIXTURES = Path(__file__).parent / "fixtures" / "dump"
AWK = "awk '!/^@@@ .* @@@$/{print >out}; /^@@@ .* @@@$/{out=$2}' out=/dev/null"
ORIGINAL_SPLIT_DUMP = f"mkdir -p cluster-dump && cd cluster-dump && {AWK}"
ORIGINAL_SPLIT_DUMP64 = (
    "set -o pipefail; sed -n '/^%%% start-base64 %%%$/,/^%%% end-base64 %%%$/p' | sed '1d;$d' | "
    f"base64 -d | lzma -dc | {{ {ORIGINAL_SPLIT_DUMP}; }}"
)
needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("lzma", "base64", "sed", "awk", "bash")),
    reason="SKIPPED: needs lzma, base64, sed, awk and bash on PATH to run the original's pipeline",
)
DUMP = (b"*** Dumping cluster state ***\n@@@ psaux-kube-node-1.txt @@@\n"
        + b"".join(b"root %d /usr/bin/thing --n=%d\n" % (i, i * i) for i in range(300))
        + b"@@@ ip-a-kube-node-1.txt @@@\n1: lo: <LOOPBACK,UP>\r\n\n"
        + b"@@@ psaux-kube-node-1.txt @@@\nappended\n@@@ nodes.txt @@@\nno final newline")


def files_in(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def run(script: str, stdin: bytes, cwd: Path = None) -> bytes:
    return subprocess.run(["bash", "-c", script], input=stdin, cwd=cwd, check=True,
                          stdout=subprocess.PIPE).stdout


def test_log_written_by_the_original_splits_into_the_originals_files(tmp_path):
    log = (FIXTURES / "ci-log-original.txt").read_bytes()
    dump.split_dump64(io.BytesIO(log), tmp_path / "cluster-dump")
    assert files_in(tmp_path / "cluster-dump") == files_in(FIXTURES / "expected")


@needs_tools
@pytest.mark.parametrize("eol, prefix", [(b"\n", b""), (b"\r\n", b""), (b"\r\n", b"12:00:01 | ")])
def test_blob_from_real_lzma_and_base64_in_a_noisy_ci_log_is_read(tmp_path, eol, prefix):
    blob = run("lzma | base64 -w 100", DUMP).splitlines()
    body = [b"%%% start-base64 %%%"] + blob + [b"%%% end-base64 %%%"]
    log = eol.join([b"$ make test", b"FAIL kube-dns not ready", b"+ ./dind-cluster.sh dump64"]
                   + [prefix + line for line in body] + [b"Exited with code 1", b""])
    assert dump.extract_dump64(log) == DUMP
    dump.split_dump64(io.BytesIO(log), tmp_path / "ours")
    run(ORIGINAL_SPLIT_DUMP, DUMP, cwd=tmp_path)  # the original's split-dump on the plain dump
    assert files_in(tmp_path / "ours") == files_in(tmp_path / "cluster-dump")


@needs_tools
def test_our_blob_in_a_log_is_read_by_the_originals_split_dump64(tmp_path):
    log = b"noise before\n" + dump.encode_dump64(DUMP).encode() + b"noise after\n"
    run(ORIGINAL_SPLIT_DUMP64, log, cwd=tmp_path)
    dump.split_dump64(io.BytesIO(log), tmp_path / "ours")
    assert files_in(tmp_path / "cluster-dump") == files_in(tmp_path / "ours")
    assert set(files_in(tmp_path / "ours")) == {"psaux-kube-node-1.txt", "ip-a-kube-node-1.txt",
                                                "nodes.txt"}


@needs_tools
def test_our_blob_is_byte_for_byte_what_lzma_and_base64_print():
    data = random.Random(3).randbytes(5000) + DUMP
    blob = run("lzma | base64 -w 100", data)
    expected = b"%%% start-base64 %%%\n" + blob + b"%%% end-base64 %%%\n"
    assert dump.encode_dump64(data).encode() == expected


@needs_tools
def test_earlier_runs_files_are_truncated_like_awk_and_others_kept(tmp_path):
    for side in ("cluster-dump", "ours"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "nodes.txt").write_bytes(b"stale\n" * 100)
        (tmp_path / side / "keep.txt").write_bytes(b"mine\n")
    run(ORIGINAL_SPLIT_DUMP, DUMP, cwd=tmp_path)
    dump.split_dump(io.BytesIO(DUMP), tmp_path / "ours")
    assert files_in(tmp_path / "ours") == files_in(tmp_path / "cluster-dump")
    assert (tmp_path / "ours" / "keep.txt").read_bytes() == b"mine\n"


header_lines = st.sampled_from([b"@@@ a @@@", b"@@@ b.log @@@", b"@@@ a x y @@@", b"@@@  @@@",
                                b"@@@ b.log\t @@@", b"@@@\ta @@@", b" @@@ a @@@", b"@@@ c @@@ "])
text_lines = st.text(alphabet=" \t\r@abc.-", max_size=12).map(str.encode)


@needs_tools
@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(header_lines, text_lines), max_size=12), st.booleans())
def test_split_sections_agrees_with_the_originals_awk(tmp_path_factory, lines, final_newline):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    where = tmp_path_factory.mktemp("awk")
    run(ORIGINAL_SPLIT_DUMP, data, cwd=where)
    dump.write_split_dump(dump.split_sections(data), where / "ours")
    assert files_in(where / "ours") == files_in(where / "cluster-dump")
