"""Monitoring reports: a Nagios/Icinga/Sensu plugin status, and Prometheus textfile metrics.

vulnix ran as a monitoring check on every host (issue #5); these two formats make that a
one-liner. Both count only what needs attention: affected findings, neither whitelisted nor
patched nor called not affected by a VEX statement.

Severity for monitoring, by the finding's score (CVSS v3, else v4, else v2):
``critical`` is a score of 7.0 or more (CVSS "High" and "Critical"), ``warning`` is any other
affected finding, unscored ones included (an unscored CVE is not analysed yet, not harmless).
The plugin state follows: CRITICAL when a critical finding exists, WARNING when only warning
findings exist, else OK.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from nix_audit.models import ScanResult, TriagedFinding, TriageStatus
from nix_audit.reporters import (
    PackageFindings,
    clean_text,
    group_findings,
    plural,
    restart_message,
    score_text,
)
from nix_audit.reporters._sanitize import database_age_hours, shorten, utc
from nix_audit.reporters.interface import Reporter, ReportOptions

__all__ = [
    "CRITICAL_SCORE",
    "MonitoringCounts",
    "NagiosReporter",
    "NagiosState",
    "PrometheusReporter",
    "escape_label_value",
    "monitoring_counts",
]

CRITICAL_SCORE = 7.0
_MAX_LONG_LINES = 50  # Nagios 4 keeps 8 KB of plugin output; the status line matters most
_MAX_LINE = 200


class NagiosState(enum.Enum):
    """Plugin states and their exit codes (Nagios Plugin Guidelines, "Plugin Return Codes")."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True, slots=True)
class MonitoringCounts:
    """What both monitoring formats report, counted once."""

    packages: int
    vulnerable: int  # packages with at least one affected finding
    critical: int  # affected findings scored >= CRITICAL_SCORE
    warning: int  # other affected findings
    whitelisted: int
    patched: int  # by a patch named after the CVE, or a VEX statement saying fixed
    by_severity: tuple[tuple[str, int], ...]  # affected findings by CVSS rating, "unknown" too
    db_age_hours: float | None
    not_affected: int = 0  # a VEX statement says the product is not affected

    @property
    def state(self) -> NagiosState:
        if self.critical:
            return NagiosState.CRITICAL
        return NagiosState.WARNING if self.warning else NagiosState.OK


def _is_critical(triaged: TriagedFinding) -> bool:
    score = triaged.details.score
    return score is not None and score >= CRITICAL_SCORE


def _rating(triaged: TriagedFinding) -> str:
    """CVSS v3.1 qualitative rating of the score ("Qualitative Severity Rating Scale")."""
    score = triaged.details.score
    if score is None:
        return "unknown"
    for floor, name in ((9.0, "critical"), (7.0, "high"), (4.0, "medium"), (0.1, "low")):
        if score >= floor:
            return name
    return "none"


