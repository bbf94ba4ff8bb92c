"""Feed rows, blob encodings, the bulk load and the record-by-record apply, on real SQLite."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from nix_audit.advisories.ingest import (
    ApplyCounts,
    FeedRows,
    IndexWriter,
    decoded_feeds,
    feed_rows,
    open_for_build,
)
from nix_audit.advisories.schema import (
    cve_id_of,
    cve_key,
    decode_details,
    decode_record,
    encode_details,
    encode_record,
)
from nix_audit.errors import FeedError
from nix_audit.models import AdvisoryDetails, AdvisoryRecord, ConfigNode, Configuration, CpeMatch
from tests.helpers.nvd_feeds import cpe_match, record, write_feed

DATA = Path(__file__).parent / "data"


def feed(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"nvdcve-2.0-{name}.json.gz"
    write_feed(path, records)
    return path


def rec(cve_id: str, *products: str, modified: str = "2020-01-01T00:00:00.000", **kw: Any) -> Any:
    matches = [cpe_match(f"cpe:2.3:a:vendor:{p}:*:*:*:*:*:*:*:*") for p in products]
    return record(cve_id, matches, last_modified=modified, **kw)


def postings(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    rows = conn.execute("SELECT product, cve FROM product").fetchall()
    return {(product, cve_id_of(key)) for product, key in rows}


def stored_ids(conn: sqlite3.Connection) -> set[str]:
    return {cve_id_of(key) for (key,) in conn.execute("SELECT id FROM cve")}


@pytest.mark.parametrize("cve_id", ["CVE-1999-0001", "CVE-2014-0160", "CVE-2021-1000001"])
def test_cve_key_round_trip(cve_id: str) -> None:
    key = cve_key(cve_id)
    assert key is not None
    assert cve_id_of(key) == cve_id


@pytest.mark.parametrize("text", ["CVE-2014-160", "CVE-2014-00160", "cve-2014-0160", "GHSA-1"])
def test_cve_key_rejects_non_canonical_ids(text: str) -> None:
    assert cve_key(text) is None


def test_blobs_round_trip_small_and_compressed() -> None:
    many = tuple(CpeMatch(f"cpe:2.3:a:linux:linux_kernel:5.{i}:*:*:*:*:*:*:*") for i in range(200))
    big = AdvisoryRecord(
        "CVE-2020-0001", (Configuration("OR", False, (ConfigNode("OR", False, many),)),)
    )
    small = AdvisoryRecord("CVE-2020-0002", ())
    assert len(encode_record(big)) < 1000  # compressed: the raw msgpack is ~8 KB
    for value in (big, small):
        assert decode_record(encode_record(value)) == value
    details = AdvisoryDetails("CVE-2020-0001", "text " * 50, cvss_v3=9.8, severity="CRITICAL")
    assert decode_details(encode_details(details)) == details


def test_feed_rows_of_the_mixed_fixture(tmp_path: Path) -> None:
    path = tmp_path / "mixed.json.gz"
    path.write_bytes(gzip.compress((DATA / "mixed.json").read_bytes()))
    rows = feed_rows("mixed", path)
    assert rows.records == 6
    assert [cve_id_of(k) for k, _ in rows.rejected] == ["CVE-2022-0004"]
    live = [row for chunk in rows.rows() for row in chunk]
    assert [cve_id_of(r.key) for r in live] == [
        "CVE-2014-0160", "CVE-2016-1000", "CVE-2020-0002", "CVE-2021-0003", "CVE-2023-0005",
    ]  # fmt: skip
    assert [posting[:2] for posting in live[1].products] == [("app", "example")]
    assert decode_record(live[0].config).cve_id == "CVE-2014-0160"
    assert decode_details(live[0].details).cvss_v3 == 7.5


def test_feed_rows_refuses_a_record_that_is_not_a_cve(tmp_path: Path) -> None:
    path = feed(tmp_path, "2020", [rec("CVE-2020-0001", "a"), rec("GHSA-xxxx", "b")])
    with pytest.raises(FeedError, match="GHSA-xxxx"):
        feed_rows("2020", path)


def test_decoded_feeds_keep_order_on_two_cores(tmp_path: Path) -> None:
    feeds = [
        (
            str(year),
            feed(tmp_path, str(year), [rec(f"CVE-{year}-{i:04d}", "p") for i in range(1, 30)]),
        )
        for year in range(2010, 2016)
    ]
    decoded = list(decoded_feeds(feeds))
    assert [f.name for f in decoded] == [name for name, _ in feeds]
    assert [f.chunks for f in decoded] == [feed_rows(n, p).chunks for n, p in feeds]


def test_decoded_feeds_raise_a_workers_feed_error(tmp_path: Path) -> None:
    bad = tmp_path / "nvdcve-2.0-2012.json.gz"
    bad.write_bytes(b"<html>not a feed</html>")
    feeds = [
        ("2011", feed(tmp_path, "2011", [rec("CVE-2011-0001", "p")])),
        ("2012", bad),
        ("2013", feed(tmp_path, "2013", [rec("CVE-2013-0001", "p")])),
    ]
    with pytest.raises(FeedError, match="2012"):
        list(decoded_feeds(feeds))


def load(tmp_path: Path, *feeds: FeedRows) -> tuple[sqlite3.Connection, ApplyCounts]:
    conn = open_for_build(tmp_path / "index.sqlite")
    writer = IndexWriter(conn, fresh=True)
    counts = ApplyCounts()
    for f in feeds:
        counts += writer.add(f)
    conn.execute("COMMIT")
    return conn, counts


def test_fresh_load_then_newer_record_replaces_postings(tmp_path: Path) -> None:
    year = feed_rows(
        "2020", feed(tmp_path, "2020", [rec("CVE-2020-0001", "a", "b"), rec("CVE-2020-0002", "c")])
    )
    newer = feed_rows(
        "modified",
        feed(
            tmp_path,
            "modified",
            [rec("CVE-2020-0001", "b", "d", modified="2021-01-01T00:00:00.000")],
        ),
    )
    conn, counts = load(tmp_path, year, newer)
    assert counts == ApplyCounts(added=2, changed=1)
    assert postings(conn) == {
        ("b", "CVE-2020-0001"),
        ("d", "CVE-2020-0001"),
        ("c", "CVE-2020-0002"),
    }


def test_older_record_is_ignored_and_rejection_deletes(tmp_path: Path) -> None:
    year = feed_rows(
        "2020", feed(tmp_path, "2020", [rec("CVE-2020-0001", "a"), rec("CVE-2020-0002", "c")])
    )
    later = feed_rows(
        "modified",
        feed(
            tmp_path,
            "modified",
            [
                rec("CVE-2020-0001", "zzz", modified="2019-01-01T00:00:00.000"),
                rec("CVE-2020-0002", "c", modified="2021-01-01T00:00:00.000", status="Rejected"),
                rec("CVE-2020-0003", "e", modified="2021-01-01T00:00:00.000", status="Rejected"),
            ],
        ),
    )
    conn, counts = load(tmp_path, year, later)
    assert counts == ApplyCounts(added=2, removed=1)
    assert stored_ids(conn) == {"CVE-2020-0001"}
    assert postings(conn) == {("a", "CVE-2020-0001")}


def test_apply_on_a_live_index_counts_each_kind(tmp_path: Path) -> None:
    conn, _ = load(
        tmp_path,
        feed_rows(
            "2020",
            feed(tmp_path, "2020", [rec("CVE-2020-0001", "a", "b"), rec("CVE-2020-0002", "c")]),
        ),
    )
    changes = feed_rows(
        "modified",
        feed(
            tmp_path,
            "modified",
            [
                rec("CVE-2020-0001", "a", modified="2021-01-01T00:00:00.000"),  # b dropped
                rec("CVE-2020-0002", "c", modified="2021-01-01T00:00:00.000", status="Rejected"),
                rec("CVE-2021-0001", "f", modified="2021-01-01T00:00:00.000"),
                rec("CVE-2021-0001", "g", modified="2020-06-01T00:00:00.000"),  # older duplicate
            ],
        ),
    )
    conn.execute("BEGIN")
    counts = IndexWriter(conn).apply(changes)
    conn.execute("COMMIT")
    assert counts == ApplyCounts(added=1, changed=1, removed=1)
    assert postings(conn) == {("a", "CVE-2020-0001"), ("f", "CVE-2021-0001")}
