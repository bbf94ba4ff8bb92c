"""CVE List records into the index: decoded on both cores, written by the same ``IndexWriter``.

A baseline holds every CVE record (280,000 files, 2 GB of JSON for the whole list), each a
file of its own; decoding and turning each into configurations costs ~0.25 ms of Python.
Records are read by the main process from the asset (``cvelist_fetch``) and sent to two
fresh worker processes in chunks; at most a few chunks are in flight, which bounds memory
(issue #12: the cold update within 300 MB).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import msgspec

from nix_audit.advisories.cvelist import decode_cve_record
from nix_audit.advisories.cvelist_fetch import CveListBatch
from nix_audit.advisories.decode import FeedHeader
from nix_audit.advisories.ingest import ApplyCounts, CveRow, FeedRows, IndexWriter, row_of
from nix_audit.advisories.schema import CVE_LIST_TABLES
from nix_audit.workers import ordered_map

__all__ = ["CveListCounts", "apply_batches", "clear_cve_list", "decoded_batch"]

_CHUNK_RECORDS = 250
_WORKERS = 2
_HEADER = FeedHeader("CVE_RECORD", "5", None, None)
_ENCODER = msgspec.msgpack.Encoder()


@dataclass(frozen=True, slots=True)
class CveListCounts:
    """What applying CVE List batches did: batch names, and records added/changed/removed."""

    batches: tuple[str, ...] = ()
    counts: ApplyCounts = ApplyCounts()  # noqa: RUF009 - a frozen value


def _chunk_rows(name: str, records: list[tuple[str, bytes]]) -> FeedRows:
    """Decode one chunk of record files into rows (runs in a worker process)."""
    rows: list[CveRow] = []
    rejected: list[tuple[int, str]] = []
    for member, data in records:
        record = decode_cve_record(f"{name}: {member}", data)
        if record is None:
            continue
        row = row_of(f"{name}: {member}", record)
        if isinstance(row, CveRow):
            rows.append(row)
        else:
            rejected.append(row)
    return FeedRows(name, _HEADER, [_ENCODER.encode(rows)], rejected, len(records))


def _chunks(batch: CveListBatch) -> Iterator[list[tuple[str, bytes]]]:
    chunk: list[tuple[str, bytes]] = []
    for item in batch.records:
        chunk.append(item)
        if len(chunk) == _CHUNK_RECORDS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def decoded_batch(batch: CveListBatch) -> Iterator[FeedRows]:
    """The rows of a batch, a chunk at a time, in order, decoded on up to two cores.

    An hourly delta (a few hundred records) is decoded in this process: starting workers
    would cost more than it saves (issue #12: a delta update within 1 s).
    """
    if batch.kind == "delta" or (os.cpu_count() or 1) < 2:
        for chunk in _chunks(batch):
            yield _chunk_rows(batch.name, chunk)
        return
    # spawn, not fork: by now the process holds the NVD load's memory, which forked workers
    # would each appear to hold as well (issue #12: the whole update within 300 MB).
    chunks = ((batch.name, chunk) for chunk in _chunks(batch))
    yield from ordered_map(_chunk_rows, chunks, method="spawn", workers=_WORKERS, ahead=1)


def apply_batches(
    conn: sqlite3.Connection, batches: Iterable[CveListBatch], *, fresh: bool
) -> CveListCounts:
    """Write the batches into the CVE List tables, in order (newer records win)."""
    writer = IndexWriter(conn, fresh=fresh, tables=CVE_LIST_TABLES)
    counts = ApplyCounts()
    names: list[str] = []
    for batch in batches:
        for rows in decoded_batch(batch):
            counts += writer.add(rows)
        names.append(batch.name)
    return CveListCounts(tuple(names), counts)


def clear_cve_list(conn: sqlite3.Connection) -> None:
    """Drop every CVE List row: the index is to be NVD only (``--no-cve-list``)."""
    for table in (CVE_LIST_TABLES.records, CVE_LIST_TABLES.postings, CVE_LIST_TABLES.rejected):
        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - module constants
