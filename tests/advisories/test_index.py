"""The read side: opening (and refusing) indexes, product lookups, details and status."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nix_audit.advisories.fetch import FolderFeedSource
from nix_audit.advisories.index import INDEX_FILE, AdvisoryIndex
from nix_audit.advisories.update import update_index
from nix_audit.errors import IndexError_
from tests.helpers.nvd_feeds import cpe_match, record, write_mirror

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
YEARS = range(2014, 2017)
OPENSSL = "cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*"

RECORDS = [
    record(
        "CVE-2014-0160",
        [cpe_match(OPENSSL, versionStartIncluding="1.0.1", versionEndExcluding="1.0.1g")],
        score=7.5,
        description="Heartbleed",
    ),
    record(
        "CVE-2014-0224",
        [
            cpe_match(OPENSSL, versionEndExcluding="0.9.8za"),
            cpe_match("cpe:2.3:a:libressl:openssl:*:*:*:*:*:*:*:*", versionEndExcluding="2.0"),
            cpe_match("cpe:2.3:a:nodejs:node.js:*:*:*:*:*:*:*:*", versionEndExcluding="0.10.29"),
        ],
        score=None,
    ),
    record(
        "CVE-2016-9840",
        [
            cpe_match("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*", versionEndIncluding="1.2.8"),
            cpe_match("cpe:2.3:o:debian:debian_linux:8.0:*:*:*:*:*:*:*", vulnerable=False),
        ],
        score=8.8,
    ),
    record("CVE-2015-0001", [cpe_match("cpe:2.3:a:gnome:gtk\\+:3.0:*:*:*:*:*:*:*")]),
]


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("index")
    mirror = write_mirror(root / "mirror", RECORDS, last_year=YEARS[-1])
    update_index(root / "db", FolderFeedSource(mirror), now=NOW, years=YEARS)
    return root / "db"


@pytest.fixture
def index(db_dir: Path) -> AdvisoryIndex:
    return AdvisoryIndex(db_dir / INDEX_FILE)


def test_records_for_products_by_product_any_vendor(index: AdvisoryIndex) -> None:
    with index:
        found = index.records_for_products(["openssl", "node.js", "zlib", "debian_linux", "nope"])
    assert sorted(r.cve_id for r in found["openssl"]) == ["CVE-2014-0160", "CVE-2014-0224"]
    assert [r.cve_id for r in found["node.js"]] == ["CVE-2014-0224"]
    assert [r.cve_id for r in found["zlib"]] == ["CVE-2016-9840"]
    # A platform (vulnerable: false) is not an affected product; unknown names map to [].
    assert found["debian_linux"] == []
    assert found["nope"] == []
    heartbleed = next(r for r in found["openssl"] if r.cve_id == "CVE-2014-0160")
    assert heartbleed.configurations[0].nodes[0].matches[0].version_end_excluding == "1.0.1g"


def test_a_record_is_decoded_once_and_listed_once(index: AdvisoryIndex) -> None:
    with index:
        found = index.records_for_products(["openssl", "node.js"])
    # Two vendors name "openssl" in CVE-2014-0224: still one entry, and the same object
    # serves every product that names the record.
    assert [r.cve_id for r in found["openssl"]].count("CVE-2014-0224") == 1
    from_openssl = next(r for r in found["openssl"] if r.cve_id == "CVE-2014-0224")
    assert from_openssl is found["node.js"][0]


def test_lookup_is_case_insensitive_and_unquoted(index: AdvisoryIndex) -> None:
    with index:
        found = index.records_for_products(["OpenSSL", "gtk+"])
    assert len(found["OpenSSL"]) == 2
    assert [r.cve_id for r in found["gtk+"]] == ["CVE-2015-0001"]


def test_lookup_of_many_names_in_chunks(index: AdvisoryIndex) -> None:
    names = [f"product-{i}" for i in range(1500)] + ["zlib"]
    with index:
        found = index.records_for_products(names)
    assert len(found) == 1501
    assert [r.cve_id for r in found["zlib"]] == ["CVE-2016-9840"]


def test_details(index: AdvisoryIndex) -> None:
    with index:
        details = index.details(["CVE-2014-0160", "CVE-2014-0224", "CVE-2099-0001", "junk"])
    assert set(details) == {"CVE-2014-0160", "CVE-2014-0224"}
    assert details["CVE-2014-0160"].description == "Heartbleed"
    assert details["CVE-2014-0160"].cvss_v3 == 7.5
    assert details["CVE-2014-0160"].severity == "HIGH"
    assert details["CVE-2014-0224"].score is None


def test_status(index: AdvisoryIndex, db_dir: Path) -> None:
    with index:
        status = index.status()
    assert status.records == 4
    assert status.last_update == NOW
    assert status.source == str(db_dir.parent / "mirror")
    assert [f.name for f in status.feeds] == ["2014", "2015", "2016", "modified"]
    by_name = {f.name: f for f in status.feeds}
    assert by_name["2014"].records == 2
    assert by_name["2014"].feed_timestamp == "2026-03-15T08:00:01"
    assert by_name["2014"].etag is not None
    assert by_name["modified"].fetched_at == NOW


def test_index_is_opened_read_only(index: AdvisoryIndex) -> None:
    with index, pytest.raises(sqlite3.OperationalError, match="readonly"):
        index._conn.execute("DELETE FROM cve")


def test_directory_is_accepted_for_the_file(db_dir: Path) -> None:
    with AdvisoryIndex(db_dir) as index:
        assert index.path == db_dir / INDEX_FILE


@pytest.mark.parametrize("where", ["missing", "empty-dir"])
def test_no_index_says_to_run_update(tmp_path: Path, where: str) -> None:
    path = tmp_path / "db"
    if where == "empty-dir":
        path.mkdir()
    with pytest.raises(IndexError_, match="nix-audit db update") as raised:
        AdvisoryIndex(path / INDEX_FILE)
    assert "\n" not in str(raised.value)


def test_garbage_file_is_not_an_index(tmp_path: Path) -> None:
    path = tmp_path / INDEX_FILE
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(IndexError_, match="not an advisory index"):
        AdvisoryIndex(path)


def copy_index(db_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / INDEX_FILE
    copy.write_bytes((db_dir / INDEX_FILE).read_bytes())
    return copy


def test_other_schema_version_is_refused(db_dir: Path, tmp_path: Path) -> None:
    copy = copy_index(db_dir, tmp_path)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(IndexError_, match="schema version '0'"):
        AdvisoryIndex(copy)


def test_index_without_a_completed_load_is_refused(db_dir: Path, tmp_path: Path) -> None:
    copy = copy_index(db_dir, tmp_path)
    with sqlite3.connect(copy) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'last_update'")
    with pytest.raises(IndexError_, match="never fully loaded"):
        AdvisoryIndex(copy)


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


def test_reader_after_a_killed_writer_sees_the_old_index(db_dir: Path, tmp_path: Path) -> None:
    copy = copy_index(db_dir, tmp_path)
    leave_hot_journal(copy)
    with AdvisoryIndex(copy) as index:
        assert len(index.records_for_products(["openssl"])["openssl"]) == 2
        assert index.details(["CVE-2014-0160"])["CVE-2014-0160"].description == "Heartbleed"


def test_reader_waits_for_a_committing_writer(db_dir: Path, tmp_path: Path) -> None:
    copy = copy_index(db_dir, tmp_path)
    locked, release = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        writer = sqlite3.connect(copy, isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        os.write(release, b"x")
        time.sleep(0.5)
        writer.execute("COMMIT")
        os._exit(0)
    os.read(locked, 1)  # the child holds the exclusive lock now
    started = time.monotonic()
    with AdvisoryIndex(copy) as index:
        assert index.status().records == 4
    waited = time.monotonic() - started
    os.waitpid(pid, 0)
    assert waited >= 0.3
