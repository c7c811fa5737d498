"""The cluster dump format, byte for byte the original's (kdc-behaviour §6).

A dump is text cut into sections by `@@@ <file> @@@` lines. `dump64` wraps it as LZMA-alone data,
base64 at 100 columns, between `%%% start-base64 %%%` and `%%% end-base64 %%%` lines, so that it
survives a CI log. Reading follows the original's awk: a header line switches to the file named by
its second blank-separated field, every other line goes to the current file with a newline, lines
before the first header are dropped, a repeated name appends, a section with no lines makes no file.

Pure: bytes in, bytes out. Only `write_split_dump`, the split commands (and `listing`) touch the
disk. The split commands stream: the blob is decompressed a chunk at a time into a hidden staging
directory beside the target, at most `max_bytes` in all (a 13 KB log can hold gigabytes of
zeros), and its files are moved into place only when everything decoded, so a corrupt or
oversized dump leaves nothing behind.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import lzma
import os
import re
import secrets
import shutil
import stat
import time
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, List, Tuple, TypeVar, Union

from .errors import DindError, one_line

START_MARKER = "%%% start-base64 %%%"
END_MARKER = "%%% end-base64 %%%"
DUMP_DIR = "cluster-dump"
WRAP_COLUMNS = 100

# awk's `/^@@@ .* @@@$/` on one record (the record never holds its newline).
_HEADER = re.compile(rb"@@@ .* @@@", re.DOTALL)
# awk's default field splitting: runs of blanks.
_FIELD = re.compile(rb"[^ \t]+")
_FULL_LINE = re.compile(rb"[A-Za-z0-9+/]{%d}" % WRAP_COLUMNS)
_LAST_LINE = re.compile(rb"[A-Za-z0-9+/]{0,%d}={0,2}" % WRAP_COLUMNS)
_HINT = "copy the whole block from the log, marker lines included"
DEFAULT_MAX_BYTES = 1 << 30          # what split-dump64 unpacks at most (DIND_DUMP_MAX_BYTES)
_CHUNK = 1 << 20


class CorruptBlob(DindError):
    """The blob's base64 or LZMA data doesn't decode (as against one that is too big)."""

Sections = List[Tuple[str, bytes]]
T = TypeVar("T")
LogSource = Union[str, bytes, Iterable[Union[str, bytes]]]


# --- writing -------------------------------------------------------------------------------------

def section_header(name: str) -> str:
    """The line that starts section `name` (without its newline)."""
    _check_name(name)
    if re.search(r"\s", name):
        # awk takes the second field only: a blank would cut the name.
        raise DindError(f"dump section name {name!r} contains whitespace")
    return f"@@@ {name} @@@"


def encode_dump64(dump: bytes) -> str:
    """What `echo start; lzma | base64 -w 100; echo end` prints for `dump`."""
    text = base64.b64encode(lzma.compress(dump, format=lzma.FORMAT_ALONE)).decode("ascii")
    body = "".join(text[i:i + WRAP_COLUMNS] + "\n" for i in range(0, len(text), WRAP_COLUMNS))
    return f"{START_MARKER}\n{body}{END_MARKER}\n"


# --- reading -------------------------------------------------------------------------------------

def extract_dump64(source: LogSource, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The dump inside a CI log (text, bytes, or an iterable of lines).

    Accepted: any line ending (LF or CRLF); marker lines that END with the marker, so a log prefix
    such as a timestamp is fine; on the lines between, the last blank-separated word is the base64
    text (again so that prefixed logs work); blank lines are skipped; stray lines before the blob
    (stderr of the dump) are dropped when the rest decodes. When the log holds several complete
    blobs the last one wins (the latest dump). LZMA-alone and .xz data are both accepted.
    """
    tokens = _last_blob(_as_lines(source))
    return _decoded(tokens, lambda blob: b"".join(_unpacked(blob, max_bytes)))


def _decoded(tokens: list[bytes], use: Callable[[list[bytes]], T]) -> T:
    """use(tokens); when they are corrupt, again with the trailing run of lines that look like
    our 100-column wrapping (lines the dump wrote to stderr can land inside the blob)."""
    try:
        return use(tokens)
    except DindError as first:
        tail = _wrapped_tail(tokens)
        if 0 < len(tail) < len(tokens) and isinstance(first, CorruptBlob):
            with contextlib.suppress(DindError):
                return use(tail)
        raise  # the first, strict attempt's error


