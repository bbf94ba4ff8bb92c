"""The zip side of ``cvelist_fetch``: CVE List assets read member by member, trusting nothing.

A baseline of the whole CVE List holds about 280,000 members. ``zipfile.ZipFile`` builds a
``ZipInfo`` for every member on opening (about 600 bytes each, 170 MB for the whole list),
so this module reads the central directory itself, one entry at a time, and keeps nothing
per member. Only the two methods the CVE Program's assets use are read: stored (0) and
deflate (8) (APPNOTE.TXT 6.3.10, 4.4.5).

Cheap checks, all made before a byte is inflated, and again while inflating:

* names: absolute, ``..``, a backslash or a NUL fail the whole asset (path traversal);
  names outside the record layout (``delta.json``, folders) are skipped;
* sizes: a record may inflate to at most ``RECORD_MAX_BYTES``, and no member to more than
  ``_MAX_RATIO`` times its compressed size (above ``_RATIO_FLOOR``); inflating stops at the
  declared size, so a header that lies is caught without trusting it;
* overlap: members' compressed data must fit, side by side, before the central directory
  (overlapping members are how the densest zip bombs multiply one kernel);
* integrity: CRC-32 and the inflated size of every member read.

Every failure is a one-line ``FeedError("<asset name>: <problem>")``.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nix_audit.errors import FeedError

__all__ = ["RECORD_MAX_BYTES", "check_records", "records", "unpack_baseline"]

_MIB = 1024 * 1024

# The largest CVE JSON 5 record in the list is under 1 MiB (the shared data's largest:
# 690 KB); 16 MiB stops a hostile one without refusing a real one.
RECORD_MAX_BYTES = 16 * _MIB
# The whole list's cves.zip is about 500 MB; room for growth, a stop for a bomb.
_INNER_MAX_BYTES = 2048 * _MIB
# CVE records deflate about 4:1 (at most 31:1 in the shared data); 100:1 above 1 MiB is a bomb.
_MAX_RATIO = 100
_RATIO_FLOOR = _MIB
_CHUNK = 256 * 1024

# Record members as the cvelistV5 release assets lay them out (cvelistV5 README, "Releases").
_RECORD_NAMES = {
    "baseline": re.compile(r"cves/\d{4}/\d+xxx/CVE-\d{4}-\d{4,}\.json"),
    "delta": re.compile(r"deltaCves/CVE-\d{4}-\d{4,}\.json"),
}
_INNER_NAME = re.compile(r"cves\.zip")
_DRIVE = re.compile(r"[A-Za-z]:")

# APPNOTE.TXT 4.3.16 (end of central directory), 4.3.15 / 4.3.14 (Zip64 locator and
# record), 4.3.12 (central directory header), 4.3.7 (local file header).
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_EOCD_SIG, _LOCATOR_SIG, _ZIP64_SIG = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
_CENTRAL_SIG, _LOCAL_SIG = b"PK\x01\x02", b"PK\x03\x04"
_ZIP64_EXTRA = 0x0001
_ENCRYPTED, _UTF8 = 0x0001, 0x0800
_STORED, _DEFLATED = 0, 8
_MASK16, _MASK32 = 0xFFFF, 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class _Entry:
    """One central directory entry; ``offset`` is absolute in the file."""

    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compress_size: int
    file_size: int
    offset: int


def unpack_baseline(outer: Path, asset: str, work_dir: Path) -> Path:
    """Extract a baseline's inner ``cves.zip`` into ``work_dir``, check it, return its path."""
    found = [entry for entry in _entries(outer, asset) if _wanted(entry, _INNER_NAME, asset)]
    if not found:
        raise FeedError(f"{asset}: no cves.zip inside (not a CVE List baseline)")
    inner = found[0]
    _check_sizes(inner, asset, _INNER_MAX_BYTES)
    dest = work_dir / f"{asset.removesuffix('.zip.zip')}.cves.zip"
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        with _open(outer, asset) as handle, dest.open("wb") as out:
            _inflate(handle, inner, asset, out.write)
    except OSError as e:
        dest.unlink(missing_ok=True)
        raise FeedError(f"{dest}: cannot write ({e.strerror or e})") from e
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    check_records(dest, asset, "baseline")
    return dest


def check_records(path: Path, asset: str, kind: str) -> int:
    """Walk the central directory with every cheap check; the number of record members.

    Run before anything is applied, so a traversing or bombing member fails the update
    while the index is untouched; the checks run again as ``records`` reads.
    """
    pattern = _RECORD_NAMES[kind]
    return sum(1 for entry in _entries(path, asset) if _record(entry, pattern, asset))


def records(path: Path, asset: str, kind: str) -> Iterator[tuple[str, bytes]]:
    """``(member name, inflated bytes)`` of each record member, in directory order, lazily."""
    pattern = _RECORD_NAMES[kind]
    with _open(path, asset) as handle:
        for entry in _entries(path, asset):
            if _record(entry, pattern, asset):
                parts: list[bytes] = []
                _inflate(handle, entry, asset, parts.append)
                yield entry.name, b"".join(parts)


