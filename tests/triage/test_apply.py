"""Triage: patch evidence, then VEX, then whitelist rules, else affected; rule hygiene."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from nix_audit.models import (
    AdvisoryDetails,
    Finding,
    HygieneRule,
    Package,
    ScanResult,
    TriagedFinding,
    TriageHygiene,
    TriageStatus,
)
from nix_audit.reporters.cyclonedx import CycloneDxReporter
from nix_audit.reporters.interface import Reporter, ReportOptions
from nix_audit.reporters.openvex import OpenVexReporter, WhitelistClaim, whitelist_claim
from nix_audit.triage.apply import (
    PATCHED_REASON,
    broad_rules,
    expired_rules,
    triage,
    triage_hygiene,
    unused_rules,
)
from nix_audit.triage.vex import VexDocument, load_vex, parse_vex
from nix_audit.triage.whitelist import Whitelist, load_whitelist
from tests.reporters.sample import sample_result, vex_result

DATA = Path(__file__).parent / "data"
ACCEPTED = WhitelistClaim.ACCEPTED

TODAY = date(2026, 6, 1)

WHITELIST = """\
["openssl-1.0.1f"]
cve = ["CVE-2014-0160", "CVE-2014-0224"]
comment = "fix rolling out"
issue_url = "https://tracker.example.org/issues/7"

["zlib"]
until = "2026-01-01"

["bzip2"]
cve = ["CVE-2016-3189"]

