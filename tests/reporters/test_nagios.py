"""The monitoring reports: Nagios plugin output and Prometheus textfile metrics."""

from __future__ import annotations

import dataclasses
import re

import pytest

from nix_audit.models import AdvisoryDetails, ScanResult, TriageStatus
from nix_audit.reporters.interface import ReportOptions
from nix_audit.reporters.nagios import (
    NagiosReporter,
    NagiosState,
    PrometheusReporter,
    escape_label_value,
    monitoring_counts,
)
from tests.reporters.conftest import Golden
from tests.reporters.hostile import BAD_CHARACTERS, hostile_result
from tests.reporters.sample import (
    HELLO,
    OPENSSL,
    ZLIB,
    package,
    sample_result,
    triaged,
    vex_result,
)

# Nagios Plugin Guidelines, "Performance data": 'label'=value[UOM];[warn];[crit];[min];[max]
PERFDATA = re.compile(r"^[^=' ]+=(?:-?[0-9.]+|U)(?:[a-zA-Z%]*)(?:;[^; ]*){0,4}$")
# Prometheus text exposition format: comments, and samples without timestamps.
METRIC_LINE = re.compile(
    r"""^(?:
      \#\ HELP\ [a-zA-Z_:][a-zA-Z0-9_:]*\ .*
    | \#\ TYPE\ [a-zA-Z_:][a-zA-Z0-9_:]*\ (?:counter|gauge|histogram|summary|untyped)
    | [a-zA-Z_:][a-zA-Z0-9_:]*
      (?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})?
      \ (?:-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|NaN|[+-]Inf)
    )$""",
    re.VERBOSE,
)


def nagios(result: ScanResult) -> str:
    return NagiosReporter().render(result, ReportOptions())


def prometheus(result: ScanResult) -> str:
    return PrometheusReporter().render(result, ReportOptions())


def samples(text: str) -> dict[str, str]:
    """``name{labels}`` -> value, for the sample lines."""
    found = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            found[key] = value
    return found


def test_nagios_golden(golden: Golden) -> None:
    golden("report.nagios.txt", nagios(sample_result()))


def test_prometheus_golden(golden: Golden) -> None:
    golden("report.prom", prometheus(sample_result()))


def test_status_line_and_perfdata() -> None:
    first, *long_output = nagios(sample_result()).splitlines()
    status, _, perfdata = first.partition(" | ")
    # Affected: zlib 9.8 and 7.5, curl 7.5, openssl 7.5 (critical); gcc unscored (warning).
    assert status == (
        "NIX-AUDIT CRITICAL - 4 vulnerable packages, 5 CVE findings (4 critical, 1 warning)"
    )
    assert perfdata.split() == [
        "critical=4",
        "warning=1",
        "packages=7",
        "vulnerable=4",
        "whitelisted=2",
        "db_age_hours=30.0",
    ]
    assert all(PERFDATA.match(item) for item in perfdata.split())
    assert long_output[0] == "zlib-1.2.11: CVE-2022-37434 (9.8), CVE-2018-25032 (7.5)"
    assert long_output[-1] == "gcc-12.2.0: CVE-2023-4039 (-)"  # unscored last
    assert all("|" not in line for line in long_output)


@pytest.mark.parametrize(
    ("score", "state"),
    [(9.8, NagiosState.CRITICAL), (7.0, NagiosState.CRITICAL), (6.9, NagiosState.WARNING),
     (None, NagiosState.WARNING)],
)  # fmt: skip
def test_state_by_worst_affected_score(score: float | None, state: NagiosState) -> None:
    finding = triaged(OPENSSL, AdvisoryDetails("CVE-2014-0160", cvss_v3=score))
    result = ScanResult(packages=(OPENSSL,), findings=(finding,), index=None)
    assert NagiosReporter().state(result) is state
    assert nagios(result).startswith(f"NIX-AUDIT {state.name} - ")


