"""``update_index``: first load, conditional updates, failures, locking and crash safety."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nix_audit.advisories.fetch import FolderFeedSource
from nix_audit.advisories.index import INDEX_FILE, AdvisoryIndex
from nix_audit.advisories.interface import FeedFetch, Validators
from nix_audit.advisories.update import UpdateReport, update_index
from nix_audit.errors import FeedError, IndexError_
from tests.conftest import REPO_ROOT
from tests.helpers.nvd_feeds import cpe_match, record, write_feed, write_mirror

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
YEARS = range(2014, 2017)
LATER = "2026-03-14T00:00:00.000"


def rec(cve_id: str, *products: str, modified: str = "2020-01-01T00:00:00.000", **kw: Any) -> Any:
    matches = [cpe_match(f"cpe:2.3:a:vendor:{p}:*:*:*:*:*:*:*:*") for p in products]
    return record(cve_id, matches, last_modified=modified, **kw)


BASE = [
    rec("CVE-2014-0001", "alpha", "beta"),
    rec("CVE-2015-0002", "gamma"),
    rec("CVE-2016-0003", "delta"),
]


class RecordingSource(FolderFeedSource):
    """A folder mirror that remembers what it was asked for and what it answered."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.asked: list[tuple[str, Validators | None]] = []
        self.sent: list[str] = []

    def fetch(self, name: str, validators: Validators | None, dest_dir: Path) -> FeedFetch:
        self.asked.append((name, validators))
        fetched = super().fetch(name, validators, dest_dir)
        if fetched.path is not None:
            self.sent.append(name)
        return fetched


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    return write_mirror(tmp_path / "mirror", BASE, last_year=YEARS[-1])


def update(
    db: Path, mirror: Path, now: datetime = NOW, **kw: Any
) -> tuple[UpdateReport, RecordingSource]:
    source = RecordingSource(mirror)
    return update_index(db, source, now=now, years=YEARS, **kw), source


def lookup(db: Path, *products: str) -> dict[str, list[str]]:
    with AdvisoryIndex(db / INDEX_FILE) as index:
        found = index.records_for_products(products)
    return {p: sorted(r.cve_id for r in records) for p, records in found.items()}


def touch_modified(mirror: Path, records: list[Any]) -> None:
    path = mirror / "nvdcve-2.0-modified.json.gz"
    before = path.stat().st_mtime_ns
    write_feed(path, records)
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a new mtime, so a new ETag


def test_first_load_builds_the_index(tmp_path: Path, mirror: Path) -> None:
    # What an update killed in the middle leaves: its downloads and a half-built file.
    (tmp_path / "db" / "feeds-killed").mkdir(parents=True)
    (tmp_path / "db" / "feeds-killed" / "nvdcve-2.0-2014.json.gz").write_bytes(b"partial")
    (tmp_path / "db" / (INDEX_FILE + ".tmp")).write_bytes(b"half-built")
    report, source = update(tmp_path / "db", mirror)
    assert report.rebuilt
    assert report.feeds_fetched == ("2014", "2015", "2016", "modified")
    assert (report.added, report.changed, report.removed) == (3, 0, 0)
    assert all(validators is None for _, validators in source.asked)
    assert lookup(tmp_path / "db", "alpha", "gamma") == {
        "alpha": ["CVE-2014-0001"],
        "gamma": ["CVE-2015-0002"],
    }
    assert sorted(p.name for p in (tmp_path / "db").iterdir()) == ["index.lock", INDEX_FILE]
    assert "rebuilt from 4 feeds: 3 added" in report.summary()


def test_unchanged_modified_feed_ingests_nothing(tmp_path: Path, mirror: Path) -> None:
    db = tmp_path / "db"
    update(db, mirror)
    report, source = update(db, mirror, now=NOW + timedelta(hours=3))
    assert [name for name, _ in source.asked] == ["modified"]
    assert source.asked[0][1] is not None  # asked conditionally, with the stored validators
    assert source.sent == []
    assert (report.feeds_fetched, report.feeds_unchanged) == ((), ("modified",))
    assert (report.added, report.changed, report.removed) == (0, 0, 0)
    with AdvisoryIndex(db) as index:
        status = index.status()
    assert status.last_update == NOW + timedelta(hours=3)
    assert {f.name: f.fetched_at for f in status.feeds}["modified"] == NOW + timedelta(hours=3)
    assert "up to date" in report.summary()


