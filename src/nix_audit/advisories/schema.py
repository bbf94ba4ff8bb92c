"""The SQLite layout of ``index.sqlite`` and the encodings of what it stores.

Designed for the two reads a scan makes (issue #3): "which CVEs name these ~1,500 CPE
products" and "details of these few hundred CVEs", and for a compact file (<= 150 MB for the
whole NVD):

- ``cve(id INTEGER PRIMARY KEY, last_modified, config, details)``: one row per CVE, keyed by
  an integer derived from the CVE id itself (``cve_key``). A natural key needs no second
  index from text id to row (a rowid table is its own B-tree on ``id``) and lets decoding
  workers emit finished rows. ``config`` is the msgpack of the ``AdvisoryRecord`` (array_like
  Structs: no field names), ``details`` the msgpack of the ``AdvisoryDetails`` fields as an
  array; both zlib-compressed when that is smaller (CPE criteria of one record repeat a lot:
  119 MB of configurations shrink to 27 MB, and inflating one costs ~1 us).
- ``product(product, vendor, cve, low, high) WITHOUT ROWID``: the posting list, with each
  posting's version envelope (``envelope``: the versions the record can concern); its
  primary key is the lookup order, so a scan reads contiguous key ranges and nothing else.
  There is no index on ``cve``: an update finds a record's old postings by decoding its old
  ``config`` instead, which saves a second copy of every posting.
- ``cvelist``, ``cvelist_product``: the same two tables for the CVE List's records (issue
  #12), kept apart from the NVD's so that each source updates its own rows and the merge
  rule (``merge``) can be applied when reading; ``cvelist_rejected``: CVEs whose record is
  REJECTED, which hides them whatever the NVD still says.
- ``feed``: per-feed HTTP validators and feed timestamps; ``meta``: schema version, source,
  time of the last successful update, record count.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from dataclasses import dataclass
from typing import Final

import msgspec

from nix_audit.models import AdvisoryDetails, AdvisoryRecord

__all__ = [
    "CVE_LIST_TABLES",
    "INDEX_FILE",
    "LIST_BASELINE",
    "LIST_DELTA",
    "LIST_ETAG",
    "LIST_LOCATION",
    "LIST_META_KEYS",
    "LIST_RECORDS",
    "LIST_SCANNED",
    "LIST_UPDATE",
    "LOCK_FILE",
    "NVD_TABLES",
    "SCHEMA_VERSION",
    "IndexTables",
    "create_schema",
    "cve_id_of",
    "cve_key",
    "decode_details",
    "decode_record",
    "encode_details",
    "encode_record",
    "unpack",
]

# Bump when the tables or the blob encodings change: an index of another version is not
# read (the user is told to run ``nix-audit db update``, which rebuilds it).
# 2: postings carry version envelopes; 3: the CVE List tables; 4: records carry the platform
# their description limits them to (issue #13)
SCHEMA_VERSION: Final = "4"
INDEX_FILE: Final = "index.sqlite"
LOCK_FILE: Final = "index.lock"


@dataclass(frozen=True, slots=True)
class IndexTables:
    """The tables one advisory source writes: records, postings, and rejected ids (if kept).

    Names are constants of this module, never input, so queries may interpolate them.
    """

    records: str
    postings: str
    rejected: str | None = None


# ``meta`` keys of the CVE List part (issue #12): written by ``update``, read by ``index``.
LIST_LOCATION: Final = "cve_list.location"
LIST_BASELINE: Final = "cve_list.baseline"
LIST_DELTA: Final = "cve_list.last_delta"
LIST_ETAG: Final = "cve_list.listing_etag"
LIST_SCANNED: Final = "cve_list.clone_scanned_ns"
LIST_UPDATE: Final = "cve_list.last_update"
LIST_RECORDS: Final = "cve_list.records"
LIST_META_KEYS: Final = (
    LIST_LOCATION, LIST_BASELINE, LIST_DELTA, LIST_ETAG, LIST_SCANNED, LIST_UPDATE, LIST_RECORDS,
)  # fmt: skip

NVD_TABLES: Final = IndexTables("cve", "product")
CVE_LIST_TABLES: Final = IndexTables("cvelist", "cvelist_product", "cvelist_rejected")

# One source's records and postings; the NVD's and the CVE List's tables are alike.
_SOURCE_TABLES: Final = """
CREATE TABLE {records}(
    id INTEGER PRIMARY KEY,
    last_modified TEXT NOT NULL,
    config BLOB NOT NULL,
    details BLOB NOT NULL
);
CREATE TABLE {postings}(
    product TEXT NOT NULL,
    vendor TEXT NOT NULL,
    cve INTEGER NOT NULL,
    low BLOB,
    high BLOB,
    PRIMARY KEY (product, vendor, cve)
) WITHOUT ROWID;
"""
_SCHEMA: Final = (
    """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE feed(
    name TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    feed_timestamp TEXT,
    fetched_at TEXT,
    records INTEGER NOT NULL
) WITHOUT ROWID;
"""
    + _SOURCE_TABLES.format(records=NVD_TABLES.records, postings=NVD_TABLES.postings)
    + _SOURCE_TABLES.format(records=CVE_LIST_TABLES.records, postings=CVE_LIST_TABLES.postings)
    + f"CREATE TABLE {CVE_LIST_TABLES.rejected}"
    + "(id INTEGER PRIMARY KEY, last_modified TEXT NOT NULL);"
)

# CVE ids are "CVE-YYYY-NNNN" with 4 or more sequence digits, no leading zero beyond four
# (CVE ID syntax, cve.org "CVE ID Syntax Change", 2014).
_CVE_ID: Final = re.compile(r"CVE-([0-9]{4})-(0[0-9]{3}|[1-9][0-9]{3,9})")
_SEQ_SPAN: Final = 10**10

# A zlib stream begins with CMF 0x78 (RFC 1950, 2.2: deflate, 32K window); our msgpack blobs
# begin with an array header (0x9X/0xDC), so the first byte says which one a blob is.
_ZLIB_FIRST: Final = 0x78
_COMPRESS_ABOVE: Final = 64


class _DetailsRow(msgspec.Struct, array_like=True, frozen=True):
    """``AdvisoryDetails`` as a msgpack array: no field names repeated in 200k rows."""

    cve_id: str
    description: str
    published: str
    last_modified: str
    status: str
    cvss_v2: float | None
    cvss_v3: float | None
    cvss_v4: float | None
    cvss_v3_vector: str | None
    severity: str | None


_ENCODER: Final = msgspec.msgpack.Encoder()
_RECORD_DECODER: Final = msgspec.msgpack.Decoder(AdvisoryRecord)
_DETAILS_DECODER: Final = msgspec.msgpack.Decoder(_DetailsRow)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables in an empty database and record the schema version."""
    conn.executescript(_SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))