["*"]
cve = ["CVE-2099-0001"]
"""


def load(tmp_path: Path) -> Whitelist:
    path = tmp_path / "wl.toml"
    path.write_text(WHITELIST, encoding="utf-8")
    return load_whitelist(str(path))


def finding(name: str, cve: str, patched: frozenset[str] = frozenset()) -> Finding:
    pname, _, version = name.rpartition("-")
    package = Package(name=name, pname=pname, version=version, patched_cves=patched)
    return Finding(
        package=package, cve_id=cve, criteria=f"cpe:2.3:a:{pname}:{pname}:*", version_range=""
    )


def test_patched_wins_over_whitelist(tmp_path: Path) -> None:
    item = finding("openssl-1.0.1f", "CVE-2014-0160", frozenset({"CVE-2014-0160"}))
    [result] = triage([item], {}, load(tmp_path), today=TODAY)
    assert result.status is TriageStatus.PATCHED
    assert result.reason == PATCHED_REASON
    assert result.issue_url is None


def test_patch_names_compare_case_insensitively() -> None:
    item = finding("curl-7.50.0", "CVE-2016-8615", frozenset({"cve-2016-8615"}))
    [result] = triage([item], {}, Whitelist(), today=TODAY)
    assert result.status is TriageStatus.PATCHED


def test_whitelisted_carries_comment_and_issue_url(tmp_path: Path) -> None:
    item = finding("openssl-1.0.1f", "CVE-2014-0224")
    [result] = triage([item], {}, load(tmp_path), today=TODAY)
    assert result.status is TriageStatus.WHITELISTED
    assert result.reason == "fix rolling out"
    assert result.issue_url == "https://tracker.example.org/issues/7"


def test_whitelisted_without_comment_names_the_rule(tmp_path: Path) -> None:
    [result] = triage([finding("bzip2-1.0.6", "CVE-2016-3189")], {}, load(tmp_path), today=TODAY)
    assert result.status is TriageStatus.WHITELISTED
    assert result.reason == f"whitelist rule [bzip2] at {tmp_path / 'wl.toml'}:9"


def test_affected_when_nothing_covers_it(tmp_path: Path) -> None:
    items = [
        finding("openssl-1.0.1f", "CVE-2016-2105"),  # not in the rule's CVE list
        finding("openssl-1.0.2", "CVE-2014-0160"),  # another version
        finding("bzip2-1.0.6", "CVE-2019-12900"),
    ]
    results = triage(items, {}, load(tmp_path), today=TODAY)
    assert [r.status for r in results] == [TriageStatus.AFFECTED] * 3
    assert [r.finding for r in results] == items  # order kept
    assert all(r.reason == "" and r.issue_url is None for r in results)


def test_expired_rule_leaves_the_finding_affected(tmp_path: Path) -> None:
    item = finding("zlib-1.2.11", "CVE-2018-25032")
    wl = load(tmp_path)
    [before] = triage([item], {}, wl, today=date(2025, 12, 31))
    [after] = triage([item], {}, wl, today=TODAY)
    assert before.status is TriageStatus.WHITELISTED
    assert after.status is TriageStatus.AFFECTED


def test_details_are_attached_or_empty_when_missing(tmp_path: Path) -> None:
    known = AdvisoryDetails(cve_id="CVE-2014-0160", description="Heartbleed", cvss_v3=7.5)
    items = [finding("openssl-1.0.1g", "CVE-2014-0160"), finding("openssl-1.0.1g", "CVE-2099-9")]
    first, second = triage(items, {"CVE-2014-0160": known}, Whitelist(), today=TODAY)
    assert first.details is known
    assert second.details == AdvisoryDetails(cve_id="CVE-2099-9")
    assert second.details.score is None


def test_unused_rules_are_those_that_decided_nothing(tmp_path: Path) -> None:
    wl = load(tmp_path)
    items = [
        finding("openssl-1.0.1f", "CVE-2014-0160"),  # used
        finding("bzip2-1.0.6", "CVE-2016-3189", frozenset({"CVE-2016-3189"})),  # patched
        finding("zlib-1.2.11", "CVE-2018-25032"),  # rule expired
    ]
    unused = unused_rules(wl, items, today=TODAY)
    assert [r.key for r in unused] == ["zlib", "bzip2", "*"]
    assert unused_rules(wl, [], today=TODAY) == list(wl.rules)


# --- VEX -------------------------------------------------------------------------------------


def openvex(*statements: dict[str, object]) -> VexDocument:
    text = json.dumps({"@context": "https://openvex.dev/ns/v0.2.0", "statements": statements})
    return parse_vex(text.encode(), "vex.json")


def statement(cve: str, purl: str, status: str, **extra: str) -> dict[str, object]:
    return {"vulnerability": {"name": cve}, "products": [{"@id": purl}], "status": status, **extra}


def test_vex_not_affected_suppresses_with_justification() -> None:
    vex = openvex(
        statement(
            "CVE-2014-0160",
            "pkg:nix/openssl@1.0.1f",
            "not_affected",
            justification="vulnerable_code_not_present",
            impact_statement="heartbeats are compiled out",
        )
    )
    [result] = triage(
        [finding("openssl-1.0.1f", "CVE-2014-0160")], {}, Whitelist(), today=TODAY, vex=[vex]
    )
    assert result.status is TriageStatus.NOT_AFFECTED
    assert result.justification == "vulnerable_code_not_present"
    assert result.reason == (
        "VEX: not_affected (vulnerable_code_not_present): heartbeats are compiled out "
        "[vex.json: statements[0]]"
    )


def test_vex_fixed_is_patched_with_the_statement_as_reason() -> None:
    vex = openvex(statement("CVE-2014-0160", "pkg:nix/openssl", "fixed", status_notes="overlay"))
    [result] = triage(
        [finding("openssl-1.0.1f", "CVE-2014-0160")], {}, Whitelist(), today=TODAY, vex=[vex]
    )
    assert result.status is TriageStatus.PATCHED
    assert result.reason == "VEX: fixed: overlay [vex.json: statements[0]]"
    assert result.justification is None


@pytest.mark.parametrize("status", ["affected", "under_investigation"])
def test_vex_affected_keeps_the_finding_and_says_so(status: str) -> None:
    vex = openvex(statement("CVE-2014-0160", "pkg:nix/openssl", status, action_statement="upgrade"))
    [result] = triage(
        [finding("openssl-1.0.1f", "CVE-2014-0160")], {}, Whitelist(), today=TODAY, vex=[vex]
    )
    assert result.status is TriageStatus.AFFECTED
    assert result.reason.startswith(f"VEX: {status}")
    assert result.reason.endswith("[vex.json: statements[0]]")


def test_precedence_patch_then_vex_then_whitelist(tmp_path: Path) -> None:
    wl = load(tmp_path)  # whitelists openssl-1.0.1f CVE-2014-0160 and CVE-2014-0224
    vex = openvex(
        statement("CVE-2014-0160", "pkg:nix/openssl", "not_affected", impact_statement="no"),
        statement("CVE-2014-0224", "pkg:nix/openssl", "affected", action_statement="upgrade"),
    )
    items = [
        finding("openssl-1.0.1f", "CVE-2014-0160", frozenset({"CVE-2014-0160"})),  # patch wins
        finding("openssl-1.0.1f", "CVE-2014-0160"),  # VEX beats the whitelist
        finding("openssl-1.0.1f", "CVE-2014-0224"),  # VEX affected: the whitelist still hides it
    ]
    patched, not_affected, whitelisted = triage(items, {}, wl, today=TODAY, vex=[vex])
    assert (patched.status, patched.reason) == (TriageStatus.PATCHED, PATCHED_REASON)
    assert not_affected.status is TriageStatus.NOT_AFFECTED
    assert (whitelisted.status, whitelisted.reason) == (TriageStatus.WHITELISTED, "fix rolling out")
    # The whitelist rule still decided one finding; VEX took the other.
    assert [r.key for r in unused_rules(wl, items, today=TODAY, vex=[vex])] == [
        "zlib",
        "bzip2",
        "*",
    ]


def test_vex_files_from_the_data_folder() -> None:
    documents = [load_vex(DATA / "openvex.json"), load_vex(DATA / "cyclonedx-vex.json")]
    items = [
        finding("openssl-3.0.7", "CVE-2023-0286"),
        finding("openssl-3.0.7", "CVE-2023-0464"),
        finding("curl-8.0.1", "CVE-2023-28320"),
        finding("curl-8.0.1", "CVE-2023-28322"),
        finding("curl-8.0.1", "CVE-2023-27535"),
    ]
    statuses = [r.status for r in triage(items, {}, Whitelist(), today=TODAY, vex=documents)]
    assert statuses == [
        TriageStatus.NOT_AFFECTED,
        TriageStatus.AFFECTED,
        TriageStatus.NOT_AFFECTED,  # CycloneDX false_positive
        TriageStatus.PATCHED,  # CycloneDX resolved_with_pedigree
        TriageStatus.AFFECTED,  # no analysis
    ]


def raw(result: ScanResult) -> list[Finding]:
    """The findings before triage: what a new scan of the same packages would match."""
    return [t.finding for t in result.findings]


def suppressed(findings: list[TriagedFinding]) -> set[tuple[str, str]]:
    return {
        (t.finding.package.key, t.finding.cve_id)
        for t in findings
        if t.status is not TriageStatus.AFFECTED
    }


@pytest.mark.parametrize("make", [sample_result, vex_result])
@pytest.mark.parametrize("reporter", [OpenVexReporter("0"), CycloneDxReporter("0")])
def test_own_vex_output_round_trips(
    tmp_path: Path, make: Callable[[], ScanResult], reporter: Reporter
) -> None:
    """Rendered, read back and applied to the same findings, a report suppresses exactly the
    findings it says are not affected or fixed: nothing accepted-but-affected slips through."""
    result = make()
    path = tmp_path / "own.json"
    path.write_text(reporter.render(result, ReportOptions()), encoding="utf-8")
    again = triage(raw(result), {}, Whitelist(), today=TODAY, vex=[load_vex(path)])
    expected = {
        (t.finding.package.key, t.finding.cve_id)
        for t in result.findings
        if t.status in (TriageStatus.PATCHED, TriageStatus.NOT_AFFECTED)
        or (t.status is TriageStatus.WHITELISTED and whitelist_claim(t.reason) is not ACCEPTED)
    }
    assert expected  # both samples have some
    assert suppressed(again) == expected
    statuses = {(t.finding.package.key, t.finding.cve_id): t.status for t in again}
    for t in result.findings:
        if t.status in (TriageStatus.PATCHED, TriageStatus.NOT_AFFECTED):
            assert statuses[(t.finding.package.key, t.finding.cve_id)] is t.status


# --- hygiene ---------------------------------------------------------------------------------


def test_expired_and_broad_rules(tmp_path: Path) -> None:
    wl = load(tmp_path)
    assert [r.key for r in expired_rules(wl, today=TODAY)] == ["zlib"]
    assert expired_rules(wl, today=date(2025, 12, 31)) == []
    # ["zlib"] is bare but expired: it hides nothing any more, so it is only "expired".
    assert broad_rules(wl, today=TODAY) == []
    assert [r.key for r in broad_rules(wl, today=date(2025, 12, 31))] == ["zlib"]


def test_broad_rule_needs_no_version_and_no_cve(tmp_path: Path) -> None:
    path = tmp_path / "wl.toml"
    path.write_text(
        '["libxslt"]\ncomment = "unused"\n\n["curl-8.0.1"]\n\n["bzip2"]\ncve = ["CVE-2016-3189"]\n',
        encoding="utf-8",
    )
    assert [r.key for r in broad_rules(load_whitelist(str(path)), today=TODAY)] == ["libxslt"]


def test_triage_hygiene_collects_the_three_checks(tmp_path: Path) -> None:
    wl = load(tmp_path)
    origin = str(tmp_path / "wl.toml")
    items = [finding("openssl-1.0.1f", "CVE-2014-0160")]
    hygiene = triage_hygiene(wl, items, today=TODAY)
    assert hygiene == TriageHygiene(
        unused=(
            HygieneRule("bzip2", f"{origin}:9", cves=("CVE-2016-3189",)),
            HygieneRule("*", f"{origin}:12", cves=("CVE-2099-0001",)),
        ),
        expired=(HygieneRule("zlib", f"{origin}:6", until=date(2026, 1, 1)),),
        broad=(),
    )
    assert hygiene.count == 3
    before = triage_hygiene(wl, items, today=date(2025, 12, 31))
    assert [r.key for r in before.unused] == ["zlib", "bzip2", "*"]
    assert [r.key for r in before.broad] == ["zlib"] and before.expired == ()
    assert triage_hygiene(Whitelist(), items, today=TODAY).count == 0


def test_vulnix_quirks_are_hygiene_warnings_not_unused(tmp_path: Path) -> None:
    path = tmp_path / "roundup.toml"
    path.write_text('["discourse-*"]\n\n["zlib"]\ncve = "*"\n\n["pcre"]\ncve = ["CVE-2017-1000"]\n')
    wl = load_whitelist(str(path))
    hygiene = triage_hygiene(wl, [], today=date(2026, 6, 1))
    assert [(r.key, "vulnix" in note) for r, note in hygiene.vulnix_quirks] == [
        ("discourse-*", True),
        ("zlib", True),
    ]
    assert [r.key for r in hygiene.unused] == ["pcre"]  # the quirky ones are explained
    assert hygiene.count == 3