# --- the central directory ------------------------------------------------------------------


def _open(path: Path, asset: str) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as e:
        raise FeedError(f"{asset}: cannot read {path} ({e.strerror or e})") from e


def _entries(path: Path, asset: str) -> Iterator[_Entry]:
    """The central directory's entries, one at a time, each checked to lie in the file."""
    with _open(path, asset) as handle:
        size = os.fstat(handle.fileno()).st_size
        _check_magic(handle.read(64), asset)
        count, cd_start, shift = _directory(handle, size, asset)
        handle.seek(cd_start)
        packed = declared = 0
        for _ in range(count):
            entry = _central_entry(handle, asset, shift)
            length = _LOCAL.size + len(entry.raw_name) + entry.compress_size
            packed += length
            if entry.offset + length > cd_start or packed > cd_start - shift:
                raise FeedError(f"{asset}: member {entry.name!r} overlaps others (a zip bomb)")
            yield entry  # checked on its own first: its message is the more precise
            # Members under the ratio floor each may inflate 1000:1; together they may not.
            declared += entry.file_size
            if declared > _MAX_RATIO * size + _RATIO_FLOOR:
                raise FeedError(f"{asset}: members declare {declared} bytes (a zip bomb)")


def _check_magic(head: bytes, asset: str) -> None:
    """Refuse what is plainly no zip: an HTML error page served with status 200, say."""
    if head.startswith((_LOCAL_SIG, _EOCD_SIG)):
        return
    if head.lstrip()[:1] == b"<":
        raise FeedError(f"{asset}: served HTML, not a zip archive")
    raise FeedError(f"{asset}: not a zip archive (starts with {head[:8]!r})")


def _directory(handle: BinaryIO, size: int, asset: str) -> tuple[int, int, int]:
    """Entry count, start of the central directory, and the shift of prepended data."""
    tail_size = min(size, _EOCD.size + _MASK16)  # the record plus the longest comment
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(_EOCD_SIG)
    if at < 0 or at + _EOCD.size > len(tail):
        raise FeedError(f"{asset}: truncated or damaged zip (no end of central directory)")
    _, disk, cd_disk, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    record_at = size - tail_size + at
    if count == _MASK16 or _MASK32 in (cd_size, cd_offset):
        count, cd_size, cd_offset, record_at = _zip64_directory(handle, record_at, asset)
    elif disk or cd_disk:
        raise FeedError(f"{asset}: multi-volume zip archives are not supported")
    cd_start = record_at - cd_size
    if cd_start < 0 or cd_start < cd_offset:
        raise FeedError(f"{asset}: truncated or damaged zip (central directory out of range)")
    return count, cd_start, cd_start - cd_offset


def _zip64_directory(handle: BinaryIO, eocd_at: int, asset: str) -> tuple[int, int, int, int]:
    """Count, size and offset of the directory from the Zip64 record just before the EOCD."""
    record_at = eocd_at - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
    if record_at < 0:
        raise FeedError(f"{asset}: damaged zip (Zip64 end of central directory missing)")
    handle.seek(record_at)
    raw = handle.read(_ZIP64_EOCD.size + _ZIP64_LOCATOR.size)
    record = _ZIP64_EOCD.unpack_from(raw)
    locator = _ZIP64_LOCATOR.unpack_from(raw, _ZIP64_EOCD.size)
    if record[0] != _ZIP64_SIG or locator[0] != _LOCATOR_SIG:
        raise FeedError(f"{asset}: damaged zip (Zip64 end of central directory missing)")
    if record[4] or record[5] or locator[3] > 1:
        raise FeedError(f"{asset}: multi-volume zip archives are not supported")
    return record[7], record[8], record[9], record_at


def _central_entry(handle: BinaryIO, asset: str, shift: int) -> _Entry:
    raw = handle.read(_CENTRAL.size)
    if len(raw) < _CENTRAL.size or raw[:4] != _CENTRAL_SIG:
        raise FeedError(f"{asset}: truncated or damaged zip (bad central directory entry)")
    fields = _CENTRAL.unpack(raw)
    flags, method, crc, compress_size, file_size = fields[3], fields[4], *fields[7:10]
    name_len, extra_len, comment_len, offset = fields[10], fields[11], fields[12], fields[16]
    raw_name = handle.read(name_len)
    extra = handle.read(extra_len)
    handle.seek(comment_len, os.SEEK_CUR)
    if len(raw_name) < name_len or len(extra) < extra_len:
        raise FeedError(f"{asset}: truncated or damaged zip (bad central directory entry)")
    sizes = _zip64_sizes(extra, [file_size, compress_size, offset], asset)
    name = raw_name.decode("utf-8" if flags & _UTF8 else "cp437", errors="replace")
    return _Entry(name, raw_name, flags, method, crc, sizes[1], sizes[0], sizes[2] + shift)


