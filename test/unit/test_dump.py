"""The dump format: @@@ sections, the dump64 blob, and split-dump into files (kdc-behaviour §6)."""

import base64
import io
import lzma
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dind_cluster import dump
from dind_cluster.errors import DindError

SAMPLE = (
    b"*** Dumping cluster state ***\n"
    b"@@@ psaux-kube-master.txt @@@\n"
    b"USER PID\nroot 1\n"
    b"@@@ pod-kube-master-kube-system-etcd--etcd.log @@@\n"
    b"etcd started\n"
    b"@@@ psaux-kube-master.txt @@@\n"
    b"root 2\n"
)


NOISE = random.Random(7).randbytes(2500)  # incompressible, fixed: several 100-column lines


def files_in(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


# --- writing ---------------------------------------------------------------------------------

def test_section_header_is_the_originals_line():
    assert dump.section_header("nodes.txt") == "@@@ nodes.txt @@@"


@pytest.mark.parametrize("name", ["a b.txt", "a\tb", "../x", "x/y", "..", ".", ""])
def test_section_header_refuses_names_split_dump_could_not_read_back(name):
    with pytest.raises(DindError):
        dump.section_header(name)


def test_encode_dump64_wraps_lzma_alone_base64_at_100_columns_between_markers():
    text = dump.encode_dump64(NOISE)
    lines = text.split("\n")
    assert lines[0] == "%%% start-base64 %%%"
    assert lines[-2:] == ["%%% end-base64 %%%", ""]
    body = lines[1:-2]
    assert len(body) > 2
    assert all(len(line) == 100 for line in body[:-1]) and 0 < len(body[-1]) <= 100
    packed = base64.b64decode("".join(body))
    assert lzma.decompress(packed, format=lzma.FORMAT_ALONE)  # .lzma, not .xz
    with pytest.raises(lzma.LZMAError):
        lzma.decompress(packed, format=lzma.FORMAT_XZ)


# --- reading the blob ------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [SAMPLE, b"", b"no header at all\n", bytes(range(256)) * 50])
def test_encode_then_extract_gives_back_the_dump(payload):
    assert dump.extract_dump64(dump.encode_dump64(payload)) == payload


def ci_log(blob: str, prefix: str = "", eol: str = "\n") -> str:
    noise_before = ["Step 7/9 : run tests", "FAIL: something", "+ ./dind-cluster.sh dump64"]
    noise_after = ["Exited with code 1", "%%% not a marker %%% trailing"]
    lines = noise_before + [prefix + line for line in blob.splitlines()] + noise_after
    return eol.join(lines) + eol


@pytest.mark.parametrize("prefix", ["", "2024-05-01T10:00:00.1234Z ", "[build] | "])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_extract_finds_the_blob_in_a_ci_log_with_noise_prefixes_and_crlf(prefix, eol):
    log = ci_log(dump.encode_dump64(SAMPLE), prefix, eol)
    assert dump.extract_dump64(log) == SAMPLE
    assert dump.extract_dump64(log.encode()) == SAMPLE
    assert dump.extract_dump64(io.BytesIO(log.encode())) == SAMPLE  # lines of a binary file


def test_extract_drops_stderr_lines_that_landed_inside_the_block():
    lines = dump.encode_dump64(NOISE).splitlines()
    lines[1:1] = ["Error from server (BadRequest): container etcd is waiting to start", "found"]
    assert dump.extract_dump64("\n".join(lines)) == NOISE


def test_extract_takes_the_last_complete_blob_of_several():
    first, second = dump.encode_dump64(b"@@@ a @@@\nold\n"), dump.encode_dump64(SAMPLE)
    unfinished = "%%% start-base64 %%%\nXQAAgAD\n"
    assert dump.extract_dump64(first + "retrying\n" + second + unfinished) == SAMPLE


def test_extract_accepts_xz_data_too():
    packed = base64.b64encode(lzma.compress(SAMPLE, format=lzma.FORMAT_XZ)).decode()
    assert dump.extract_dump64(f"%%% start-base64 %%%\n{packed}\n%%% end-base64 %%%\n") == SAMPLE


def corrupt_variants():
    blob = dump.encode_dump64(NOISE).splitlines()
    start, body, end = blob[0], blob[1:-1], blob[-1]
    yield "no markers", "just a log\nwith lines\n", "no dump found"
    yield "no end marker", "\n".join([start] + body), "truncated"
    yield "lines lost", "\n".join([start] + body[:3] + [end]), "corrupt or truncated"
    yield "bad padding", "\n".join([start] + body[:-1] + [body[-1][:-1]] + [end]), "base64"
    flipped = body[2][:50] + ("A" if body[2][50] != "A" else "B") + body[2][51:]
    yield "bit flip", "\n".join([start] + body[:2] + [flipped] + body[3:] + [end]), "LZMA"
    yield "not lzma", f"{start}\n{base64.b64encode(b'hello').decode()}\n{end}", "LZMA"
    yield "empty block", f"{start}\n{end}\n", "LZMA"


CORRUPT = list(corrupt_variants())


@pytest.mark.parametrize("case, log, message", CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_or_truncated_blob_is_a_one_line_error_and_writes_nothing(tmp_path, case, log,
                                                                           message):
    target = tmp_path / "cluster-dump"
    with pytest.raises(DindError) as caught:
        dump.split_dump64(io.BytesIO(log.encode()), target)
    assert message in caught.value.message
    assert "\n" not in caught.value.message
    assert not target.exists()


# --- sections (awk semantics) ----------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    (b"before\n@@@ a @@@\nx\n", [("a", b"x\n")]),                      # text before: dropped
    (b"@@@ a extra words @@@\nx\n", [("a", b"x\n")]),                  # second field only
    (b"@@@ a\t @@@\nx\n", [("a", b"x\n")]),                           # blanks split fields
    (b"@@@  @@@\nx\n", [("@@@", b"x\n")]),                            # awk's $2 is "@@@"
    (b"@@@ a @@@\nlast", [("a", b"last\n")]),                         # print adds a newline
    (b"@@@ a @@@\n\n\n", [("a", b"\n\n")]),                           # empty lines are kept
    (b"@@@ a @@@\r\nx\n", []),                                        # CR: not a header line
    (b"@@@ a @@@\nx\r\n", [("a", b"x\r\n")]),                         # content bytes untouched
    (b" @@@ a @@@\n@@@ a @@@ \n@@@a @@@\n", []),                      # anchored both ends
    (b"@@@ a @@@\n@@@ b @@@\ny\n", [("a", b""), ("b", b"y\n")]),
    (b"@@@ a @@@\n1\n@@@ b @@@\n2\n@@@ a @@@\n3\n", [("a", b"1\n"), ("b", b"2\n"), ("a", b"3\n")]),
])
def test_split_sections_follows_the_originals_awk(data, expected):
    assert dump.split_sections(data) == expected