def cve_key(cve_id: str) -> int | None:
    """The integer key of a CVE id (year * 10^10 + sequence), None if not a CVE id."""
    found = _CVE_ID.fullmatch(cve_id)
    if found is None:
        return None
    return int(found.group(1)) * _SEQ_SPAN + int(found.group(2))


def cve_id_of(key: int) -> str:
    """The CVE id of an integer key (inverse of ``cve_key``)."""
    year, seq = divmod(key, _SEQ_SPAN)
    return f"CVE-{year:04d}-{seq:04d}"


def _pack(data: bytes) -> bytes:
    if len(data) > _COMPRESS_ABOVE:
        packed = zlib.compress(data, 6)
        if len(packed) < len(data):
            return packed
    return data


def unpack(blob: bytes) -> bytes:
    """The msgpack bytes of a stored blob, inflated if it was compressed."""
    return zlib.decompress(blob) if blob[0] == _ZLIB_FIRST else blob


def encode_record(record: AdvisoryRecord) -> bytes:
    """The ``config`` blob of a record."""
    return _pack(_ENCODER.encode(record))


def decode_record(blob: bytes) -> AdvisoryRecord:
    """The record stored in a ``config`` blob."""
    return _RECORD_DECODER.decode(unpack(blob))


def encode_details(details: AdvisoryDetails) -> bytes:
    """The ``details`` blob of a record."""
    return _pack(_ENCODER.encode(msgspec.convert(details, _DetailsRow, from_attributes=True)))


def decode_details(blob: bytes) -> AdvisoryDetails:
    """The details stored in a ``details`` blob."""
    row = _DETAILS_DECODER.decode(unpack(blob))
    return msgspec.convert(row, AdvisoryDetails, from_attributes=True)