def test_modified_feed_changes_adds_and_rejects(tmp_path: Path, mirror: Path) -> None:
    db = tmp_path / "db"
    update(db, mirror)
    touch_modified(
        mirror,
        [
            rec("CVE-2014-0001", "alpha", modified=LATER),  # beta dropped from the configuration
            rec("CVE-2015-0002", "gamma", modified=LATER, status="Rejected"),
            rec("CVE-2026-0004", "beta", modified=LATER),
            rec("CVE-2016-0003", "omega", modified="2019-01-01T00:00:00.000"),  # older: ignored
        ],
    )
    report, source = update(db, mirror, now=NOW + timedelta(days=1))
    assert source.sent == ["modified"]
    assert (report.added, report.changed, report.removed) == (1, 1, 1)
    assert lookup(db, "alpha", "beta", "gamma", "delta", "omega") == {
        "alpha": ["CVE-2014-0001"],
        "beta": ["CVE-2026-0004"],
        "gamma": [],
        "delta": ["CVE-2016-0003"],
        "omega": [],
    }
    with AdvisoryIndex(db) as index:
        assert index.status().records == 3
        assert "CVE-2015-0002" not in index.details(["CVE-2015-0002"])


def test_stale_index_rechecks_every_year_and_applies_changed_ones(
    tmp_path: Path, mirror: Path
) -> None:
    db = tmp_path / "db"
    update(db, mirror)
    path = mirror / "nvdcve-2.0-2015.json.gz"
    write_feed(path, [rec("CVE-2015-0002", "gamma2", modified=LATER)])
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    report, source = update(db, mirror, now=NOW + timedelta(days=8))
    assert [name for name, _ in source.asked] == ["2014", "2015", "2016", "modified"]
    assert all(validators is not None for _, validators in source.asked)
    assert source.sent == ["2015"]
    assert report.feeds_unchanged == ("2014", "2016", "modified")
    assert (report.added, report.changed, report.removed) == (0, 1, 0)
    assert lookup(db, "gamma", "gamma2") == {"gamma": [], "gamma2": ["CVE-2015-0002"]}


def test_recent_index_fetches_only_a_year_it_never_loaded(tmp_path: Path, mirror: Path) -> None:
    db = tmp_path / "db"
    update(db, mirror)
    write_feed(mirror / "nvdcve-2.0-2017.json.gz", [rec("CVE-2017-0005", "epsilon")])
    source = RecordingSource(mirror)
    update_index(db, source, now=NOW + timedelta(days=1), years=range(2014, 2018))
    assert [(name, v is None) for name, v in source.asked] == [("2017", True), ("modified", False)]
    assert lookup(db, "epsilon") == {"epsilon": ["CVE-2017-0005"]}


def test_full_update_rebuilds_from_every_feed(tmp_path: Path, mirror: Path) -> None:
    db = tmp_path / "db"
    update(db, mirror)
    report, source = update(db, mirror, now=NOW + timedelta(hours=1), full=True)
    assert report.rebuilt
    assert source.sent == ["2014", "2015", "2016", "modified"]
    assert lookup(db, "alpha") == {"alpha": ["CVE-2014-0001"]}


def test_failed_update_leaves_the_index_untouched(tmp_path: Path, mirror: Path) -> None:
    db = tmp_path / "db"
    update(db, mirror)
    before = (db / INDEX_FILE).read_bytes()
    # "modified" is fetched fine but is cut short: decoding fails in the middle of applying.
    good = [rec(f"CVE-2026-{i:04d}", "zeta", modified=LATER) for i in range(1, 400)]
    touch_modified(mirror, good)
    path = mirror / "nvdcve-2.0-modified.json.gz"
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 3 // 4])
    with pytest.raises(FeedError, match="truncated"):
        update(db, mirror, now=NOW + timedelta(days=1))
    assert (db / INDEX_FILE).read_bytes() == before
    assert lookup(db, "alpha", "zeta") == {"alpha": ["CVE-2014-0001"], "zeta": []}
    assert sorted(p.name for p in db.iterdir()) == ["index.lock", INDEX_FILE]


def test_failed_first_load_leaves_nothing_behind(tmp_path: Path, mirror: Path) -> None:
    (mirror / "nvdcve-2.0-2015.json.gz").write_bytes(b"<html>Attention Required!</html>")
    db = tmp_path / "db"
    with pytest.raises(FeedError, match="2015"):
        update(db, mirror)
    assert sorted(p.name for p in db.iterdir()) == ["index.lock"]
    with pytest.raises(IndexError_):
        AdvisoryIndex(db)


