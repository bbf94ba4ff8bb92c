"""Which source decides a CVE (issue #12), read through a real index file with both sources."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from nix_audit.advisories.cvelist import ADP_SOURCE, CNA_SOURCE, decode_cve_record
from nix_audit.advisories.decode import FeedHeader, FeedRecord, vulnerable_products
from nix_audit.advisories.index import AdvisoryIndex
from nix_audit.advisories.ingest import CveRow, FeedRows, IndexWriter, row_of
from nix_audit.advisories.schema import CVE_LIST_TABLES, NVD_TABLES, create_schema
from nix_audit.matching.vendor_matcher import VendorAwareMatcher
from nix_audit.models import (
    AdvisoryDetails,
    AdvisoryRecord,
    Confidence,
    ConfigNode,
    Configuration,
    CpeMatch,
    Package,
)

_ENCODER = msgspec.msgpack.Encoder()


def _cve5(cve: str, affected: list[dict[str, Any]], *, state: str = "PUBLISHED",
          adp: list[dict[str, Any]] | None = None, updated: str = "2024-10-01T00:00:00Z",
          metrics: list[dict[str, Any]] | None = None) -> bytes:  # fmt: skip
    record: dict[str, Any] = {
        "dataType": "CVE_RECORD",
        "cveMetadata": {"cveId": cve, "state": state, "dateUpdated": updated},
        "containers": {
            "cna": {
                "affected": affected,
                "descriptions": [{"lang": "en", "value": f"{cve} in the CNA's words"}],
                "metrics": metrics or [],
            },
            "adp": [
                {
                    "title": "CISA ADP Vulnrichment",
                    "affected": adp or [],
                    "providerMetadata": {"shortName": "CISA-ADP"},
                }
            ],
        },
    }
    return json.dumps(record).encode()


def _nvd(cve: str, criteria: str | None, *, score: float | None = None) -> FeedRecord:
    configurations: tuple[Configuration, ...] = ()
    if criteria is not None:
        match = CpeMatch(criteria, True, version_end_excluding="2.0")
        configurations = (Configuration("OR", False, (ConfigNode("OR", False, (match,)),)),)
    return FeedRecord(
        AdvisoryRecord(cve, configurations),
        AdvisoryDetails(cve, description="", last_modified="2024-01-01T00:00:00", cvss_v3=score),
        vulnerable_products(configurations),
    )


def _rows(name: str, records: list[FeedRecord]) -> FeedRows:
    rows = [row_of(name, r) for r in records]
    live = [r for r in rows if isinstance(r, CveRow)]
    rejected = [r for r in rows if not isinstance(r, CveRow)]
    return FeedRows(name, FeedHeader("x", "x", None, None), [_ENCODER.encode(live)], rejected, 0)


def _index(tmp_path: Path, nvd: list[FeedRecord], cve_list: list[bytes]) -> Path:
    path = tmp_path / "index.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    create_schema(conn)
    conn.execute("INSERT INTO meta VALUES ('last_update', '2024-10-02T00:00:00+00:00')")
    IndexWriter(conn, tables=NVD_TABLES).apply(_rows("nvd", nvd))
    decoded = [decode_cve_record("test", data) for data in cve_list]
    IndexWriter(conn, tables=CVE_LIST_TABLES).apply(
        _rows("cve-list", [r for r in decoded if r is not None])
    )
    conn.close()
    return path


FOO = [{"vendor": "Foo Project", "product": "foo", "defaultStatus": "unaffected",
        "versions": [{"version": "0", "lessThan": "1.5", "status": "affected"}]}]  # fmt: skip


def _findings(path: Path, pname: str, version: str) -> dict[str, tuple[str, Confidence]]:
    package = Package(f"{pname}-{version}", pname, version)
    with AdvisoryIndex(path) as index:
        found = VendorAwareMatcher().match([package], index)
    return {f.cve_id: (f.source, f.confidence) for f in found}


def test_nvd_configurations_decide_where_the_nvd_analysed(tmp_path: Path) -> None:
    path = _index(
        tmp_path,
        [_nvd("CVE-2024-0001", "cpe:2.3:a:foo_project:foo:*:*:*:*:*:*:*:*")],
        [_cve5("CVE-2024-0001", FOO)],
    )
    # The NVD says < 2.0, the CNA < 1.5: 1.7 is the NVD's finding, and only the NVD's.
    assert _findings(path, "foo", "1.7") == {"CVE-2024-0001": ("nvd", Confidence.HIGH)}


def test_the_cve_record_decides_where_the_nvd_has_no_configurations(tmp_path: Path) -> None:
    path = _index(
        tmp_path,
        [_nvd("CVE-2024-0002", None, score=9.8)],
        [_cve5("CVE-2024-0002", FOO), _cve5("CVE-2024-0003", FOO)],
    )
    assert _findings(path, "foo", "1.4") == {
        "CVE-2024-0002": (CNA_SOURCE, Confidence.HIGH),
        "CVE-2024-0003": (CNA_SOURCE, Confidence.HIGH),
    }
    assert _findings(path, "foo", "1.5") == {}
    with AdvisoryIndex(path) as index:
        details = index.details(["CVE-2024-0002", "CVE-2024-0003"])
    assert details["CVE-2024-0002"].score == 9.8  # the NVD's score
    assert details["CVE-2024-0002"].description == "CVE-2024-0002 in the CNA's words"
    assert details["CVE-2024-0003"].score is None  # unscored, still a finding


def test_adp_cpes_decide_over_the_cna(tmp_path: Path) -> None:
    adp = [{"vendor": "foo_project", "product": "foo", "defaultStatus": "unknown",
            "cpes": ["cpe:2.3:a:foo_project:foo:*:*:*:*:*:*:*:*"],
            "versions": [{"version": "0", "lessThan": "1.2", "status": "affected"}]}]  # fmt: skip
    metrics = [{"cvssV3_1": {"baseScore": 5.5, "baseSeverity": "MEDIUM"}}]
    path = _index(tmp_path, [], [_cve5("CVE-2024-0004", FOO, adp=adp, metrics=metrics)])
    assert _findings(path, "foo", "1.1") == {"CVE-2024-0004": (ADP_SOURCE, Confidence.HIGH)}
    assert _findings(path, "foo", "1.3") == {}  # the CNA's < 1.5 does not count
    with AdvisoryIndex(path) as index:
        assert index.details(["CVE-2024-0004"])["CVE-2024-0004"].score == 5.5


def test_a_rejected_record_removes_the_cve_from_both_sources(tmp_path: Path) -> None:
    path = _index(
        tmp_path,
        [_nvd("CVE-2024-0005", "cpe:2.3:a:foo_project:foo:*:*:*:*:*:*:*:*")],
        [_cve5("CVE-2024-0005", [], state="REJECTED")],
    )
    assert _findings(path, "foo", "1.0") == {}


def test_unknown_status_is_a_low_confidence_finding(tmp_path: Path) -> None:
    versions = [{"version": "1.0", "lessThan": "1.9", "status": "unknown"}]
    unknown = [{"vendor": "Foo Project", "product": "foo", "versions": versions}]
    path = _index(tmp_path, [], [_cve5("CVE-2024-0006", unknown)])
    assert _findings(path, "foo", "1.4") == {"CVE-2024-0006": (CNA_SOURCE, Confidence.LOW)}


def test_kernel_records_reach_the_kernel_through_the_table(tmp_path: Path) -> None:
    kernel = [{"vendor": "Linux", "product": "Linux", "defaultStatus": "affected",
               "versions": [{"version": "6.1.111", "lessThanOrEqual": "6.1.*",
                             "status": "unaffected"}]}]  # fmt: skip
    path = _index(tmp_path, [], [_cve5("CVE-2024-0007", kernel)])
    assert _findings(path, "linux", "6.1.110") == {"CVE-2024-0007": (CNA_SOURCE, Confidence.HIGH)}
    assert _findings(path, "linux", "6.1.112") == {}


def test_the_cna_decides_where_the_adp_copy_lost_its_carve_outs(tmp_path: Path) -> None:
    # CVE-2024-26592's shape: kernel.org fixed 6.1 at 6.1.75; CISA's copy keeps only "5.15".
    cna = [{"vendor": "Linux", "product": "Linux", "defaultStatus": "affected", "versions": [
        {"version": "5.15", "status": "affected"},
        {"version": "0", "lessThan": "5.15", "status": "unaffected"},
        {"version": "6.1.75", "lessThanOrEqual": "6.1.*", "status": "unaffected"}]}]  # fmt: skip
    adp = [{"vendor": "linux", "product": "linux_kernel", "defaultStatus": "affected",
            "cpes": ["cpe:2.3:o:linux:linux_kernel:*:*:*:*:*:*:*:*"],
            "versions": [{"version": "5.15", "status": "affected"}]}]  # fmt: skip
    path = _index(tmp_path, [], [_cve5("CVE-2024-0008", cna, adp=adp)])
    assert _findings(path, "linux", "6.1.74") == {"CVE-2024-0008": (CNA_SOURCE, Confidence.HIGH)}
    assert _findings(path, "linux", "6.1.80") == {}
    assert _findings(path, "linux", "5.10.100") == {}