def _zip64_sizes(extra: bytes, values: list[int], asset: str) -> list[int]:
    """Size, compressed size and offset with the Zip64 extra field's values (APPNOTE 4.5.3).

    The field holds 8-byte values for exactly those of the three that are 0xFFFFFFFF, in
    that order.
    """
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == _ZIP64_EXTRA:
            field = extra[at + 4 : at + 4 + length]
            stored = list(struct.unpack_from(f"<{len(field) // 8}Q", field))
            for i, value in enumerate(values):
                if value == _MASK32:
                    if not stored:
                        raise FeedError(f"{asset}: damaged zip (short Zip64 extra field)")
                    values[i] = stored.pop(0)
            return values
        at += 4 + length
    return values


# --- members --------------------------------------------------------------------------------


def _wanted(entry: _Entry, pattern: re.Pattern[str], asset: str) -> bool:
    """Whether a member is one to read; a name that could escape fails the asset."""
    name = entry.name
    if name.startswith("/") or _DRIVE.match(name) or any(c in name for c in ("\\", "\0")):
        raise FeedError(f"{asset}: member {name!r} has an unsafe path (absolute or backslash)")
    if ".." in name:
        raise FeedError(f"{asset}: member {name!r} has an unsafe path ('..': path traversal)")
    return pattern.fullmatch(name) is not None


def _record(entry: _Entry, pattern: re.Pattern[str], asset: str) -> bool:
    if not _wanted(entry, pattern, asset):
        return False
    _check_sizes(entry, asset, RECORD_MAX_BYTES)
    return True


def _check_sizes(entry: _Entry, asset: str, limit: int) -> None:
    """Refuse, from the headers alone, a member too large, encrypted or of another method."""
    where = f"{asset}: member {entry.name!r}"
    if entry.flags & _ENCRYPTED:
        raise FeedError(f"{where} is encrypted")
    if entry.method not in (_STORED, _DEFLATED):
        raise FeedError(f"{where} uses compression method {entry.method} (not stored/deflate)")
    if entry.file_size > limit:
        raise FeedError(f"{where} inflates to {entry.file_size} bytes (limit {limit})")
    ratio = entry.file_size // max(entry.compress_size, 1)
    if entry.file_size > _RATIO_FLOOR and ratio > _MAX_RATIO:
        raise FeedError(f"{where} has a compression ratio of {ratio}:1 (a zip bomb)")


def _data_start(handle: BinaryIO, entry: _Entry, asset: str) -> int:
    """Where a member's data begins, after its local header (whose name must agree)."""
    handle.seek(entry.offset)
    raw = handle.read(_LOCAL.size)
    if len(raw) < _LOCAL.size or raw[:4] != _LOCAL_SIG:
        raise FeedError(f"{asset}: member {entry.name!r} has no local header (damaged zip)")
    name_len, extra_len = (int(n) for n in _LOCAL.unpack(raw)[-2:])
    if handle.read(name_len) != entry.raw_name:
        raise FeedError(f"{asset}: member {entry.name!r} is named otherwise in its local header")
    return entry.offset + _LOCAL.size + name_len + extra_len


def _inflate(handle: BinaryIO, entry: _Entry, asset: str, sink: Callable[[bytes], object]) -> None:
    """Give a member's inflated bytes to ``sink``; never more than its declared size.

    The declared size has passed ``_check_sizes``, so the cap holds whatever the data does;
    data that would inflate past it is refused as soon as one byte more appears.
    """
    where = f"{asset}: member {entry.name!r}"
    handle.seek(_data_start(handle, entry, asset))
    inflater = zlib.decompressobj(-zlib.MAX_WBITS) if entry.method == _DEFLATED else None
    left, size, crc = entry.compress_size, 0, 0
    try:
        while left > 0 and (inflater is None or not inflater.eof):
            chunk = handle.read(min(_CHUNK, left))
            if not chunk:
                raise FeedError(f"{where} is truncated")
            left -= len(chunk)
            while chunk:
                if inflater is None:
                    piece, chunk = chunk, b""
                else:
                    piece = inflater.decompress(chunk, entry.file_size - size + 1)
                    chunk = inflater.unconsumed_tail
                size += len(piece)
                if size > entry.file_size:
                    raise FeedError(f"{where} inflates past its declared {entry.file_size} bytes")
                crc = zlib.crc32(piece, crc)
                sink(piece)
    except zlib.error as e:
        raise FeedError(f"{where} holds damaged deflate data ({e})") from e
    if (inflater is not None and not inflater.eof) or size != entry.file_size:
        raise FeedError(f"{where} is truncated ({size} of {entry.file_size} bytes)")
    if crc != entry.crc:
        raise FeedError(f"{where} fails its CRC-32 check (damaged)")
