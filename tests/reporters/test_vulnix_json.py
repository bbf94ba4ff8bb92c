"""``--format vulnix-json``: vulnix's ``--json`` document, key for key (``output.py``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from nix_audit.models import AdvisoryDetails, Package, ScanResult, TriagedFinding, TriageStatus
from nix_audit.reporters.interface import ReportOptions
from nix_audit.reporters.registry import reporter_for
from nix_audit.reporters.vulnix_json import VulnixJsonReporter
from tests.reporters.conftest import Golden
from tests.reporters.sample import OPENSSL, package, sample_result, triaged, vex_result

# vulnix's keys, in the order its output_json writes them.
VULNIX_KEYS = [
    "name",
    "pname",
    "version",
    "derivation",
    "affected_by",
    "whitelisted",
    "cvssv3_basescore",
    "description",
]


def render(result: ScanResult, options: ReportOptions | None = None) -> Any:
    return json.loads(VulnixJsonReporter().render(result, options or ReportOptions()))


def only(findings: tuple[TriagedFinding, ...], *packages: Package) -> ScanResult:
    return ScanResult(packages=packages, findings=findings, index=None)


def test_golden_plain(golden: Golden) -> None:
    golden("report.vulnix.json", VulnixJsonReporter().render(sample_result(), ReportOptions()))


def test_golden_show_whitelisted(golden: Golden) -> None:
    options = ReportOptions(show_whitelisted=True)
    golden("report_whitelisted.vulnix.json", VulnixJsonReporter().render(sample_result(), options))


def test_golden_vex(golden: Golden) -> None:
    options = ReportOptions(show_whitelisted=True)
    golden("report_vex.vulnix.json", VulnixJsonReporter().render(vex_result(), options))


def test_registered_as_vulnix_json() -> None:
    assert isinstance(reporter_for("vulnix-json"), VulnixJsonReporter)


def test_a_top_level_list_with_exactly_vulnix_keys() -> None:
    text = VulnixJsonReporter().render(sample_result(), ReportOptions(show_whitelisted=True))
    assert text.startswith('[\n {\n  "name": ')  # json.dumps(out, indent=1), then print's \n
    assert text.endswith("}\n]\n")
    document = json.loads(text)
    assert isinstance(document, list) and document
    for entry in document:
        assert list(entry) == VULNIX_KEYS


def test_openssl_entry() -> None:
    [openssl] = [d for d in render(sample_result()) if d["pname"] == "openssl"]
    assert openssl == {
        "name": "openssl-1.0.1f",
        "pname": "openssl",
        "version": "1.0.1f",
        "derivation": OPENSSL.derivation,
        "affected_by": ["CVE-2014-0160"],
        "whitelisted": ["CVE-2014-0224"],
        # The patched CVE-2016-2105 is in neither list, as vulnix drops patched CVEs.
        "cvssv3_basescore": {"CVE-2014-0160": 7.5, "CVE-2014-0224": 7.4},
        "description": {
            "CVE-2014-0160": openssl["description"]["CVE-2014-0160"],
            "CVE-2014-0224": "CCS injection.",
        },
    }


def test_listed_as_vulnix_lists_them() -> None:
    def names(result: ScanResult, options: ReportOptions) -> list[str]:
        return [d["name"] for d in render(result, options)]

    # bzip2 has only a patched CVE: vulnix has nothing to report for it, even with -s.
    assert names(sample_result(), ReportOptions()) == [
        "curl-8.0.1", "gcc-12.2.0", "openssl-1.0.1f", "zlib-1.2.11",
    ]  # fmt: skip
    assert names(sample_result(), ReportOptions(show_whitelisted=True, verbosity=2)) == [
        "curl-8.0.1", "gcc-12.2.0", "libxslt-1.1.29", "openssl-1.0.1f", "zlib-1.2.11",
    ]  # fmt: skip
    # A VEX not_affected masks a CVE as a whitelist rule does.
    [zlib] = [d for d in render(vex_result(), ReportOptions(show_whitelisted=True))
              if d["pname"] == "zlib"]  # fmt: skip
    assert zlib["affected_by"] == [] and zlib["whitelisted"] == ["CVE-2018-25032", "CVE-2022-37434"]
    assert "zlib-1.2.11" not in names(vex_result(), ReportOptions())


def test_missing_scores_and_descriptions_are_left_out() -> None:
    gcc = next(d for d in render(sample_result()) if d["pname"] == "gcc")
    assert gcc["affected_by"] == ["CVE-2023-4039"]
    assert gcc["cvssv3_basescore"] == {} and gcc["description"] == {}
    curl = next(d for d in render(sample_result()) if d["pname"] == "curl")
    assert curl["cvssv3_basescore"] == {}  # a CVSS v4 score only: vulnix shows v3 alone


def test_cve_ids_sort_as_strings_like_vulnix() -> None:
    pkg = package("hello-2.12", "6gr1sw2x3c4v5b6n7m8l9k0j1h2g3f4d")
    findings = tuple(triaged(pkg, AdvisoryDetails(c)) for c in ("CVE-2014-9999", "CVE-2014-10000"))
    [entry] = render(only(findings, pkg))
    assert entry["affected_by"] == ["CVE-2014-10000", "CVE-2014-9999"]


def test_order_is_pname_then_nix_version_order() -> None:
    old = package("openssl-1.0.9", "1" * 32)
    new = package("openssl-1.0.10", "2" * 32)
    abc = package("abc-9", "3" * 32)
    findings = tuple(triaged(p, AdvisoryDetails("CVE-2020-0001")) for p in (new, abc, old))
    assert [d["name"] for d in render(only(findings, new, abc, old))] == [
        "abc-9", "openssl-1.0.9", "openssl-1.0.10",
    ]  # fmt: skip


def test_pname_and_version_follow_vulnix_split_of_the_name() -> None:
    pkg = dataclasses.replace(
        package("python3.10-requests-2.28.1", "4" * 32), pname="requests", version="2.28.1"
    )
    [entry] = render(only((triaged(pkg, AdvisoryDetails("CVE-2023-32681")),), pkg))
    assert (entry["pname"], entry["version"]) == ("python3.10-requests", "2.28.1")


def test_without_derivation_is_null_and_non_ascii_is_escaped() -> None:
    pkg = Package(name="hello-2.12", pname="hello", version="2.12")  # from packages.json
    details = AdvisoryDetails("CVE-2024-0001", description="caf\u00e9 \x1b[31m")
    text = VulnixJsonReporter().render(only((triaged(pkg, details),), pkg), ReportOptions())
    assert all(0x20 <= ord(c) < 0x7F for c in text.replace("\n", ""))
    [entry] = json.loads(text)
    assert entry["derivation"] is None
    assert entry["description"]["CVE-2024-0001"] == details.description


def test_nothing_to_show_is_an_empty_list() -> None:
    whitelisted = triaged(OPENSSL, AdvisoryDetails("CVE-2014-0160"), TriageStatus.WHITELISTED)
    assert VulnixJsonReporter().render(only((whitelisted,), OPENSSL), ReportOptions()) == "[]\n"
