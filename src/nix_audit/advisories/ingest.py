"""Writing decoded feeds into the index: rows from feeds, bulk load, and record-by-record apply.

Decoding is the expensive part of a cold load (1.08 GB of JSON), so ``decoded_feeds`` spreads
feeds over a small process pool: each worker turns one feed file into finished rows (encoded,
compressed blobs and posting keys) and the main process only inserts them. At most a few
feeds' rows are in flight at a time, which bounds memory.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import msgspec

from nix_audit.advisories.decode import (
    FeedHeader,
    FeedReader,
    FeedRecord,
    vulnerable_products,
)
from nix_audit.advisories.schema import (
    NVD_TABLES,
    IndexTables,
    create_schema,
    cve_key,
    decode_record,
    encode_details,
    encode_record,
)
from nix_audit.errors import FeedError
from nix_audit.workers import ordered_map

__all__ = [
    "ApplyCounts",
    "CveRow",
    "FeedRows",
    "IndexWriter",
    "decoded_feeds",
    "feed_rows",
    "open_for_build",
    "row_of",
    "write_feed_states",
    "write_meta",
]

# Workers for a cold load: the bars are set on a 2-core machine; more processes would only
# add memory (each holds a feed's rows) without more CPU to run on.
_MAX_WORKERS = 2
# Build-time page cache (KiB). Postings arrive in CVE order but are stored in product order,
# so their B-tree (~18 MB) is written all over; 16 MB keeps most of it cached while the
# whole build stays within its memory bar (300 MB for all processes; 64 MB bought ~0.2 s).
_BUILD_CACHE_KIB = 16 * 1024
_CHUNK_ROWS = 2000
_ROWS_ENCODER = msgspec.msgpack.Encoder()


class CveRow(NamedTuple):
    """One record ready for the ``cve`` table, with its posting keys."""

    key: int
    last_modified: str
    config: bytes
    details: bytes
    # (product, vendor, envelope low, envelope high), as the posting key orders them
    products: tuple[tuple[str, str, bytes | None, bytes | None], ...]


_ROWS_DECODER = msgspec.msgpack.Decoder(list[CveRow])


@dataclass(frozen=True, slots=True)
class FeedRows:
    """A decoded feed: its header, its live records (as msgpack chunks) and rejected records.

    Rows travel between processes as msgpack chunks of ``_CHUNK_ROWS`` rows rather than as
    Python objects: a third of the memory while a feed waits, and the reader decodes one
    chunk at a time.
    """

    name: str
    header: FeedHeader
    chunks: list[bytes]
    rejected: list[tuple[int, str]]  # (key, lastModified) of vulnStatus "Rejected" records
    records: int  # rejected ones included

    def rows(self) -> Iterator[list[CveRow]]:
        """The live records, a chunk at a time."""
        for chunk in self.chunks:
            yield _ROWS_DECODER.decode(chunk)


@dataclass(frozen=True, slots=True)
class ApplyCounts:
    """What applying records changed in the index."""

    added: int = 0
    changed: int = 0
    removed: int = 0

    def __add__(self, other: ApplyCounts) -> ApplyCounts:
        return ApplyCounts(
            self.added + other.added, self.changed + other.changed, self.removed + other.removed
        )


def row_of(path: Path | str, record: FeedRecord) -> CveRow | tuple[int, str]:
    """The row of a live record, or (key, lastModified) of a rejected one."""
    key = cve_key(record.cve_id)
    if key is None:
        raise FeedError(f"{path}: record {record.cve_id!r} does not have a CVE id")
    if record.rejected:
        return key, record.last_modified
    return CveRow(
        key,
        record.last_modified,
        encode_record(record.record),
        encode_details(record.details),
        tuple(
            (product, vendor, low, high)
            for (vendor, product), (low, high) in record.products.items()
        ),
    )


def feed_rows(name: str, path: Path) -> FeedRows:
    """Decode feed file ``path`` into rows (runs in a worker process during a cold load)."""
    chunks: list[bytes] = []
    rejected: list[tuple[int, str]] = []
    rows: list[CveRow] = []
    with FeedReader(path) as reader:
        for record in reader:
            row = row_of(path, record)
            if isinstance(row, CveRow):
                rows.append(row)
                if len(rows) == _CHUNK_ROWS:
                    chunks.append(_ROWS_ENCODER.encode(rows))
                    rows.clear()
            else:
                rejected.append(row)
        if rows:
            chunks.append(_ROWS_ENCODER.encode(rows))
        return FeedRows(name, reader.header, chunks, rejected, reader.records_read)


def decoded_feeds(feeds: Sequence[tuple[str, Path]]) -> Iterator[FeedRows]:
    """``feed_rows`` of each (name, path), in the given order, decoded on up to 2 cores."""
    if len(feeds) < 2 or (os.cpu_count() or 1) < 2:
        for name, path in feeds:
            yield feed_rows(name, path)
        return
    # fork: workers start in milliseconds and need nothing from the parent but the code
    # (with "fork" the pool starts them all before its own manager thread exists). One feed
    # queued beyond the busy workers, no more: finished rows wait in memory until the main
    # process has inserted the earlier feeds.
    named = ((f"feed {name!r}", (name, path)) for name, path in feeds)
    yield from ordered_map(_feed_rows_of, named, method="fork", workers=_MAX_WORKERS, ahead=1)


def _feed_rows_of(_: str, feed: tuple[str, Path]) -> FeedRows:
    return feed_rows(*feed)


def open_for_build(path: Path) -> sqlite3.Connection:
    """A new, empty index file set up for a bulk load (no journal, no syncs).

    Safe only because the file is private until it is renamed into place: a crash leaves a
    stray temporary file, never a damaged index.
    """
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute(f"PRAGMA cache_size=-{_BUILD_CACHE_KIB}")
    create_schema(conn)  # executescript() commits, so the load's transaction starts after
    conn.execute("BEGIN")
    return conn


class IndexWriter:
    """Writes feed rows into an open index connection, inside the caller's transaction.

    ``tables`` are the source's own tables (``schema.NVD_TABLES``, ``CVE_LIST_TABLES``).
    Where the source keeps rejected ids, a rejected record is remembered there (it hides the
    CVE from every source, ``merge``) and a later published one forgets it.
    """

    def __init__(
        self, conn: sqlite3.Connection, *, fresh: bool = False, tables: IndexTables = NVD_TABLES
    ) -> None:
        self._conn = conn
        self._tables = tables
        records, postings = tables.records, tables.postings
        # Table names are module constants (schema.IndexTables), never input.
        self._sql_insert = f"INSERT INTO {records} VALUES (?, ?, ?, ?)"  # noqa: S608
        self._sql_replace = f"INSERT OR REPLACE INTO {records} VALUES (?, ?, ?, ?)"  # noqa: S608
        self._sql_post = f"INSERT INTO {postings} VALUES (?, ?, ?, ?, ?)"  # noqa: S608
        self._sql_post_new = f"INSERT OR IGNORE INTO {postings} VALUES (?, ?, ?, ?, ?)"  # noqa: S608
        self._sql_stored = f"SELECT last_modified, config FROM {records} WHERE id = ?"  # noqa: S608
        self._sql_unpost = f"DELETE FROM {postings} WHERE product = ? AND vendor = ? AND cve = ?"  # noqa: S608
        self._sql_delete = f"DELETE FROM {records} WHERE id = ?"  # noqa: S608
        # In a fresh build, keys already loaded; a key seen again takes the careful path.
        self._seen: set[int] | None = set() if fresh else None

    def add(self, feed: FeedRows) -> ApplyCounts:
        """Load a feed: new keys in bulk (fresh build), others record by record."""
        if self._seen is None:
            return self.apply(feed)
        counts = ApplyCounts()
        seen = self._seen
        for rows in feed.rows():
            counts += self._add_rows(rows, seen)
        for key, last_modified in feed.rejected:
            if key in seen and self._drop_older(key, last_modified):
                counts += ApplyCounts(removed=1)
            self._remember_rejected(key, last_modified)
        return counts

    def _add_rows(self, rows: list[CveRow], seen: set[int]) -> ApplyCounts:
        new: list[CveRow] = []
        again: list[CveRow] = []
        for row in rows:
            (again if row.key in seen else new).append(row)
            seen.add(row.key)
        self._conn.executemany(self._sql_insert, [row[:4] for row in new])
        if self._tables.rejected is not None:
            for row in new:
                self._forget_rejected(row.key, row.last_modified)
        self._conn.executemany(
            self._sql_post,
            [(p, v, row.key, low, high) for row in new for p, v, low, high in row.products],
        )
        counts = ApplyCounts(added=len(new))
        for row in again:
            counts += self._put(row)
        return counts

    def apply(self, feed: FeedRows) -> ApplyCounts:
        """Apply each record only if newer than the stored one; rejected ones are deleted."""
        counts = ApplyCounts()
        for rows in feed.rows():
            for row in rows:
                counts += self._put(row)
        for key, last_modified in feed.rejected:
            if self._drop_older(key, last_modified):
                counts += ApplyCounts(removed=1)
            self._remember_rejected(key, last_modified)
        return counts

    def _remember_rejected(self, key: int, last_modified: str) -> None:
        if self._tables.rejected is None:
            return
        self._conn.execute(
            f"INSERT INTO {self._tables.rejected} VALUES (?, ?) ON CONFLICT(id) DO UPDATE "  # noqa: S608
            "SET last_modified = excluded.last_modified "
            "WHERE excluded.last_modified > last_modified",
            (key, last_modified),
        )

    def _forget_rejected(self, key: int, last_modified: str) -> None:
        if self._tables.rejected is not None:
            self._conn.execute(
                f"DELETE FROM {self._tables.rejected} WHERE id = ? AND last_modified < ?",  # noqa: S608
                (key, last_modified),
            )

    def _stored(self, key: int) -> tuple[str, bytes] | None:
        found: tuple[str, bytes] | None = self._conn.execute(self._sql_stored, (key,)).fetchone()
        return found

    def _delete_postings(self, key: int, config: bytes) -> None:
        # The old record's postings, recomputed from its stored configurations.
        products = vulnerable_products(decode_record(config).configurations)
        self._conn.executemany(
            self._sql_unpost, [(product, vendor, key) for vendor, product in products]
        )

    def _put(self, row: CveRow) -> ApplyCounts:
        stored = self._stored(row.key)
        if stored is not None:
            if stored[0] >= row.last_modified:
                return ApplyCounts()
            # A changed record replaces the old one completely, postings included, so a
            # product dropped from its configurations stops finding it.
            self._delete_postings(row.key, stored[1])
        self._conn.execute(self._sql_replace, row[:4])
        self._conn.executemany(
            self._sql_post_new, [(p, v, row.key, low, high) for p, v, low, high in row.products]
        )
        self._forget_rejected(row.key, row.last_modified)
        if self._seen is not None:
            self._seen.add(row.key)
        return ApplyCounts(changed=1) if stored is not None else ApplyCounts(added=1)

    def _drop_older(self, key: int, last_modified: str) -> bool:
        stored = self._stored(key)
        if stored is None or stored[0] >= last_modified:
            return False
        self._delete_postings(key, stored[1])
        self._conn.execute(self._sql_delete, (key,))
        if self._seen is not None:
            self._seen.discard(key)
        return True


def write_feed_states(conn: sqlite3.Connection, states: Iterable[tuple[object, ...]]) -> None:
    """Insert or replace ``feed`` rows (name, etag, last_modified, timestamp, fetched_at, n)."""
    conn.executemany("INSERT OR REPLACE INTO feed VALUES (?, ?, ?, ?, ?, ?)", list(states))


def write_meta(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    """Insert or replace ``meta`` entries."""
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))