def _wrapped_tail(tokens: list[bytes]) -> list[bytes]:
    if not tokens or not _LAST_LINE.fullmatch(tokens[-1]):
        return []
    start = len(tokens) - 1
    while start > 0 and _FULL_LINE.fullmatch(tokens[start - 1]):
        start -= 1
    return tokens[start:]


def _as_lines(source: LogSource) -> list[bytes]:
    if isinstance(source, str):
        source = source.encode("utf-8", "surrogateescape")
    if isinstance(source, (bytes, bytearray)):
        return bytes(source).split(b"\n")
    return [line.encode("utf-8", "surrogateescape") if isinstance(line, str) else bytes(line)
            for line in source]


def _last_blob(lines: list[bytes]) -> list[bytes]:
    start, end = START_MARKER.encode(), END_MARKER.encode()
    current: list[bytes] | None = None
    found: list[bytes] | None = None
    for raw in lines:
        line = raw.rstrip()  # CR, LF and trailing blanks
        if line.endswith(start):
            current = []  # a new start also drops an earlier unfinished blob
        elif line.endswith(end) and current is not None:
            found, current = current, None
        elif current is not None and line:
            current.append(line.split()[-1])
    if found is not None:
        return found
    if current is not None:
        raise DindError(f"the dump in the log is truncated: '{END_MARKER}' is missing", _HINT)
    raise DindError(f"no dump found: no line ends with '{START_MARKER}'",
                    "feed the log of a run that called `dind-cluster dump64`")


def split_sections(data: bytes) -> Sections:
    """(name, content) for each header in `data`, in order, with awk's record rules."""
    sections: list[tuple[str, list[bytes]]] = []
    for name, line in _section_lines([data]):
        if line is None:
            sections.append((name, []))
        else:
            sections[-1][1].append(line)
    return [(name, b"".join(parts)) for name, parts in sections]


def _section_lines(chunks: Iterable[bytes]) -> Iterator[Tuple[str, Union[bytes, None]]]:
    """(name, None) at each header, then (name, line + newline) for each line of that section."""
    name = None
    for record in _records(chunks):
        if _HEADER.fullmatch(record):
            name = os.fsdecode(_FIELD.findall(record)[1])
            yield name, None
        elif name is not None:
            yield name, record + b"\n"  # awk's print adds ORS, even on a last line


