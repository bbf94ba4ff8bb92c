"""Broken feeds through the real command: exit 3, one line naming the feed, the index kept.

Each case serves the ``modified`` feed of a loopback mirror wrongly (issue #6: truncated
gzip, the real CDN error page, invalid JSON, the wrong format or version, records missing
fields, 403/404/500, a dropped connection, a stalling server) to ``nix-audit db update`` on
an existing index. Afterwards the index file is byte-for-byte what it was, ``scan
--offline`` answers from it, and a ``scan`` whose automatic refresh hits the same fault goes
on with it and says so.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import pytest

from nix_audit.advisories.fetch import HttpFeedSource
from nix_audit.errors import FeedError
from tests.e2e.conftest import run_cli
from tests.helpers.feed_server import Fault, FeedServer
from tests.helpers.nvd_feeds import cpe_match, record
from tests.robustness.conftest import MODIFIED, assert_failed, generation

FEED = "nvdcve-2.0-modified.json.gz"


def _feed_bytes(document: object) -> bytes:
    return gzip.compress(json.dumps(document).encode(), mtime=0)


def _header(**fields: object) -> dict[str, object]:
    return {"format": "NVD_CVE", "version": "2.0", "timestamp": "2026-03-15T08:00:01", **fields}


_GOOD = record("CVE-2026-0002", [cpe_match("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*")])
_NO_ID = {"cve": {k: v for k, v in _GOOD["cve"].items() if k != "id"}}
_BAD_CONFIG = {"cve": {**_GOOD["cve"], "configurations": "all of them"}}
_NOT_A_CVE = {"cve": {**_GOOD["cve"], "id": "GHSA-xxxx-yyyy-zzzz"}}

# (case id, how the server misbehaves, words the one error line must hold)
_GZ = "application/gzip"
CASES: list[tuple[str, Fault, tuple[str, ...]]] = [
    ("truncated-gzip", Fault(truncate=3000), ("truncated gzip",)),
    ("dropped-mid-body", Fault(drop_after=3000), ("connection closed after 3000",)),
    ("http-403", Fault(status=403), ("HTTP 403",)),
    ("http-404", Fault(status=404), ("HTTP 404",)),
    ("http-500", Fault(status=500), ("HTTP 500",)),
    (
        "invalid-json",
        Fault(
            body=gzip.compress(b'{"format": "NVD_CVE", "version": "2.0", "vulnerabilities": [{'),
            content_type=_GZ,
        ),
        ("invalid JSON",),
    ),
    (
        "wrong-format-1.1",
        Fault(
            body=_feed_bytes(
                {
                    "CVE_data_type": "CVE",
                    "CVE_data_format": "MITRE",
                    "CVE_data_version": "4.0",
                    "CVE_Items": [],
                }
            ),
            content_type=_GZ,
        ),
        ("not an NVD JSON 2.0 feed",),
    ),
    (
        "wrong-version",
        Fault(body=_feed_bytes(_header(version="1.1", vulnerabilities=[_GOOD])), content_type=_GZ),
        ("not an NVD JSON 2.0 feed", "'1.1'"),
    ),
    (
        "record-without-id",
        Fault(body=_feed_bytes(_header(vulnerabilities=[_GOOD, _NO_ID])), content_type=_GZ),
        ("`id`",),
    ),
    (
        "record-with-bad-configurations",
        Fault(body=_feed_bytes(_header(vulnerabilities=[_BAD_CONFIG])), content_type=_GZ),
        ("invalid JSON", "configurations"),
    ),
    (
        "record-not-a-cve",
        Fault(body=_feed_bytes(_header(vulnerabilities=[_NOT_A_CVE])), content_type=_GZ),
        ("GHSA-xxxx-yyyy-zzzz", "CVE id"),
    ),
    ("empty-200", Fault(body=b"", content_type=_GZ), ("not a gzip feed",)),
]


@pytest.fixture
def changed(served: FeedServer, new_modified: Path) -> FeedServer:
    """The mirror with a new ``modified`` feed, so an update must download it (no 304)."""
    shutil.copyfile(new_modified, served.root / FEED)
    return served


def _check_index_kept(db: Path, before: bytes, packages: Path) -> None:
    assert (db / "index.sqlite").read_bytes() == before
    assert not list(db.glob("feeds-*")), "a failed update left its downloads behind"
    assert generation(db, packages) == "old"


@pytest.mark.parametrize(("fault", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_modified_feed_fails_cleanly_and_keeps_the_index(
    changed: FeedServer, db: Path, marker_packages: Path, fault: Fault, words: tuple[str, ...]
) -> None:
    before = (db / "index.sqlite").read_bytes()
    changed.set_fault(MODIFIED, fault)
    started = time.monotonic()
    run = run_cli("db", "update", "--db", str(db), "--mirror", changed.url, timeout=60)
    # The line names the feed by its URL, never by a temporary download that is gone.
    assert_failed(run, changed.url_for(MODIFIED), *words)
    assert time.monotonic() - started < 20
    _check_index_kept(db, before, marker_packages)
    # A scan whose automatic refresh fails the same way goes on with the previous index.
    auto_args = ["scan", "--json", "--max-age", "0", "--mirror", changed.url]
    auto_args += ["--db", str(db), "-f", str(marker_packages)]
    auto = run_cli(*auto_args)
    assert auto.returncode == 2, auto.stderr
    assert "previous index" in auto.stderr
    assert any("previous index" in w for w in auto.json()["warnings"])
    assert (db / "index.sqlite").read_bytes() == before


def test_real_html_error_page_served_as_the_feed(
    changed: FeedServer, db: Path, marker_packages: Path, shared_data: Path
) -> None:
    (page,) = (shared_data / "nvd" / "modified-history").glob("*.html-error-page.bin")
    before = (db / "index.sqlite").read_bytes()
    # Served as the CDN did: status 200, and (worst case) claiming to be the gzip file.
    for content_type in ("text/html; charset=UTF-8", "application/gzip"):
        changed.set_fault(MODIFIED, Fault(body=page.read_bytes(), content_type=content_type))
        run = run_cli("db", "update", "--db", str(db), "--mirror", changed.url)
        assert_failed(run, changed.url_for(MODIFIED), "HTML")
        _check_index_kept(db, before, marker_packages)


def test_broken_feed_in_a_folder_mirror_is_named_by_its_path(
    db: Path, old_mirror: Path, tmp_path: Path, marker_packages: Path
) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(old_mirror, mirror)
    whole = _feed_bytes(_header(vulnerabilities=[_GOOD] * 200))
    (mirror / FEED).write_bytes(whole[: len(whole) // 2])
    before = (db / "index.sqlite").read_bytes()
    run = run_cli("db", "update", "--db", str(db), "--mirror", str(mirror))
    assert_failed(run, str(mirror / FEED), "truncated gzip")
    _check_index_kept(db, before, marker_packages)


def test_failed_first_load_leaves_no_index_and_offline_scan_says_so(
    served: FeedServer, tmp_path: Path, marker_packages: Path
) -> None:
    served.set_fault("/nvdcve-2.0-2014.json.gz", Fault(truncate=100))
    db = tmp_path / "fresh"
    run = run_cli("db", "update", "--db", str(db), "--mirror", served.url)
    assert_failed(run, "nvdcve-2.0-2014.json.gz")
    assert not (db / "index.sqlite").exists()
    assert not list(db.glob("index.sqlite*")), "a half-built index was left in place"
    scan = run_cli("scan", "--offline", "--json", "--db", str(db), "-f", str(marker_packages))
    assert_failed(scan, "no advisory index")


def test_stalling_server_fails_within_the_read_timeout() -> None:
    """The bound itself, at the HTTP layer: a second of silence is a one-line FeedError."""
    with FeedServer(Path(__file__).parent) as server:
        server.set_fault("/nvdcve-2.0-modified.json.gz", Fault(stall_before=30))
        source = HttpFeedSource(server.url, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(FeedError, match=r"modified\.json\.gz: timed out after 1 s$"):
            source.fetch("modified", None, Path(__file__).parent / "never")
        source.close()
        assert time.monotonic() - started < 5


@pytest.mark.slow
def test_stalling_server_through_the_command_gives_up(
    changed: FeedServer, db: Path, marker_packages: Path
) -> None:
    """The command has no timeout flag: it gives up after its fixed 30 s read timeout."""
    before = (db / "index.sqlite").read_bytes()
    changed.set_fault(MODIFIED, Fault(stall_after=100, stall_for=120))
    started = time.monotonic()
    run = run_cli("db", "update", "--db", str(db), "--mirror", changed.url, timeout=90)
    assert_failed(run, changed.url_for(MODIFIED), "timed out after 30 s")
    assert time.monotonic() - started < 60
    _check_index_kept(db, before, marker_packages)


def test_http_timeout_can_be_set_from_outside(changed: FeedServer, db: Path) -> None:
    changed.set_fault(MODIFIED, Fault(stall_before=60))
    env = {"NIX_AUDIT_TIMEOUT": "1"}
    run = run_cli("db", "update", "--db", str(db), "--mirror", changed.url, env=env, timeout=8)
    assert_failed(run, "timed out after 1 s")