def test_repeated_sections_append_and_empty_ones_make_no_file(tmp_path):
    data = b"@@@ a @@@\n1\n@@@ empty @@@\n@@@ b @@@\n2\n@@@ a @@@\n3\n"
    paths = dump.write_split_dump(dump.split_sections(data), tmp_path)
    assert [p.name for p in paths] == ["a", "b"]
    assert files_in(tmp_path) == {"a": b"1\n3\n", "b": b"2\n"}


def test_round_trip_encode_extract_split_writes_the_files(tmp_path):
    log = ci_log(dump.encode_dump64(SAMPLE), eol="\r\n")
    paths = dump.split_dump64(io.BytesIO(log.encode()), tmp_path / "cluster-dump")
    assert files_in(tmp_path / "cluster-dump") == {
        "psaux-kube-master.txt": b"USER PID\nroot 1\nroot 2\n",
        "pod-kube-master-kube-system-etcd--etcd.log": b"etcd started\n",
    }
    assert all(p.parent == tmp_path / "cluster-dump" for p in paths)


def test_files_of_an_earlier_run_are_replaced_and_other_files_stay(tmp_path):
    (tmp_path / "psaux-kube-master.txt").write_bytes(b"stale content that is much longer\n" * 9)
    (tmp_path / "notes.txt").write_bytes(b"mine\n")
    dump.split_dump(io.BytesIO(SAMPLE), tmp_path)
    assert (tmp_path / "psaux-kube-master.txt").read_bytes() == b"USER PID\nroot 1\nroot 2\n"
    assert (tmp_path / "notes.txt").read_bytes() == b"mine\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temp file left


@pytest.mark.parametrize("name", ["../escape.txt", "sub/file", "/etc/passwd", "..", "."])
def test_names_leaving_the_directory_are_rejected_before_anything_is_written(tmp_path, name):
    data = b"@@@ fine.txt @@@\nok\n@@@ " + name.encode() + b" @@@\nbad\n"
    target = tmp_path / "cluster-dump"
    with pytest.raises(DindError, match="not a plain file name"):
        dump.split_dump(io.BytesIO(data), target)
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_split_dump_reads_a_text_stream_too(tmp_path):
    dump.split_dump(io.StringIO(SAMPLE.decode()), tmp_path)
    etcd_log = tmp_path / "pod-kube-master-kube-system-etcd--etcd.log"
    assert etcd_log.read_bytes() == b"etcd started\n"


def test_a_file_that_cannot_be_written_is_a_dind_error(tmp_path):
    (tmp_path / "a").mkdir()  # a directory where a section's file should go
    with pytest.raises(DindError, match="cannot write"):
        dump.split_dump(io.BytesIO(b"@@@ a @@@\nx\n"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_listing_is_sorted_with_mode_and_aligned_sizes(tmp_path):
    data = b"@@@ zz @@@\n" + b"x" * 1200 + b"\n@@@ aa @@@\ny\n"
    paths = dump.split_dump(io.BytesIO(data), tmp_path)
    lines = dump.listing(paths).splitlines()
    assert [line.split()[-1] for line in lines] == ["aa", "zz"]
    assert [line.split()[1] for line in lines] == ["2", "1201"]
    assert all(line.startswith("-rw") for line in lines)
    assert lines[0].index(" 2 ") == lines[1].index("1201") + 2  # sizes right-aligned


# --- property: whatever we write, we read back -----------------------------------------------

names = st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True).filter(
    lambda n: n not in (".", ".."))
lines = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")).filter(
    lambda b: not (b.startswith(b"@@@ ") and b.endswith(b" @@@")))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(names, st.lists(lines, max_size=5)), max_size=6))
def test_any_dump_we_write_splits_back_into_its_sections(sections):
    text = b"".join(dump.section_header(n).encode() + b"\n" + b"".join(l + b"\n" for l in body)
                    for n, body in sections)
    back = dump.split_sections(dump.extract_dump64(dump.encode_dump64(text)))
    assert back == [(n, b"".join(l + b"\n" for l in body)) for n, body in sections]