def _records(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """awk's records: lines without their newline; a final newline starts no extra record."""
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def merge_sections(sections: Sections) -> dict[str, bytes]:
    """One entry per file, repeated names appended, empty sections dropped (awk opens no file)."""
    merged: dict[str, bytes] = {}
    for name, content in sections:
        _check_name(name)
        if content:
            merged[name] = merged.get(name, b"") + content
    return merged


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise DindError(f"dump section name {name!r} is not a plain file name",
                        "a dump section must name a file inside the dump directory")


# --- files ---------------------------------------------------------------------------------------

def write_split_dump(sections: Sections, target_dir: Union[str, Path]) -> list[Path]:
    """Write each section as a file in `target_dir`; returns the paths in order of appearance.

    Every name is checked before the directory is made. A file of an earlier run with the same name
    is replaced whole (awk truncates it); other files in the directory stay.
    """
    merged = merge_sections(sections)
    target = Path(target_dir)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DindError(f"cannot create {target}: {err.strerror or err}") from None
    return [write_file(target / name, content) for name, content in merged.items()]


def write_file(path: Path, content: bytes) -> Path:
    """Write `path` whole. A temp file + rename: a reader never sees half a file, a failure leaves
    the old one, and a symlink in its place is replaced, never written through."""
    tmp = path.with_name(f".dump-{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies, like awk
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DindError(f"cannot write {path}: {err.strerror or err}") from None
    return path


def split_dump(stream: BinaryIO, target_dir: Union[str, Path] = DUMP_DIR) -> list[Path]:
    """`split-dump`: a plain dump on `stream` into files under `target_dir`."""
    return _split_to_files(_read_chunks(stream), target_dir)


def _read_chunks(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return
        yield chunk.encode("utf-8", "surrogateescape") if isinstance(chunk, str) else chunk


def split_dump64(stream: BinaryIO, target_dir: Union[str, Path] = DUMP_DIR,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> list[Path]:
    """`split-dump64`: the dump64 blob inside a log on `stream` into files under `target_dir`,
    decompressed as a stream of at most `max_bytes`."""
    tokens = _last_blob(_as_lines(stream.read()))
    return _decoded(tokens, lambda blob: _split_to_files(_unpacked(blob, max_bytes), target_dir))


def _unpacked(tokens: list[bytes], max_bytes: int) -> Iterator[bytes]:
    """The blob's dump, a chunk at a time; more than `max_bytes` in all is an error."""
    unpacker, total = lzma.LZMADecompressor(format=lzma.FORMAT_AUTO), 0
    for packed in _base64_chunks(tokens):
        while not unpacker.eof:
            try:
                out = unpacker.decompress(packed, max_length=_CHUNK)
            except lzma.LZMAError as err:
                raise CorruptBlob(f"the dump's LZMA data is corrupt or truncated ({err})", _HINT) from None
            packed, total = b"", total + len(out)
            if total > max_bytes:
                raise DindError(f"the dump unpacks to more than {max_bytes} bytes; stopped",
                                "a real dump is far smaller; DIND_DUMP_MAX_BYTES raises the limit")
            yield out
            if unpacker.needs_input:
                break
    if not unpacker.eof:
        raise CorruptBlob("the dump's LZMA data is corrupt or truncated (end of stream missing)", _HINT)


def _base64_chunks(tokens: list[bytes]) -> Iterator[bytes]:
    """Decoded base64, a few hundred lines at a time (cut at a multiple of 4 characters)."""
    rest = b""
    for start in range(0, len(tokens), 512):
        text = rest + b"".join(tokens[start:start + 512])
        cut = len(text) - len(text) % 4
        yield _b64(text[:cut])
        rest = text[cut:]
    if rest:
        yield _b64(rest)


def _b64(text: bytes) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise CorruptBlob(f"the dump's base64 text is corrupt ({err})", _HINT) from None


def _split_to_files(chunks: Iterable[bytes], target_dir: Union[str, Path]) -> list[Path]:
    """Sections streamed into a staging directory beside `target_dir`, then moved into it."""
    target = Path(target_dir)
    if target.is_symlink():
        raise DindError(f"{target} is a symlink; the dump is not written through it",
                        "remove it, or split the dump in another directory")
    staging = target.parent / f".{target.name}-{secrets.token_hex(6)}.tmp"
    try:
        try:
            staging.mkdir(parents=True)
            names = _write_sections(chunks, staging)
            target.mkdir(exist_ok=True)
            in_the_way = [target / n for n in names if (target / n).is_dir() and not (target / n).is_symlink()]
            if in_the_way:
                raise IsADirectoryError(21, "Is a directory", str(in_the_way[0]))
            for name in names:  # a symlink in the target is replaced, never written through
                os.replace(staging / name, target / name)
            return [target / name for name in names]
        except OSError as err:
            raise DindError(f"cannot write {getattr(err, 'filename', None) or target}: "
                            f"{err.strerror or err}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_sections(chunks: Iterable[bytes], staging: Path) -> list[str]:
    """Each section's lines appended to its file (awk's rules); names in order of first line."""
    names: dict[str, None] = {}
    out, current = None, None
    try:
        for name, line in _section_lines(chunks):
            if line is None:
                _check_name(name)
                continue
            if name != current:
                if out:
                    out.close()
                out, current = open(staging / name, "ab"), name
                names[name] = None
            out.write(line)
    finally:
        if out:
            out.close()
    return list(names)



def listing(paths: Iterable[Path]) -> str:
    """An `ls -l`-like listing (mode, size, time, name), sorted by name, one line per file."""
    rows = []
    for path in sorted(set(map(Path, paths)), key=lambda p: p.name):
        info = path.stat()
        when = time.strftime("%b %d %H:%M", time.localtime(info.st_mtime))
        rows.append((stat.filemode(info.st_mode), str(info.st_size), when, path.name))
    width = max((len(row[1]) for row in rows), default=0)
    return "".join(f"{mode} {size:>{width}} {when} {one_line(name)}\n" for mode, size, when, name in rows)
