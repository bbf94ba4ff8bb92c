"""Triage: patch evidence first, then whitelist rules, else affected; unused rules."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from nix_audit.models import AdvisoryDetails, Finding, Package, TriageStatus
from nix_audit.triage.apply import PATCHED_REASON, triage, unused_rules
from nix_audit.triage.whitelist import Whitelist, load_whitelist

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