def test_whitelisted_and_patched_findings_are_ok() -> None:
    findings = (
        triaged(OPENSSL, AdvisoryDetails("CVE-2014-0160", cvss_v3=9.8), TriageStatus.WHITELISTED),
        triaged(ZLIB, AdvisoryDetails("CVE-2018-25032", cvss_v3=9.8), TriageStatus.PATCHED),
    )
    result = ScanResult(packages=(OPENSSL, ZLIB, HELLO), findings=findings, index=None)
    assert NagiosReporter().state(result) is NagiosState.OK
    assert NagiosState.OK.value == 0 and NagiosState.CRITICAL.value == 2
    assert nagios(result) == (
        "NIX-AUDIT OK - no vulnerable packages among 3 | critical=0 warning=0 packages=3 "
        "vulnerable=0 whitelisted=1 db_age_hours=U\n"
    )


def test_long_output_is_bounded() -> None:
    many = [package(f"pkg{i:03d}-1.0", f"{i:03d}" + "a" * 29) for i in range(60)]
    findings = tuple(triaged(p, AdvisoryDetails("CVE-2020-0001", cvss_v3=5.0)) for p in many)
    lines = nagios(ScanResult(packages=tuple(many), findings=findings, index=None)).splitlines()
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "... and 10 more vulnerable packages"


def test_prometheus_metrics() -> None:
    text = prometheus(sample_result())
    assert all(METRIC_LINE.match(line) for line in text.splitlines()), text
    values = samples(text)
    assert values['nix_audit_findings{severity="critical"}'] == "1"
    assert values['nix_audit_findings{severity="high"}'] == "3"
    assert values['nix_audit_findings{severity="unknown"}'] == "1"
    assert values["nix_audit_vulnerable_packages"] == "4"
    assert values["nix_audit_packages"] == "7"
    assert values["nix_audit_db_age_hours"] == "30"
    assert values["nix_audit_last_scan_timestamp_seconds"] == "1780315200"
    assert values['nix_audit_package_score{package="zlib-1.2.11",closure="runtime"}'] == "9.8"
    for name in ("nix_audit_findings", "nix_audit_packages"):
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge\n" in text


def test_prometheus_leaves_out_unknown_times() -> None:
    result = dataclasses.replace(sample_result(), scanned_at=None)
    text = prometheus(result)
    assert "nix_audit_db_age_hours" not in text
    assert "nix_audit_last_scan_timestamp_seconds" not in text


def test_one_series_per_package_name() -> None:
    rebuilt = dataclasses.replace(OPENSSL, derivation="/nix/store/other-openssl-1.0.1f.drv")
    findings = (
        triaged(OPENSSL, AdvisoryDetails("CVE-2014-0160", cvss_v3=7.5)),
        triaged(rebuilt, AdvisoryDetails("CVE-2014-0224", cvss_v3=8.1)),
    )
    text = prometheus(ScanResult(packages=(OPENSSL, rebuilt), findings=findings, index=None))
    assert text.count("nix_audit_package_score{") == 1
    assert 'nix_audit_package_score{package="openssl-1.0.1f",closure="runtime"} 8.1' in text


def test_escape_label_value() -> None:
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_counts_match_between_formats() -> None:
    counts = monitoring_counts(sample_result())
    assert counts.critical + counts.warning == sum(n for _, n in counts.by_severity)


def test_hostile_text_is_neutralised() -> None:
    result = hostile_result()
    for text in (nagios(result), prometheus(result)):
        for bad in BAD_CHARACTERS:
            assert bad not in text
    first, *long_output = nagios(result).splitlines()
    assert first.count("|") == 1  # only the perfdata separator
    assert all("|" not in line and len(line) <= 200 for line in long_output)
    metrics = prometheus(result)
    assert all(METRIC_LINE.match(line) for line in metrics.splitlines()), metrics
    assert 'package="evil|\\"q\\\\<script>' in metrics  # quote and backslash escaped


def test_parses_with_prometheus_client() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    families = {
        f.name: f for f in parser.text_string_to_metric_families(prometheus(hostile_result()))
    }
    [evil, _] = families["nix_audit_package_score"].samples
    assert evil.labels["package"].startswith('evil|"q\\<script>')


def test_not_affected_findings_need_no_attention() -> None:
    counts = monitoring_counts(vex_result())
    assert (counts.critical, counts.warning, counts.not_affected) == (1, 0, 3)
    assert counts.patched == 1 and counts.whitelisted == 1
    assert NagiosReporter().state(vex_result()) is NagiosState.CRITICAL  # Heartbleed stays
    assert 'nix_audit_suppressed_findings{status="not_affected"} 3' in prometheus(vex_result())
