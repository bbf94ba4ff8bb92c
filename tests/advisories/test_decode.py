"""The streaming NVD JSON 2.0 decoder: record contents, splitting, and every kind of bad feed."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nix_audit.advisories.decode import (
    FeedReader,
    FeedRecord,
    cpe_fields,
    iter_feed_records,
)
from nix_audit.errors import FeedError
from nix_audit.models import ConfigNode, Configuration, CpeMatch

DATA = Path(__file__).parent / "data"


def gzip_file(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0))
    return path


def feed_document(records: list[dict[str, Any]], **header: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "resultsPerPage": len(records),
        "startIndex": 0,
        "totalResults": len(records),
        "format": "NVD_CVE",
        "version": "2.0",
        "timestamp": "2026-03-15T08:00:01.000",
    }
    document.update(header)
    document["vulnerabilities"] = records
    return document


def write_feed(path: Path, records: list[dict[str, Any]], **header: Any) -> Path:
    return gzip_file(path, json.dumps(feed_document(records, **header)).encode())


def simple(cve_id: str, description: str = "x", product: str = "p") -> dict[str, Any]:
    criteria = f"cpe:2.3:a:vendor:{product}:1.0:*:*:*:*:*:*:*"
    return {
        "cve": {
            "id": cve_id,
            "lastModified": "2020-01-01T00:00:00.000",
            "vulnStatus": "Analyzed",
            "descriptions": [{"lang": "en", "value": description}],
            "configurations": [
                {
                    "nodes": [
                        {
                            "operator": "OR",
                            "negate": False,
                            "cpeMatch": [{"vulnerable": True, "criteria": criteria}],
                        }
                    ]
                }
            ],
            # "cve" as a string value, after the element's "cve" key: never a place to cut.
            "references": [{"url": "https://example.org/", "tags": ["cve"]}],
        }
    }


@pytest.fixture
def mixed(tmp_path: Path) -> dict[str, FeedRecord]:
    path = gzip_file(tmp_path / "mixed.json.gz", (DATA / "mixed.json").read_bytes())
    return {r.cve_id: r for r in iter_feed_records(path)}


def test_header_and_record_count(tmp_path: Path) -> None:
    path = gzip_file(tmp_path / "f.json.gz", (DATA / "mixed.json").read_bytes())
    with FeedReader(path) as reader:
        assert reader.header.timestamp == "2026-03-15T08:00:01.7682745"
        assert reader.header.total_results == 6
        ids = [r.cve_id for r in reader]
        assert reader.records_read == 6
    assert ids == [
        "CVE-2014-0160",
        "CVE-2016-1000",
        "CVE-2020-0002",
        "CVE-2021-0003",
        "CVE-2022-0004",
        "CVE-2023-0005",
    ]


def test_range_record_with_escaped_description(mixed: dict[str, FeedRecord]) -> None:
    heartbleed = mixed["CVE-2014-0160"]
    assert heartbleed.record.configurations == (
        Configuration(
            "OR",
            False,
            (
                ConfigNode(
                    "OR",
                    False,
                    (
                        CpeMatch(
                            "cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*",
                            True,
                            version_start_including="1.0.1",
                            version_end_excluding="1.0.1g",
                        ),
                    ),
                ),
            ),
        ),
    )
    details = heartbleed.details
    assert details.description.startswith('The "heartbeat" extension')
    assert "é \\ C:\\path" in details.description
    assert details.description.endswith('the text "cve" : {"id" : "CVE-1"}, }, {')
    assert (details.cvss_v3, details.cvss_v2, details.cvss_v4) == (7.5, 5.0, None)
    assert details.cvss_v3_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
    assert details.severity == "HIGH"
    assert (details.published, details.last_modified) == (
        "2014-04-07T22:55:03.893",
        "2025-04-12T10:46:40.837",
    )
    assert details.status == "Modified"
    assert set(heartbleed.products) == {("openssl", "openssl")}
    assert not heartbleed.rejected


def test_and_configuration_keeps_platform_but_indexes_only_vulnerable(
    mixed: dict[str, FeedRecord],
) -> None:
    record = mixed["CVE-2016-1000"]
    (configuration,) = record.record.configurations
    assert configuration.operator == "AND"
    assert [m.vulnerable for n in configuration.nodes for m in n.matches] == [True, False]
    assert set(record.products) == {("example", "app")}
    # NVD's own ("Primary") v3.0 entry wins over the CNA's listed first.
    assert record.details.cvss_v3 == 9.8
    assert record.details.severity == "CRITICAL"


def test_missing_operator_negate_and_quoted_cpe_fields(mixed: dict[str, FeedRecord]) -> None:
    record = mixed["CVE-2020-0002"]
    (configuration,) = record.record.configurations
    assert (configuration.operator, configuration.negate) == ("OR", True)
    (node,) = configuration.nodes
    assert (node.operator, node.negate) == ("AND", True)
    assert node.matches[0].criteria == "cpe:2.3:a:microsoft:visual_c\\+\\+:2019:*:*:*:*:*:*:*"
    assert node.matches[0].version_start_excluding == "1"
    assert node.matches[0].version_end_including == "2"
    assert set(record.products) == {("microsoft", "visual_c++"), ("foo", "bar:baz")}
    assert (record.details.cvss_v4, record.details.cvss_v3) == (8.7, None)
    assert record.details.severity == "HIGH"


def test_v2_only_rejected_and_non_english(mixed: dict[str, FeedRecord]) -> None:
    v2 = mixed["CVE-2021-0003"].details
    assert (v2.cvss_v2, v2.cvss_v3, v2.severity) == (10.0, None, "HIGH")
    assert mixed["CVE-2021-0003"].products == {}
    rejected = mixed["CVE-2022-0004"]
    assert rejected.rejected
    assert rejected.record.configurations == ()
    other = mixed["CVE-2023-0005"].details
    assert other.description == ""
    # A CNA's v3.1 score is used when NVD gave none; severity is of the newest version (v4).
    assert (other.cvss_v4, other.cvss_v3, other.cvss_v2, other.severity) == (2.0, 3.3, 2.1, "LOW")


def test_cpe_fields_split_only_at_unquoted_colons() -> None:
    assert cpe_fields("cpe:2.3:a:v:p:1:*:*:*:*:*:*:*") == [
        "cpe", "2.3", "a", "v", "p", "1", "*", "*", "*", "*", "*", "*", "*",
    ]  # fmt: skip
    assert cpe_fields("cpe:2.3:a:v:a\\:b:1", 5) == ["cpe", "2.3", "a", "v", "a\\:b", "1"]
    # An escaped backslash before a separator: the colon still separates.
    assert cpe_fields("cpe:2.3:a:v:x\\\\:1") == ["cpe", "2.3", "a", "v", "x\\\\", "1"]


def test_many_records_split_across_pieces_in_compact_json(tmp_path: Path) -> None:
    # ~6 MB of JSON: several inflate pieces, so batches end at many different offsets.
    records = [
        simple(f"CVE-2019-{i:04d}", description=f'"cve": {{ {i} }} ' + "z" * (i % 1500))
        for i in range(1, 6001)
    ]
    document = feed_document(records)
    path = gzip_file(tmp_path / "big.json.gz", json.dumps(document, separators=(",", ":")).encode())
    decoded = list(iter_feed_records(path))
    assert [r.cve_id for r in decoded] == [r["cve"]["id"] for r in records]
    assert [r.details.description for r in decoded] == [
        r["cve"]["descriptions"][0]["value"] for r in records
    ]


def test_empty_feed(tmp_path: Path) -> None:
    path = write_feed(tmp_path / "empty.json.gz", [])
    with FeedReader(path) as reader:
        assert list(reader) == []
        assert reader.header.total_results == 0


def test_concatenated_gzip_members_are_one_stream(tmp_path: Path) -> None:
    data = json.dumps(feed_document([simple("CVE-2019-0001"), simple("CVE-2019-0002")])).encode()
    path = tmp_path / "two-members.json.gz"
    path.write_bytes(gzip.compress(data[:1000]) + gzip.compress(data[1000:]))
    assert [r.cve_id for r in iter_feed_records(path)] == ["CVE-2019-0001", "CVE-2019-0002"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=40), max_size=30),
    indent=st.sampled_from([None, 0, 2]),
)
def test_descriptions_round_trip(tmp_path: Path, texts: list[str], indent: int | None) -> None:
    records = [simple(f"CVE-2019-{i + 1:04d}", description=t) for i, t in enumerate(texts)]
    path = gzip_file(
        tmp_path / "p.json.gz", json.dumps(feed_document(records), indent=indent).encode()
    )
    assert [r.details.description for r in iter_feed_records(path)] == texts


# --- bad feeds: one FeedError line naming the file --------------------------------------


def assert_feed_error(path: Path, *words: str) -> None:
    with pytest.raises(FeedError) as raised:
        list(iter_feed_records(path))
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for word in words:
        assert word in message


def test_truncated_gzip(tmp_path: Path) -> None:
    whole = gzip.compress(json.dumps(feed_document([simple("CVE-2019-0001")] * 50)).encode())
    path = tmp_path / "cut.json.gz"
    path.write_bytes(whole[: len(whole) // 2])
    assert_feed_error(path, "truncated")


def test_html_error_page_instead_of_gzip(tmp_path: Path, shared_data: Path) -> None:
    (page,) = (shared_data / "nvd" / "modified-history").glob("*.html-error-page.bin")
    path = tmp_path / "nvdcve-2.0-modified.json.gz"
    shutil.copyfile(page, path)
    assert_feed_error(path, "not gzip data", "<!DOCTYPE html>")


def test_gzipped_html_is_not_a_feed(tmp_path: Path) -> None:
    path = gzip_file(tmp_path / "page.json.gz", b"<html><body>Attention Required!</body></html>")
    assert_feed_error(path, "not an NVD JSON 2.0 feed")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.json.gz"
    path.write_bytes(b"")
    assert_feed_error(path, "empty")


def test_missing_file(tmp_path: Path) -> None:
    assert_feed_error(tmp_path / "absent.json.gz", "cannot read")


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ({"format": "NVD_CPE"}, ["NVD_CPE"]),
        ({"version": "1.1"}, ["'1.1'"]),
    ],
)
def test_wrong_format_or_version(tmp_path: Path, header: dict[str, str], words: list[str]) -> None:
    path = write_feed(tmp_path / "f.json.gz", [simple("CVE-2019-0001")], **header)
    assert_feed_error(path, "not an NVD JSON 2.0 feed", *words)


def test_invalid_json_in_a_record(tmp_path: Path) -> None:
    text = json.dumps(feed_document([simple("CVE-2019-0001"), simple("CVE-2019-0002")]))
    broken = text.replace('"vulnStatus": "Analyzed"', '"vulnStatus": Analyzed', 1)
    path = gzip_file(tmp_path / "bad.json.gz", broken.encode())
    assert_feed_error(path, "invalid JSON")


def test_invalid_json_at_the_end(tmp_path: Path) -> None:
    text = json.dumps(feed_document([simple("CVE-2019-0001")]))
    path = gzip_file(tmp_path / "bad-end.json.gz", text[:-1].encode() + b"]")
    assert_feed_error(path, "invalid JSON")


def test_record_without_id(tmp_path: Path) -> None:
    nameless = simple("CVE-2019-0002")
    del nameless["cve"]["id"]
    path = write_feed(tmp_path / "noid.json.gz", [simple("CVE-2019-0001"), nameless])
    assert_feed_error(path, "`id`")


def test_real_yearly_feed_matches_its_header(shared_data: Path) -> None:
    path = shared_data / "nvd" / "nvdcve-2.0-2014.json.gz"
    with FeedReader(path) as reader:
        records = {r.cve_id: r for r in reader}
        assert len(records) == reader.header.total_results == 8849
    heartbleed = records["CVE-2014-0160"]
    assert ("openssl", "openssl") in heartbleed.products
    assert heartbleed.details.cvss_v3 == 7.5
    assert sum(r.rejected for r in records.values()) == 557  # nvd/README.md, 2014 vulnStatus


def test_severity_is_that_of_the_score_reports_show(tmp_path: Path) -> None:
    record = simple("CVE-2026-0002")

    def metric(version: str, score: float, severity: str) -> dict[str, Any]:
        data = {"version": version, "baseScore": score, "baseSeverity": severity}
        return {"source": "nvd@nist.gov", "type": "Primary", "cvssData": data}

    record["cve"]["metrics"] = {
        "cvssMetricV40": [metric("4.0", 5.1, "MEDIUM")],
        "cvssMetricV31": [metric("3.1", 9.8, "CRITICAL")],
    }
    [decoded] = iter_feed_records(write_feed(tmp_path / "f.json.gz", [record]))
    details = decoded.details
    assert (details.score, details.severity) == (9.8, "CRITICAL")
    assert details.cvss_v4 == 5.1