def monitoring_counts(result: ScanResult) -> MonitoringCounts:
    """Count the result the way both monitoring formats report it."""
    groups = group_findings(result.findings)
    affected = [f for g in groups for f in g.with_status(TriageStatus.AFFECTED)]
    by_severity = dict.fromkeys(("critical", "high", "medium", "low", "none", "unknown"), 0)
    for triaged in affected:
        by_severity[_rating(triaged)] += 1
    critical = sum(1 for f in affected if _is_critical(f))
    return MonitoringCounts(
        packages=len({p.key for p in result.packages}),
        vulnerable=sum(1 for g in groups if g.with_status(TriageStatus.AFFECTED)),
        critical=critical,
        warning=len(affected) - critical,
        whitelisted=sum(len(g.with_status(TriageStatus.WHITELISTED)) for g in groups),
        patched=sum(len(g.with_status(TriageStatus.PATCHED)) for g in groups),
        by_severity=tuple(by_severity.items()),
        db_age_hours=database_age_hours(result.index, result.scanned_at),
        not_affected=sum(len(g.with_status(TriageStatus.NOT_AFFECTED)) for g in groups),
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _plugin_text(text: str) -> str:
    """One line of plugin output: no controls, and no ``|``, which starts performance data
    (Nagios Plugin Guidelines, "Plugin Output for Nagios")."""
    return shorten(text, _MAX_LINE).replace("|", "/")


class NagiosReporter(Reporter):
    """``--format nagios``: a status line with performance data, then one line per vulnerable
    package (the plugin guidelines' long output). ``state(result)`` gives the plugin state,
    whose ``value`` is the exit code a Nagios plugin must return."""

    def state(self, result: ScanResult) -> NagiosState:
        return monitoring_counts(result).state

    def render(self, result: ScanResult, options: ReportOptions) -> str:
        counts = monitoring_counts(result)
        if counts.vulnerable:
            summary = (
                f"{_plural(counts.vulnerable, 'vulnerable package')}, "
                f"{_plural(counts.critical + counts.warning, 'CVE finding')} "
                f"({counts.critical} critical, {counts.warning} warning)"
            )
        else:
            summary = f"no vulnerable packages among {counts.packages}"
        age = "U" if counts.db_age_hours is None else f"{counts.db_age_hours:.1f}"
        perfdata = (
            f"critical={counts.critical} warning={counts.warning} "
            f"packages={counts.packages} vulnerable={counts.vulnerable} "
            f"whitelisted={counts.whitelisted} db_age_hours={age}"
        )
        restarts = result.running.needs_restart if result.running is not None else None
        if restarts is not None:
            # Only with --running: 0 would otherwise claim a check that was not made.
            perfdata += f" needs_restart={len(restarts)}"
            if restarts:
                summary += f", {plural(len(restarts), 'superseded package')} still loaded"
        lines = [f"NIX-AUDIT {counts.state.name} - {summary} | {perfdata}"]
        lines += _long_output(group_findings(result.findings))
        lines += [_plugin_text(restart_message(r)) for r in (restarts or ())[:_MAX_LONG_LINES]]
        return "\n".join(lines) + "\n"


def _long_output(groups: list[PackageFindings]) -> list[str]:
    """One line per vulnerable package, worst first: name and its CVEs with scores."""
    vulnerable = [g for g in groups if g.with_status(TriageStatus.AFFECTED)]
    vulnerable.sort(key=lambda g: (-(g.worst_score(TriageStatus.AFFECTED) or -1.0), g.package.name))
    lines = []
    for group in vulnerable[:_MAX_LONG_LINES]:
        cves = ", ".join(
            f"{clean_text(f.finding.cve_id)} ({score_text(f)})"
            for f in group.with_status(TriageStatus.AFFECTED)
        )
        lines.append(_plugin_text(f"{clean_text(group.package.name)}: {cves}"))
    if len(vulnerable) > _MAX_LONG_LINES:
        lines.append(f"... and {len(vulnerable) - _MAX_LONG_LINES} more vulnerable packages")
    return lines


def escape_label_value(value: str) -> str:
    """A label value for the text exposition format: ``\\``, ``"`` and newline escaped
    (Prometheus "Exposition formats", text format)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(value: float) -> str:
    """A sample value as the exposition format writes floats (Go's ParseFloat syntax)."""
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class PrometheusReporter(Reporter):
    """``--format prometheus``: gauges for node_exporter's textfile collector.

    No per-sample timestamps (the textfile collector rejects them); ``nix_audit_db_age_hours``
    and ``nix_audit_last_scan_timestamp_seconds`` are left out when unknown rather than
    written as a made-up number.
    """

    def render(self, result: ScanResult, options: ReportOptions) -> str:
        counts = monitoring_counts(result)
        lines = _metric(
            "nix_audit_findings",
            "Findings neither whitelisted nor patched, by CVSS severity rating.",
            [({"severity": s}, n) for s, n in counts.by_severity],
        )
        lines += _metric(
            "nix_audit_suppressed_findings",
            "Findings hidden by a whitelist, a patch named after the CVE or a VEX statement.",
            [
                ({"status": "whitelisted"}, counts.whitelisted),
                ({"status": "patched"}, counts.patched),
                ({"status": "not_affected"}, counts.not_affected),
            ],
        )
        lines += _metric(
            "nix_audit_vulnerable_packages",
            "Packages with at least one finding neither whitelisted nor patched.",
            [({}, counts.vulnerable)],
        )
        lines += _metric("nix_audit_packages", "Packages scanned.", [({}, counts.packages)])
        lines += _metric(
            "nix_audit_package_score",
            "Highest score among a vulnerable package's findings (-1 when none is scored).",
            _package_scores(group_findings(result.findings)),
        )
        if counts.db_age_hours is not None:
            lines += _metric(
                "nix_audit_db_age_hours",
                "Age of the advisory index at scan time, in hours.",
                [({}, round(counts.db_age_hours, 3))],
            )
        if result.running is not None:
            lines += _running_metrics(result)
        if result.scanned_at is not None:
            lines += _metric(
                "nix_audit_last_scan_timestamp_seconds",
                "Time of the scan, in seconds since the Unix epoch.",
                [({}, utc(result.scanned_at).timestamp())],
            )
        return "\n".join(lines) + "\n"


def _running_metrics(result: ScanResult) -> list[str]:
    """``scan --running`` gauges (issue #8); written only when processes were inspected."""
    running = result.running
    if running is None:
        return []
    lines = _metric(
        "nix_audit_needs_restart_packages",
        "Packages loaded by running processes but superseded in the current system.",
        [({}, len(running.needs_restart))],
    )
    lines += _metric(
        "nix_audit_running_processes",
        "Processes inspected in /proc, and those that could not be.",
        [
            ({"state": "inspected"}, running.processes),
            ({"state": "uninspectable"}, running.uninspectable),
        ],
    )
    return lines


def _package_scores(groups: list[PackageFindings]) -> list[tuple[dict[str, str], float]]:
    """One sample per vulnerable package name and closure, so that an alert can say which.

    Two derivations of one name (two builds of openssl) are one series: the exposition
    format forbids two samples with the same labels.
    """
    worst: dict[tuple[str, str], float] = {}
    for group in groups:
        if group.with_status(TriageStatus.AFFECTED):
            score = group.worst_score(TriageStatus.AFFECTED)
            key = (shorten(group.package.name, _MAX_LINE), group.package.closure.value)
            worst[key] = max(worst.get(key, -1.0), -1.0 if score is None else score)
    return [({"package": n, "closure": c}, worst[(n, c)]) for n, c in sorted(worst)]


def _metric(name: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    """A gauge: its HELP and TYPE lines, then its samples."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
        lines.append(
            f"{name}{{{label_text}}} {_sample(value)}" if labels else f"{name} {_sample(value)}"
        )
    return lines