def test_lock_timeout_is_an_index_error(tmp_path: Path, mirror: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    # filelock is reentrant within a process: the other writer is another process.
    script = textwrap.dedent(
        """
        import filelock, sys, time
        with filelock.FileLock(sys.argv[1]):
            print("locked", flush=True)
            time.sleep(30)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(db / "index.lock")], stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexError_, match=r"holds the lock after 0\.2 s"):
            update(db, mirror, lock_timeout=0.2)
        holder.kill()


UPDATER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, UTC
    from pathlib import Path
    from nix_audit.advisories.fetch import FolderFeedSource
    from nix_audit.advisories.update import update_index
    report = update_index(
        Path(sys.argv[1]), FolderFeedSource(sys.argv[2]),
        now=datetime(2026, 3, 15, 12, 0, tzinfo=UTC), years=range(2002, 2017),
    )
    print(report.rebuilt)
    """
)


def test_two_updaters_at_once_one_waits(tmp_path: Path) -> None:
    # Enough records that the first load takes a while, so the two runs overlap.
    records = [
        rec(f"CVE-{y}-{i:04d}", f"p{i % 97}") for y in range(2002, 2017) for i in range(1, 800)
    ]
    mirror = write_mirror(tmp_path / "mirror", records, last_year=2016)
    db = tmp_path / "db"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", UPDATER, str(db), str(mirror)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outcomes = sorted(run.communicate(timeout=120)[0].strip() for run in runs)
    assert [run.returncode for run in runs] == [0, 0]
    assert outcomes == ["False", "True"]  # one built the index, the other found it current
    with AdvisoryIndex(db) as index:
        assert index.status().records == len(records)
        assert len(index.records_for_products(["p5"])["p5"]) == sum(
            1 for y in range(2002, 2017) for i in range(1, 800) if i % 97 == 5
        )


def leave_hot_journal(path: Path) -> None:
    """A writer killed in the middle of a large transaction (its changes spilled to the file)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA cache_size=1")
        conn.execute("BEGIN")
        conn.execute("DELETE FROM product")
        conn.execute("UPDATE cve SET details = zeroblob(100000)")
        os._exit(0)
    os.waitpid(pid, 0)
    assert path.with_name(path.name + "-journal").exists()


def test_update_after_a_killed_writer_starts_from_the_old_index(
    tmp_path: Path, mirror: Path
) -> None:
    db = tmp_path / "db"
    update(db, mirror)
    leave_hot_journal(db / INDEX_FILE)
    touch_modified(mirror, [rec("CVE-2026-0009", "theta", modified=LATER)])
    report, _ = update(db, mirror, now=NOW + timedelta(days=1))
    assert report.added == 1
    assert lookup(db, "alpha", "theta") == {"alpha": ["CVE-2014-0001"], "theta": ["CVE-2026-0009"]}
    assert not (db / (INDEX_FILE + "-journal")).exists()


def test_rebuild_over_a_killed_writers_journal_is_not_damaged(tmp_path: Path, mirror: Path) -> None:
    db = tmp_path / "db"
    update(db, mirror)
    leave_hot_journal(db / INDEX_FILE)
    update(db, mirror, now=NOW + timedelta(hours=1), full=True)
    assert not (db / (INDEX_FILE + "-journal")).exists()
    with sqlite3.connect(db / INDEX_FILE) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert lookup(db, "alpha", "delta") == {"alpha": ["CVE-2014-0001"], "delta": ["CVE-2016-0003"]}


def test_whole_nvd_corpus(tmp_path: Path, shared_data: Path) -> None:
    nvd = shared_data / "nvd"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for year in range(2002, 2027):
        (mirror / f"nvdcve-2.0-{year}.json.gz").symlink_to(nvd / f"nvdcve-2.0-{year}.json.gz")
    (mirror / "nvdcve-2.0-modified.json.gz").symlink_to(nvd / "nvdcve-2.0-modified.json.gz")
    db = tmp_path / "db"
    source = FolderFeedSource(mirror)
    report = update_index(db, source, now=NOW, years=range(2002, 2027))
    # nvd/README.md: 217,828 records, of which 10,272 are Rejected; "modified" holds no
    # version newer than the yearly feeds (they were assembled from it).
    assert report.added == 217_828 - 10_272
    with AdvisoryIndex(db) as index:
        openssl = index.records_for_products(["openssl"])["openssl"]
        assert "CVE-2014-0160" in {r.cve_id for r in openssl}
        details = index.details(["CVE-2014-0160", "CVE-2024-3094"])
        assert details["CVE-2014-0160"].cvss_v3 == 7.5
        assert details["CVE-2014-0160"].score is not None
        assert details["CVE-2024-3094"].cvss_v3 == 10.0
        xz = {r.cve_id for r in index.records_for_products(["xz"])["xz"]}
        assert "CVE-2024-3094" in xz
        assert index.status().records == report.added
    assert (db / INDEX_FILE).stat().st_size <= 150 * 10**6
    again = update_index(db, source, now=NOW + timedelta(hours=1), years=range(2002, 2027))
    assert again.feeds_unchanged == ("modified",)
