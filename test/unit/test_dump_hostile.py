"""Hostile dumps: a tiny log that unpacks to gigabytes, a symlinked ./cluster-dump, escape
sequences in section names. split-dump64 streams, stops at its cap with one line, writes nothing."""
import base64
import lzma
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from dind_cluster import dump
from dind_cluster.errors import DindError

MIB = 1 << 20


def bomb_log(megabytes: int) -> bytes:
    """A dump64 log of a few KB whose dump is `megabytes` MiB of 100-column lines."""
    packer = lzma.LZMACompressor(format=lzma.FORMAT_ALONE, preset=1)
    parts = [packer.compress(b"@@@ big.txt @@@\n")]
    block = (b"x" * 99 + b"\n") * (MIB // 100)
    parts += [packer.compress(block) for _ in range(megabytes)]
    parts.append(packer.flush())
    text = base64.b64encode(b"".join(parts)).decode()
    body = "".join(text[i:i + 100] + "\n" for i in range(0, len(text), 100))
    return f"{dump.START_MARKER}\n{body}{dump.END_MARKER}\n".encode()


BOMB = Path(__file__).parent / "fixtures" / "dump64-bomb-256mib.log"   # bomb_log(256), 50 KB


@pytest.fixture(scope="module")
def bomb():
    return BOMB.read_bytes()


def test_the_bomb_fixture_is_what_bomb_log_makes():
    """The fixture is kept so the suite needn't compress 256 MiB each run; a small one proves the recipe."""
    small = bomb_log(2)
    assert dump.extract_dump64(small).startswith(b"@@@ big.txt @@@\n" + b"x" * 99)
    assert BOMB.read_bytes().startswith(small[:60])


def test_a_dump_past_the_cap_stops_with_one_line_and_writes_nothing(tmp_path, bomb):
    import io
    target = tmp_path / "cluster-dump"
    with pytest.raises(DindError, match="more than 10485760 bytes"):
        dump.split_dump64(io.BytesIO(bomb), target, max_bytes=10 * MIB)
    assert list(tmp_path.iterdir()) == []   # neither the target nor the staging directory


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (200 * MIB, 200 * MIB))


def test_the_cli_streams_a_bomb_in_bounded_memory(tmp_path, bomb):
    """256 MiB unpacked, 200 MiB of address space: only a streaming reader gets to the cap."""
    env = {**os.environ, "DIND_DUMP_MAX_BYTES": str(16 * MIB), "EMBEDDED_CONFIG": "y"}
    result = subprocess.run([sys.executable, "-c", "from dind_cluster.cli import main; main()", "split-dump64"],
                            input=bomb, capture_output=True, cwd=tmp_path, env=env, timeout=120,
                            preexec_fn=_limit_memory)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert err.splitlines()[0].startswith("ERROR: the dump unpacks to more than 16777216 bytes"), err
    assert list(tmp_path.iterdir()) == []


def test_the_cap_is_a_checked_setting(tmp_path, bomb):
    env = {**os.environ, "DIND_DUMP_MAX_BYTES": "lots", "EMBEDDED_CONFIG": "y"}
    result = subprocess.run([sys.executable, "-c", "from dind_cluster.cli import main; main()", "split-dump64"],
                            input=bomb, capture_output=True, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.decode().startswith("ERROR: DIND_DUMP_MAX_BYTES: 'lots' is not a number of bytes")


@pytest.mark.parametrize("reader, data", [
    (dump.split_dump, b"@@@ a @@@\nline\n"),
    (dump.split_dump64, dump.encode_dump64(b"@@@ a @@@\nline\n").encode()),
])
def test_a_symlinked_target_is_not_followed(tmp_path, reader, data):
    import io
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cluster-dump").symlink_to(elsewhere)
    with pytest.raises(DindError, match="symlink"):
        reader(io.BytesIO(data), tmp_path / "cluster-dump")
    assert list(elsewhere.iterdir()) == []


def test_escape_sequences_in_section_names_are_not_echoed_raw(tmp_path):
    import io
    name = "evil\x1b]0;pwned\x07\x1b[2J.txt"
    paths = dump.split_dump(io.BytesIO(f"@@@ {name} @@@\nx\n".encode()), tmp_path / "d")
    listing = dump.listing(paths)
    assert "\x1b" not in listing and "\x07" not in listing
    assert "evil\\x1b]0;pwned\\x07" in listing


def test_a_streamed_split_matches_the_in_memory_one(tmp_path):
    import io
    data = b"junk\n@@@ a @@@\n1\n@@@ b @@@\n2\n@@@ a @@@\n3\n@@@ empty @@@\n@@@ c @@@\nlast"
    paths = dump.split_dump64(io.BytesIO(dump.encode_dump64(data).encode()), tmp_path / "d")
    got = {p.name: p.read_bytes() for p in paths}
    assert got == dump.merge_sections(dump.split_sections(data))
    assert [p.name for p in paths] == ["a", "b", "c"]
