"""The JSON report: golden files, vulnix's keys, inclusion rules, escaping."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from nix_audit.models import AdvisoryDetails, ScanResult
from nix_audit.reporters.interface import ReportOptions
from nix_audit.reporters.json import SCHEMA_VERSION, JsonReporter
from tests.reporters.conftest import Golden
from tests.reporters.sample import HELLO, package, sample_result, triaged, vex_result

VULNIX_KEYS = {
    "name": str,
    "pname": str,
    "version": str,
    "derivation": str,
    "affected_by": list,
    "whitelisted": list,
    "cvssv3_basescore": dict,
    "description": dict,
}
FINDING_KEYS = {
    "cve",
    "status",
    "score",
    "severity",
    "cvss_v2",
    "cvss_v3",
    "cvss_v4",
    "criteria",
    "version_range",
    "mapping",
    "confidence",
    "source",
    "reason",
    "issue_url",
    "justification",
}


def render(result: ScanResult, options: ReportOptions | None = None) -> Any:
    text = JsonReporter(tool_version="0.0.0-test").render(result, options or ReportOptions())
    return json.loads(text)


def test_golden_plain(golden: Golden) -> None:
    reporter = JsonReporter(tool_version="0.0.0-test")
    golden("report.json", reporter.render(sample_result(), ReportOptions()))


def test_golden_show_whitelisted(golden: Golden) -> None:
    reporter = JsonReporter(tool_version="0.0.0-test")
    options = ReportOptions(show_whitelisted=True)
    golden("report_whitelisted.json", reporter.render(sample_result(), options))


def test_every_derivation_has_vulnix_keys_and_ours() -> None:
    document = render(sample_result(), ReportOptions(show_whitelisted=True))
    assert document["schema_version"] == SCHEMA_VERSION == 1
    assert document["tool"] == {"name": "nix-audit", "version": "0.0.0-test"}
    for derivation in document["derivations"]:
        for key, kind in VULNIX_KEYS.items():
            assert isinstance(derivation[key], kind), key
        assert {"store_path", "closure", "patched", "not_affected", "findings"} <= set(derivation)
        for finding in derivation["findings"]:
            assert set(finding) == FINDING_KEYS
        cves = [f["cve"] for f in derivation["findings"]]
        assert sorted(derivation["cvssv3_basescore"]) == sorted(cves)
        statuses = ("affected_by", "whitelisted", "patched", "not_affected")
        assert sorted(cve for key in statuses for cve in derivation[key]) == sorted(cves)


def test_openssl_entry_splits_cves_by_status() -> None:
    document = render(sample_result())
    [openssl] = [d for d in document["derivations"] if d["pname"] == "openssl"]
    assert openssl["affected_by"] == ["CVE-2014-0160"]
    assert openssl["whitelisted"] == ["CVE-2014-0224"]
    assert openssl["patched"] == ["CVE-2016-2105"]
    assert openssl["cvssv3_basescore"] == {
        "CVE-2014-0160": 7.5,
        "CVE-2014-0224": 7.4,
        "CVE-2016-2105": None,
    }
    assert openssl["derivation"].endswith("-openssl-1.0.1f.drv")
    [patched] = [f for f in openssl["findings"] if f["status"] == "patched"]
    assert patched["score"] == 5.0 and patched["cvss_v2"] == 5.0 and patched["cvss_v3"] is None


def test_inclusion_follows_show_whitelisted_and_verbosity() -> None:
    def names(options: ReportOptions) -> list[str]:
        return [d["pname"] for d in render(sample_result(), options)["derivations"]]

    assert names(ReportOptions()) == ["curl", "gcc", "openssl", "zlib"]
    assert names(ReportOptions(show_whitelisted=True)) == [
        "bzip2", "curl", "gcc", "libxslt", "openssl", "zlib",
    ]  # fmt: skip
    assert names(ReportOptions(verbosity=1)) == ["bzip2", "curl", "gcc", "openssl", "zlib"]


def test_summary_counts() -> None:
    summary = render(sample_result())["summary"]
    assert summary == {
        "packages": 7,
        "vulnerable": 4,
        "findings": 9,
        "affected": 5,
        "whitelisted": 2,
        "patched": 2,
        "not_affected": 0,
        "identified_from_store_path_name": 0,
    }


def test_database_and_times() -> None:
    document = render(sample_result())
    assert document["scanned_at"] == "2026-06-01T12:00:00Z"
    database = document["database"]
    assert database["age_hours"] == 30.0
    assert database["last_update"] == "2026-05-31T06:00:00Z"
    assert [f["name"] for f in database["feeds"]] == ["2014", "modified"]


def test_no_index_no_time_no_findings() -> None:
    document = render(ScanResult(packages=(HELLO,), findings=(), index=None))
    assert document["database"] is None and document["scanned_at"] is None
    assert document["derivations"] == [] and document["summary"]["packages"] == 1


def test_control_characters_are_escaped_not_emitted() -> None:
    evil = package("evil-1.0", "9zzz")
    details = AdvisoryDetails("CVE-2024-0001", description="\x1b[31mred\x1b]0;title\x07\x9b")
    result = ScanResult(packages=(evil,), findings=(triaged(evil, details),), index=None)
    text = JsonReporter().render(result, ReportOptions())
    assert all(0x20 <= ord(c) < 0x7F for c in text.replace("\n", "")), "raw control or non-ASCII"
    decoded = json.loads(text)["derivations"][0]["description"]["CVE-2024-0001"]
    assert decoded == details.description  # the data itself is kept as the feed gave it


def test_output_is_deterministic() -> None:
    result = sample_result()
    again = dataclasses.replace(result, findings=tuple(reversed(result.findings)))
    options = ReportOptions(show_whitelisted=True)
    assert JsonReporter().render(again, options) == JsonReporter().render(result, options)


def test_golden_vex_and_hygiene(golden: Golden) -> None:
    reporter = JsonReporter(tool_version="0.0.0-test")
    golden("report_vex.json", reporter.render(vex_result(), ReportOptions(show_whitelisted=True)))


def test_not_affected_findings_carry_the_justification() -> None:
    document = render(vex_result(), ReportOptions(show_whitelisted=True))
    [zlib] = [d for d in document["derivations"] if d["pname"] == "zlib"]
    assert zlib["not_affected"] == ["CVE-2018-25032", "CVE-2022-37434"]
    assert zlib["affected_by"] == [] and zlib["whitelisted"] == []
    justifications = {f["cve"]: f["justification"] for f in zlib["findings"]}
    assert justifications == {"CVE-2018-25032": "code_not_reachable", "CVE-2022-37434": None}
    assert document["summary"]["not_affected"] == 3


def test_not_affected_only_derivations_are_listed_with_show_whitelisted() -> None:
    def names(options: ReportOptions) -> list[str]:
        return [d["pname"] for d in render(vex_result(), options)["derivations"]]

    assert names(ReportOptions()) == ["openssl"]
    assert names(ReportOptions(show_whitelisted=True)) == ["curl", "libxslt", "openssl", "zlib"]


def test_triage_hygiene_lists_rules() -> None:
    hygiene = render(vex_result())["triage_hygiene"]
    assert hygiene == {
        "unused": [
            {
                "rule": "bzip2",
                "origin": "/etc/nix-audit/wl.toml:9",
                "cves": ["CVE-2016-3189"],
                "until": None,
                "comment": "",
            }
        ],
        "expired": [
            {
                "rule": "zlib",
                "origin": "/etc/nix-audit/wl.toml:6",
                "cves": None,
                "until": "2026-01-01",
                "comment": "wait",
            }
        ],
        "broad": [
            {
                "rule": "libxslt",
                "origin": "/etc/nix-audit/wl.toml:1",
                "cves": None,
                "until": None,
                "comment": "false positive: another libxslt",
            }
        ],
        "vulnix_quirks": [],
    }
    assert render(sample_result())["triage_hygiene"] is None  # no whitelist was checked
