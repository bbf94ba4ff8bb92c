"""The read side of the advisory index: ``AdvisoryIndex`` answers a scan's lookups.

The index is opened read-only (``mode=ro``): a scan can never change it, and it may run
while ``nix-audit db update`` writes. The writer commits in one short transaction
(rollback journal, see ``update``), so readers wait for it through ``busy_timeout`` rather
than fail, and then see the old index or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from nix_audit.advisories.envelope import version_in
from nix_audit.advisories.merge import cve_list_decides, merged_details
from nix_audit.advisories.schema import (
    CVE_LIST_TABLES,
    INDEX_FILE,
    LIST_BASELINE,
    LIST_DELTA,
    LIST_LOCATION,
    LIST_RECORDS,
    LIST_UPDATE,
    NVD_TABLES,
    SCHEMA_VERSION,
    IndexTables,
    cve_id_of,
    cve_key,
    decode_details,
    decode_record,
)
from nix_audit.errors import IndexError_
from nix_audit.models import (
    AdvisoryDetails,
    AdvisoryRecord,
    CveListStatus,
    FeedState,
    IndexStatus,
)
from nix_audit.versions import encoded_key

__all__ = ["INDEX_FILE", "AdvisoryIndex", "index_path"]

# Keys per "IN (...)" query: well under SQLite's 32,766 host parameters, and large enough
# that ~1,500 products take three round trips.
_CHUNK = 500
# Seconds a reader waits for a committing writer before giving up.
_BUSY_TIMEOUT = 30.0
_RUN_UPDATE = "run 'nix-audit db update'"


def index_path(db_dir: Path) -> Path:
    """Where the index file of database directory ``db_dir`` lives."""
    return db_dir / INDEX_FILE


def _chunks(items: Sequence[object]) -> Iterator[Sequence[object]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(count: int) -> str:
    """``?,?,...``: queries interpolate only these placeholders, never values."""
    return ",".join("?" * count)


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class AdvisoryIndex:
    """An open, read-only advisory index (implements ``AdvisoryLookup``).

    ``path`` is the index file or the database directory holding ``index.sqlite``. A missing
    file, an index of another schema version, or one whose first load never completed
    raises ``IndexError_`` telling the user to run ``nix-audit db update``.
    """

    def __init__(self, path: Path) -> None:
        self._path = path / INDEX_FILE if path.is_dir() else path
        if not self._path.is_file():
            raise IndexError_(f"{self._path}: no advisory index; {_RUN_UPDATE}")
        try:
            # Issue #6: SQLite reports an unreadable file as "unable to open database file",
            # which read as a damaged index; opening it first names the real cause.
            self._path.open("rb").close()
        except OSError as e:
            raise IndexError_(f"{self._path}: cannot read the advisory index: {e.strerror}") from e
        try:
            self._conn = sqlite3.connect(
                f"{self._path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=_BUSY_TIMEOUT,
            )
        except sqlite3.Error as e:
            raise IndexError_(f"{self._path}: cannot open the advisory index: {e}") from e
        try:
            self._read_meta()
        except BaseException:
            self._conn.close()
            raise

    def _read_meta(self, *, recovered: bool = False) -> dict[str, str]:
        try:
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as e:
            needs_rollback = getattr(e, "sqlite_errorname", "") == "SQLITE_READONLY_ROLLBACK"
            if recovered or not needs_rollback:
                raise IndexError_(
                    f"{self._path}: not an advisory index ({e}); {_RUN_UPDATE}"
                ) from e
            self._recover()
            return self._read_meta(recovered=True)
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            raise IndexError_(
                f"{self._path}: index schema version {version!r}, this nix-audit reads "
                f"{SCHEMA_VERSION!r}; {_RUN_UPDATE}"
            )
        if "last_update" not in meta:
            raise IndexError_(f"{self._path}: the index was never fully loaded; {_RUN_UPDATE}")
        return meta

    def _recover(self) -> None:
        """Roll back the journal of an update that was killed, as any writer would.

        A read-only connection may not do it (SQLITE_READONLY_ROLLBACK); one read-write
        open restores the index as it was before that update, then reading goes on.
        """
        try:
            with contextlib.closing(sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT)) as rw:
                rw.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        except sqlite3.Error as e:
            raise IndexError_(
                f"{self._path}: an interrupted update left a journal to roll back ({e}); "
                f"{_RUN_UPDATE}"
            ) from e

    @property
    def path(self) -> Path:
        """The index file."""
        return self._path

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _query(self, sql: str, params: Sequence[object]) -> list[Any]:
        try:
            rows: list[Any] = self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise IndexError_(f"{self._path}: cannot read the advisory index: {e}") from e
        return rows

    def records_for_products(self, products: Collection[str]) -> dict[str, list[AdvisoryRecord]]:
        """For each product name, the records that name it as vulnerable (any vendor).

        Names are CPE product values, compared lower-cased and unquoted (``gtk+``, not
        ``gtk\\+``). Every requested name is a key of the result, with an empty list when no
        record names it. A record is decoded once however many products share it.
        """
        return self.records_for_versions(dict.fromkeys(products))

    def records_for_versions(
        self, wanted: Mapping[str, Collection[str] | None]
    ) -> dict[str, list[AdvisoryRecord]]:
        """``records_for_products``, keeping only records whose version envelope for the
        product holds one of the given versions (None: every record of the product).

        The envelope (``envelope``) is a superset of what the matcher can accept, so the
        records left out are ones no configuration of theirs could match these versions.
        Each CVE comes from the source that decides it (``merge``): the NVD's record, else
        the CVE List's; a CVE the CVE List rejected comes from neither.
        """
        names = sorted({name.lower() for name in wanted})
        versions = _encoded_versions(wanted)
        nvd_keys = self._posting_keys(NVD_TABLES, names, versions)
        list_keys = self._posting_keys(CVE_LIST_TABLES, names, versions)
        every = {k for keys in (*nvd_keys.values(), *list_keys.values()) for k in keys}
        rejected = self._rejected(sorted(every))
        nvd = self._records(NVD_TABLES, sorted(every - rejected))
        listed = [k for keys in list_keys.values() for k in keys if k not in rejected]
        decided = {k for k in listed if cve_list_decides(nvd.get(k))}
        cve_list = self._records(CVE_LIST_TABLES, sorted(decided))
        result: dict[str, list[AdvisoryRecord]] = {}
        for name in wanted:
            product = name.lower()
            # Several vendors may share a product name: the same CVE can be listed twice.
            found = [nvd[k] for k in dict.fromkeys(nvd_keys.get(product, ())) if k in nvd]
            found += [
                cve_list[k] for k in dict.fromkeys(list_keys.get(product, ())) if k in cve_list
            ]
            result[name] = found
        return result

    def _ids(self, sql: str) -> set[int]:
        return {key for (key,) in self._query(sql, ())}

    def _posting_keys(
        self, tables: IndexTables, names: Sequence[str], versions: Mapping[str, list[bytes]]
    ) -> dict[str, list[int]]:
        """Product -> CVE keys of its postings in ``tables`` whose envelope holds a version."""
        keys_of: dict[str, list[int]] = {}
        for chunk in _chunks(names):
            sql = f"SELECT product, cve, low, high FROM {tables.postings} WHERE product IN ({_marks(len(chunk))})"  # noqa: S608, E501
            for product, key, low, high in self._query(sql, chunk):
                keys = versions.get(product)
                if keys is None or any(version_in(k, low, high) for k in keys):
                    keys_of.setdefault(product, []).append(key)
        return keys_of

    def _rejected(self, keys: Sequence[int]) -> set[int]:
        """The keys among ``keys`` whose CVE record is REJECTED."""
        found: set[int] = set()
        for chunk in _chunks(keys):
            sql = f"SELECT id FROM {CVE_LIST_TABLES.rejected} WHERE id IN ({_marks(len(chunk))})"  # noqa: S608
            found.update(key for (key,) in self._query(sql, chunk))
        return found

    def _records(self, tables: IndexTables, keys: Sequence[int]) -> dict[int, AdvisoryRecord]:
        records: dict[int, AdvisoryRecord] = {}
        for chunk in _chunks(keys):
            sql = f"SELECT id, config FROM {tables.records} WHERE id IN ({_marks(len(chunk))})"  # noqa: S608
            for key, blob in self._query(sql, chunk):
                records[key] = decode_record(blob)
        return records

    def details(self, cve_ids: Collection[str]) -> dict[str, AdvisoryDetails]:
        """Details of the given CVE ids that are in the index (unknown ids are left out),
        from both sources as ``merge`` combines them."""
        keys = sorted({k for k in map(cve_key, cve_ids) if k is not None})
        nvd = self._details(NVD_TABLES, keys)
        cve_list = self._details(CVE_LIST_TABLES, keys)
        found: dict[str, AdvisoryDetails] = {}
        for key in keys:
            merged = merged_details(nvd.get(key), cve_list.get(key))
            if merged is not None:
                found[cve_id_of(key)] = merged
        return found

    def _details(self, tables: IndexTables, keys: Sequence[int]) -> dict[int, AdvisoryDetails]:
        found: dict[int, AdvisoryDetails] = {}
        for chunk in _chunks(keys):
            sql = f"SELECT id, details FROM {tables.records} WHERE id IN ({_marks(len(chunk))})"  # noqa: S608
            for key, blob in self._query(sql, chunk):
                found[key] = decode_details(blob)
        return found

    def status(self) -> IndexStatus:
        """Where the data came from, how old it is, and what each feed held."""
        meta = dict(self._query("SELECT key, value FROM meta", ()))
        if "records" in meta:
            count = int(meta["records"])
        else:
            (count,) = self._query("SELECT count(*) FROM cve", ())[0]
        rows = self._query(
            "SELECT name, etag, last_modified, feed_timestamp, fetched_at, records "
            "FROM feed ORDER BY name",
            (),
        )
        feeds = tuple(
            FeedState(name, etag, modified, stamp, _parse_time(fetched), records)
            for name, etag, modified, stamp, fetched, records in rows
        )
        return IndexStatus(
            path=str(self._path),
            records=count,
            feeds=feeds,
            last_update=_parse_time(meta.get("last_update")),
            source=meta.get("source"),
            cve_list=_cve_list_status(meta),
        )

    def decided_counts(self) -> dict[str, int]:
        """How many CVEs each source decides (``merge``): ``nvd``, ``cve-list``, and
        ``rejected`` (by the CVE List). A CVE with NVD postings is one the NVD analysed. Reads
        every posting: for ``db status``, not scans."""
        # Table names are schema constants, never input.
        rejected = self._ids(f"SELECT id FROM {CVE_LIST_TABLES.rejected}")  # noqa: S608
        nvd = self._ids(f"SELECT DISTINCT cve FROM {NVD_TABLES.postings}") - rejected  # noqa: S608
        listed = self._ids(f"SELECT DISTINCT cve FROM {CVE_LIST_TABLES.postings}")  # noqa: S608
        return {
            "nvd": len(nvd),
            "cve-list": len(listed - nvd - rejected),
            "rejected": len(rejected),
        }


def _cve_list_status(meta: Mapping[str, str]) -> CveListStatus | None:
    """The CVE List part of ``meta`` (keys written by ``update``), None when absent."""
    location = meta.get(LIST_LOCATION)
    if location is None:
        return None
    return CveListStatus(
        location=location,
        records=int(meta.get(LIST_RECORDS, "0")),
        last_update=_parse_time(meta.get(LIST_UPDATE)),
        baseline=meta.get(LIST_BASELINE),
        last_delta=meta.get(LIST_DELTA),
    )


def _encoded_versions(wanted: Mapping[str, Collection[str] | None]) -> dict[str, list[bytes]]:
    """Lower-cased product -> encoded keys of its versions; products without versions (no
    filtering) are left out."""
    found: dict[str, list[bytes]] = {}
    for name, versions in wanted.items():
        if versions is not None:
            keys = found.setdefault(name.lower(), [])
            keys.extend(encoded_key(v) for v in versions)
    return found
