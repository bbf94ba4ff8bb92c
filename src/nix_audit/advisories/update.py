"""Keeping the index current: which feeds to fetch, ingest, lock, atomic swap.

- First load (or ``full=True``, or an index of another schema): every yearly feed and
  ``modified`` are fetched, built into ``index.sqlite.tmp`` and renamed over ``index.sqlite``
  (``os.replace`` is atomic on POSIX), so readers see the old file or the new one.
- Later updates fetch ``modified`` conditionally. The NVD's ``modified`` feed holds the CVEs
  changed in the last 8 days (https://nvd.nist.gov/vuln/data-feeds), so when the last
  successful update is older than 7 days every yearly feed is also fetched conditionally
  and the changed ones re-applied. Changes go into the live index in one transaction with a
  rollback journal (not WAL: a ``-wal`` side file would not follow the file across a
  rename), so a killed update leaves the old index.
- The CVE List (issue #12), when a ``CveListSource`` is given, in the same file and the same
  transaction as the NVD's feeds: a rebuild loads its newest baseline and the deltas since,
  an update applies the deltas published since the last one (``cvelist_fetch`` plans
  which). Without one, the index holds the NVD only and any CVE List rows are dropped.
- One writer at a time: an fcntl lock on ``index.lock`` (released by the kernel when the
  holder dies, so no stale lock survives a crash).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import filelock

from nix_audit.advisories.cvelist_fetch import CveListBatch, CveListSource, CveListState
from nix_audit.advisories.cvelist_ingest import CveListCounts, apply_batches, clear_cve_list
from nix_audit.advisories.index import index_path
from nix_audit.advisories.ingest import (
    ApplyCounts,
    FeedRows,
    IndexWriter,
    decoded_feeds,
    open_for_build,
    write_feed_states,
    write_meta,
)
from nix_audit.advisories.interface import FeedFetch, FeedSource, Validators
from nix_audit.advisories.schema import (
    LIST_BASELINE,
    LIST_DELTA,
    LIST_ETAG,
    LIST_LOCATION,
    LIST_META_KEYS,
    LIST_RECORDS,
    LIST_SCANNED,
    LIST_UPDATE,
    LOCK_FILE,
    SCHEMA_VERSION,
)
from nix_audit.errors import FeedError, IndexError_
from nix_audit.progress import task

__all__ = ["FIRST_YEAR", "MODIFIED_FEED", "UpdateReport", "update_index"]

# The NVD's first yearly feed; nvdcve-2.0-2002 also holds CVE-1999..2001.
FIRST_YEAR = 2002
MODIFIED_FEED = "modified"
# "modified" covers 8 days; a day of margin for clocks and the NVD's publishing schedule.
_MODIFIED_COVERS = timedelta(days=7)
_BUSY_TIMEOUT = 60.0
_UPDATE_CACHE_KIB = 64 * 1024
_DOWNLOADS = "feeds-"


@dataclass(frozen=True, slots=True)
class UpdateReport:
    """What an update did: feeds downloaded, feeds found unchanged, records touched."""

    feeds_fetched: tuple[str, ...]
    feeds_unchanged: tuple[str, ...]
    added: int
    changed: int
    removed: int
    duration: float  # seconds
    rebuilt: bool = False  # a full build into a new file rather than changes in place
    cve_list: CveListCounts | None = None  # None: the CVE List was not read

    def summary(self) -> str:
        """One line for the user: ``index rebuilt from 26 feeds: 207556 added ... in 8.1 s``."""
        if self.rebuilt:
            what = f"index rebuilt from {len(self.feeds_fetched)} feeds"
        elif not self.feeds_fetched:
            what = f"index up to date ({_names(self.feeds_unchanged)} unchanged)"
        else:
            what = f"index updated from {_names(self.feeds_fetched)}"
        counts = f"{self.added} added, {self.changed} changed, {self.removed} removed"
        return f"{what}: {counts}{self._cve_list_summary()} in {self.duration:.1f} s"

    def _cve_list_summary(self) -> str:
        if self.cve_list is None:
            return ""
        batches = self.cve_list.batches
        if not batches:
            return "; CVE List up to date"
        c = self.cve_list.counts
        what = batches[0] if len(batches) == 1 else f"{batches[0]} + {len(batches) - 1} more"
        return f"; CVE List from {what}: {c.added} added, {c.changed} changed, {c.removed} removed"


def _names(feeds: tuple[str, ...]) -> str:
    return ", ".join(feeds) if len(feeds) <= 3 else f"{len(feeds)} feeds"


def _utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (a naive one is taken to be UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def update_index(
    db_dir: Path,
    source: FeedSource,
    *,
    now: datetime,
    years: range | None = None,
    full: bool = False,
    lock_timeout: float = 600.0,
    cve_list: CveListSource | None = None,
) -> UpdateReport:
    """Bring ``db_dir/index.sqlite`` up to date from ``source`` (and ``cve_list``, if given).

    ``years`` are the yearly feeds to use (default 2002 up to ``now.year``). Raises
    ``FeedError`` when a feed cannot be fetched or decoded (the previous index is left as
    it was) and ``IndexError_`` when the database directory is unusable or another update
    holds the lock for more than ``lock_timeout`` seconds.
    """
    started = time.monotonic()
    now = _utc(now)
    if years is None:
        years = range(FIRST_YEAR, now.year + 1)
    names = [str(year) for year in years]
    try:
        db_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise IndexError_(f"{db_dir}: cannot create the database directory: {e}") from e
    lock = filelock.FileLock(db_dir / LOCK_FILE, timeout=lock_timeout)
    try:
        lock.acquire()
    except filelock.Timeout as e:
        raise IndexError_(
            f"{db_dir / LOCK_FILE}: another update still holds the lock after {lock_timeout:g} s"
        ) from e
    try:
        # Downloads of an update that was killed: nobody else can be using them under the lock.
        for stale in db_dir.glob(f"{_DOWNLOADS}*"):
            shutil.rmtree(stale, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=_DOWNLOADS, dir=db_dir) as tmp:
            job = _Job(db_dir, source, now, names, Path(tmp), cve_list)
            counts, fetched, unchanged, rebuilt = job.run(full)
    except sqlite3.Error as e:
        raise IndexError_(f"{index_path(db_dir)}: cannot write the advisory index: {e}") from e
    finally:
        lock.release()
    return UpdateReport(
        feeds_fetched=fetched,
        feeds_unchanged=unchanged,
        added=counts.added,
        changed=counts.changed,
        removed=counts.removed,
        duration=time.monotonic() - started,
        rebuilt=rebuilt,
        cve_list=job.cve_list_counts,
    )


@dataclass(frozen=True, slots=True)
class _Stored:
    """What the live index remembers of the last update."""

    validators: dict[str, Validators]
    last_update: datetime | None
    cve_list: CveListState | None  # None: no CVE List in the index, or from another place
    cve_list_location: str | None
    cve_list_records: int


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute(f"PRAGMA cache_size=-{_UPDATE_CACHE_KIB}")
    return conn


def _read_stored(path: Path) -> _Stored | None:
    """The live index's state, or None when there is nothing usable to update in place.

    Opening it read-write also rolls back a hot journal a killed writer left behind.
    """
    if not path.is_file():
        return None
    try:
        conn = _connect(path)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            rows = conn.execute("SELECT name, etag, last_modified FROM feed").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None  # damaged or foreign file: rebuilt from scratch
    if meta.get("schema_version") != SCHEMA_VERSION or "last_update" not in meta:
        return None
    validators = {name: Validators(etag, modified) for name, etag, modified in rows}
    return _Stored(
        validators,
        datetime.fromisoformat(meta["last_update"]),
        _cve_list_state(meta),
        meta.get(LIST_LOCATION),
        int(meta.get(LIST_RECORDS, "0")),
    )


def _forget_cve_list_meta(conn: sqlite3.Connection) -> None:
    marks = ",".join("?" * len(LIST_META_KEYS))
    conn.execute(f"DELETE FROM meta WHERE key IN ({marks})", LIST_META_KEYS)  # noqa: S608


def _cve_list_state(meta: dict[str, str]) -> CveListState | None:
    if LIST_LOCATION not in meta:
        return None
    scanned = meta.get(LIST_SCANNED)
    return CveListState(
        baseline=meta.get(LIST_BASELINE),
        last_delta=meta.get(LIST_DELTA),
        listing_etag=meta.get(LIST_ETAG),
        clone_scanned_ns=int(scanned) if scanned else None,
    )


class _Job:
    """One update, run under the lock."""

    def __init__(
        self,
        db_dir: Path,
        source: FeedSource,
        now: datetime,
        years: list[str],
        tmp: Path,
        cve_list: CveListSource | None,
    ) -> None:
        self.index = index_path(db_dir)
        self.source = source
        self.now = now
        self.years = years
        self.tmp = tmp
        self.cve_list = cve_list
        self.cve_list_counts: CveListCounts | None = None
        self._list_plan: tuple[list[CveListBatch], CveListState] | None = None
        self._list_records = 0

    def run(self, full: bool) -> tuple[ApplyCounts, tuple[str, ...], tuple[str, ...], bool]:
        stored = None if full else _read_stored(self.index)
        if stored is None:
            fetches = self._fetch_all([(name, None) for name in [*self.years, MODIFIED_FEED]])
            self._plan_cve_list(None)
            counts = self._rebuild(fetches)
            return counts, tuple(f.name for f in fetches), (), True
        wanted = self._wanted(stored)
        fetches = self._fetch_all([(name, stored.validators.get(name)) for name in wanted])
        same_place = (
            self.cve_list is not None and stored.cve_list_location == self.cve_list.location
        )
        self._list_records = stored.cve_list_records if same_place else 0
        self._plan_cve_list(stored.cve_list if same_place else None)
        counts = self._refresh(fetches)
        fetched = tuple(f.name for f in fetches if f.path is not None)
        unchanged = tuple(f.name for f in fetches if f.path is None)
        return counts, fetched, unchanged, False

    def _wanted(self, stored: _Stored) -> list[str]:
        """Feeds to ask for: modified; every year when modified no longer covers the gap."""
        stale = stored.last_update is None or self.now - stored.last_update > _MODIFIED_COVERS
        # A year the index has never loaded (a new year began) is fetched in any case.
        years = [y for y in self.years if stale or y not in stored.validators]
        return [*years, MODIFIED_FEED]

    def _fetch_all(self, wanted: Sequence[tuple[str, Validators | None]]) -> list[FeedFetch]:
        fetches: list[FeedFetch] = []
        with task("downloading feeds", len(wanted)) as step:
            for name, validators in wanted:
                fetches.append(self._fetch(name, validators))
                step(1)
        return fetches

    def _fetch(self, name: str, validators: Validators | None) -> FeedFetch:
        fetch = self.source.fetch(name, validators, self.tmp)
        if fetch.path is None and validators is None:
            raise FeedError(
                f"{self.source.location}: feed {name!r} reported unchanged to an "
                "unconditional request"
            )
        return fetch

    def _plan_cve_list(self, state: CveListState | None) -> None:
        """Ask the CVE List what to apply (downloads happen here, before the transaction)."""
        if self.cve_list is not None:
            with task("downloading the CVE List", None):
                self._list_plan = self.cve_list.batches(state, self.tmp, full=state is None)

    def _write_cve_list(self, conn: sqlite3.Connection, *, fresh: bool) -> None:
        """Apply the planned CVE List batches, or drop the CVE List when there is none."""
        if self.cve_list is None or self._list_plan is None:
            clear_cve_list(conn)
            _forget_cve_list_meta(conn)
            return
        batches, state = self._list_plan
        if not fresh and batches and batches[0].kind == "baseline" and self._list_records == 0:
            # First CVE List load into an existing index, or from another place: the
            # baseline replaces whatever was there, in bulk.
            clear_cve_list(conn)
            fresh = True
        with task("indexing the CVE List", len(batches)) as step:
            counts = apply_batches(conn, _stepped(batches, step), fresh=fresh)
        self.cve_list_counts = counts
        records = self._list_records + counts.counts.added - counts.counts.removed
        values = {
            LIST_LOCATION: self.cve_list.location,
            LIST_UPDATE: self.now.isoformat(),
            LIST_RECORDS: str(records),
        }
        optional = {
            LIST_BASELINE: state.baseline,
            LIST_DELTA: state.last_delta,
            LIST_ETAG: state.listing_etag,
            LIST_SCANNED: None if state.clone_scanned_ns is None else str(state.clone_scanned_ns),
        }
        values.update({key: value for key, value in optional.items() if value is not None})
        _forget_cve_list_meta(conn)
        write_meta(conn, values)

    def _decoded(self, feeds: Sequence[tuple[str, Path]]) -> Iterator[FeedRows]:
        """``decoded_feeds``, with errors naming the feed where it came from.

        The decoder names the file it read, a download in a temporary folder that is gone by
        the time the user reads the message; issue #6 asks for the feed to be named, so the
        folder is replaced by the source's location (the mirror URL or folder).
        """
        try:
            with task("indexing feeds", len(feeds)) as step:
                for feed in decoded_feeds(feeds):
                    yield feed
                    step(1)
        except FeedError as e:
            where = self.source.location.rstrip("/") + "/"
            raise FeedError(str(e).replace(f"{self.tmp}/", where, 1)) from e

    def _feed_state(self, fetch: FeedFetch, feed: FeedRows) -> tuple[object, ...]:
        return (
            fetch.name,
            fetch.validators.etag,
            fetch.validators.last_modified,
            feed.header.timestamp,
            self.now.isoformat(),
            feed.records,
        )

    def _write_meta(self, conn: sqlite3.Connection, records: int) -> None:
        # The record count is kept here so that ``status()`` (read by every scan) need not
        # count 200k rows each time.
        write_meta(
            conn,
            {
                "source": self.source.location,
                "last_update": self.now.isoformat(),
                "records": str(records),
            },
        )

    def _rebuild(self, fetches: Sequence[FeedFetch]) -> ApplyCounts:
        """Build a new index file from every feed, then swap it in."""
        temp = self.index.with_name(self.index.name + ".tmp")
        conn = open_for_build(temp)
        try:
            writer = IndexWriter(conn, fresh=True)
            counts = ApplyCounts()
            by_name = {f.name: f for f in fetches}
            for feed in self._decoded([(f.name, _path_of(f)) for f in fetches]):
                counts += writer.add(feed)
                write_feed_states(conn, [self._feed_state(by_name[feed.name], feed)])
            self._write_meta(conn, counts.added - counts.removed)
            self._write_cve_list(conn, fresh=True)
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=DELETE")
        except BaseException:
            conn.close()
            temp.unlink(missing_ok=True)
            raise
        conn.close()
        self._swap_in(temp)
        # In a rebuild, a modified record replacing a yearly one is not a change to report.
        return ApplyCounts(added=counts.added - counts.removed)

    def _swap_in(self, temp: Path) -> None:
        """Rename the new file over the index, leaving no journal that could apply to it."""
        try:
            with temp.open("rb+") as built:
                os.fsync(built.fileno())  # built with synchronous=OFF: flush before rename
            _read_stored(self.index)  # rolls back a killed writer's hot journal first
            temp.replace(self.index)
            directory = os.open(self.index.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as e:
            temp.unlink(missing_ok=True)
            raise IndexError_(f"{self.index}: cannot put the new index in place: {e}") from e

    def _refresh(self, fetches: Sequence[FeedFetch]) -> ApplyCounts:
        """Apply the changed feeds to the live index in one transaction."""
        changed = {f.name: f for f in fetches if f.path is not None}
        conn = _connect(self.index)
        try:
            conn.execute("BEGIN IMMEDIATE")
            before = _record_count(conn)
            counts = ApplyCounts()
            writer = IndexWriter(conn)
            # Yearly feeds before "modified": a record rejected in a newer feed must not come
            # back from an older one applied after it.
            for feed in self._decoded([(name, _path_of(f)) for name, f in changed.items()]):
                counts += writer.apply(feed)
                write_feed_states(conn, [self._feed_state(changed[feed.name], feed)])
            conn.executemany(
                "UPDATE feed SET etag = ?, last_modified = ?, fetched_at = ? WHERE name = ?",
                [
                    (f.validators.etag, f.validators.last_modified, self.now.isoformat(), f.name)
                    for f in fetches
                    if f.path is None
                ],
            )
            self._write_meta(conn, before + counts.added - counts.removed)
            self._write_cve_list(conn, fresh=False)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()
        return counts


def _record_count(conn: sqlite3.Connection) -> int:
    """The count kept in ``meta``, else counted (an index written before it was kept)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'records'").fetchone()
    if row is not None:
        return int(row[0])
    (count,) = conn.execute("SELECT count(*) FROM cve").fetchone()
    return int(count)


def _stepped(
    batches: Sequence[CveListBatch], step: Callable[[int], None]
) -> Iterator[CveListBatch]:
    for batch in batches:
        yield batch
        step(1)


def _path_of(fetch: FeedFetch) -> Path:
    if fetch.path is None:
        raise FeedError(f"feed {fetch.name!r}: nothing was downloaded")
    return fetch.path
