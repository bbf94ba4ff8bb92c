"""The text report: golden files for each option, ordering, and terminal-safe output."""

from __future__ import annotations

import dataclasses

import pytest

from nix_audit.models import AdvisoryDetails, ScanResult, TriageStatus
from nix_audit.reporters.interface import ReportOptions
from nix_audit.reporters.text import TextReporter
from tests.reporters.conftest import Golden
from tests.reporters.sample import HELLO, OPENSSL, package, sample_result, triaged, vex_result

CASES = {
    "text_plain.txt": ReportOptions(),
    "text_verbose.txt": ReportOptions(verbosity=1),
    "text_description.txt": ReportOptions(show_description=True),
    "text_whitelisted.txt": ReportOptions(show_whitelisted=True),
    "text_all.txt": ReportOptions(show_whitelisted=True, show_description=True, verbosity=2),
}


@pytest.mark.parametrize("name", list(CASES))
def test_golden(golden: Golden, name: str) -> None:
    golden(name, TextReporter().render(sample_result(), CASES[name]))


def blocks(text: str) -> list[str]:
    """The package names heading each block, in order."""
    parts = text.split("-" * 72 + "\n")[1:]
    return [part.splitlines()[0] for part in parts]


def test_packages_are_ordered_by_worst_score_then_name() -> None:
    text = TextReporter().render(sample_result(), ReportOptions())
    # zlib 9.8; curl and openssl both 7.5 (by name); gcc has no score at all.
    assert blocks(text) == ["zlib-1.2.11", "curl-8.0.1", "openssl-1.0.1f", "gcc-12.2.0"]
    assert text.startswith("warning: advisory index is 30.0 hours old")
    assert "\n4 derivations with active advisories\n" in text


def test_whitelisted_and_patched_only_packages_follow_with_their_options() -> None:
    text = TextReporter().render(sample_result(), ReportOptions(show_whitelisted=True))
    assert blocks(text)[-1] == "libxslt-1.1.29"
    assert "bzip2" not in text
    verbose = TextReporter().render(sample_result(), ReportOptions(verbosity=1))
    assert blocks(verbose)[-1] == "bzip2-1.0.6" and "libxslt" not in verbose


def test_output_does_not_depend_on_finding_order() -> None:
    result = sample_result()
    # A fixed permutation that moves every finding: odd positions first, evens reversed.
    shuffled = result.findings[1::2] + tuple(reversed(result.findings[::2]))
    options = ReportOptions(show_whitelisted=True, show_description=True, verbosity=1)
    again = dataclasses.replace(result, findings=tuple(shuffled))
    assert TextReporter().render(again, options) == TextReporter().render(result, options)


def test_clean_scan_says_so_and_has_no_blocks() -> None:
    result = ScanResult(packages=(HELLO,), findings=(), index=None)
    assert TextReporter().render(result, ReportOptions()) == (
        "Found no active advisories in 1 package.\n"
    )


def test_only_whitelisted_findings_are_summarised_not_shown() -> None:
    details = AdvisoryDetails("CVE-2014-0224", cvss_v3=7.4)
    finding = triaged(OPENSSL, details, TriageStatus.WHITELISTED, reason="accepted")
    result = ScanResult(packages=(OPENSSL,), findings=(finding,), index=None)
    assert TextReporter().render(result, ReportOptions()) == (
        "Found no active advisories in 1 package.\n"
        "1 derivation left out due to whitelisting (shown with --show-whitelisted)\n"
    )


def test_footer_without_scan_time_has_no_age() -> None:
    result = dataclasses.replace(sample_result(), scanned_at=None, warnings=())
    text = TextReporter().render(result, ReportOptions())
    assert text.endswith("Advisory index: 245,123 records, updated 2026-05-31 06:00 UTC\n")


def test_never_updated_index() -> None:
    result = sample_result()
    assert result.index is not None
    index = dataclasses.replace(result.index, last_update=None, records=0)
    text = TextReporter().render(dataclasses.replace(result, index=index), ReportOptions())
    assert text.endswith("Advisory index: 0 records, never updated\n")


HOSTILE = "\x1b[31mred\x1b]0;title\x07"


def test_escape_sequences_never_reach_the_terminal() -> None:
    evil = dataclasses.replace(package("evil-1.0", "9zzz"), name="evil\x1b[2J-1.0\x9b1m")
    details = AdvisoryDetails(
        "CVE-2024-0001", description=HOSTILE, severity="HIGH\x1b[0m", cvss_v3=8.0
    )
    finding = triaged(evil, details, TriageStatus.WHITELISTED, reason="ok\x1b]8;;x\x07")
    result = ScanResult(packages=(evil,), findings=(finding,), index=None, warnings=("w\x1bc",))
    options = ReportOptions(show_whitelisted=True, show_description=True, verbosity=2)
    text = TextReporter().render(result, options)
    assert "red" in text and "evil-1.0" in text and "HIGH" in text
    assert "title" not in text
    for char in text:
        assert char in "\n" or (ord(char) >= 0x20 and not 0x7F <= ord(char) <= 0x9F), repr(char)


def test_long_descriptions_wrap_under_the_row() -> None:
    text = TextReporter(width=40).render(sample_result(), ReportOptions(show_description=True))
    described = [line for line in text.splitlines() if line.startswith("    ")]
    assert described and all(len(line) <= 40 for line in described)


VEX_CASES = {
    "text_vex.txt": ReportOptions(),
    "text_vex_all.txt": ReportOptions(show_whitelisted=True, verbosity=1),
}


@pytest.mark.parametrize("name", list(VEX_CASES))
def test_golden_vex_and_hygiene(golden: Golden, name: str) -> None:
    golden(name, TextReporter().render(vex_result(), VEX_CASES[name]))


def test_not_affected_is_hidden_like_whitelisted_and_counted() -> None:
    text = TextReporter().render(vex_result(), ReportOptions())
    assert blocks(text) == ["openssl-1.0.1f"]
    assert "3 CVEs left out because a VEX statement says not affected" in text
    assert "CVE-2014-0224" not in text and "zlib" not in text.split("warning:")[0]
    # The VEX statement that kept a finding affected is shown under it.
    assert "    reason: VEX: affected: Upgrade with the next channel bump" in text


def test_not_affected_shows_its_justification_with_show_whitelisted() -> None:
    text = TextReporter(width=200).render(vex_result(), ReportOptions(show_whitelisted=True))
    assert blocks(text) == ["openssl-1.0.1f", "libxslt-1.1.29", "zlib-1.2.11"]
    assert "Not affected (VEX):" in text
    assert "reason: VEX: not_affected (code_not_reachable): deflate is never called" in text
    assert "left out because a VEX statement" not in text


def test_hygiene_warnings_close_the_report() -> None:
    text = TextReporter().render(vex_result(), ReportOptions())
    tail = text.rstrip("\n").split("\n\n")[-1].splitlines()
    assert tail == [
        'warning: whitelist rule ["zlib"] at /etc/nix-audit/wl.toml:6 expired on 2026-01-01:'
        " the findings it hid are reported again; renew or remove it",
        'warning: whitelist rule ["bzip2"] at /etc/nix-audit/wl.toml:9 matched nothing in this'
        " scan: remove it if stale",
        'warning: whitelist rule ["libxslt"] at /etc/nix-audit/wl.toml:1 has no cve list: it'
        " hides every version and every future CVE of libxslt",
    ]
    assert "warning: whitelist rule" not in TextReporter().render(sample_result(), ReportOptions())
