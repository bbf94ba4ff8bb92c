"""Plain-text report: vulnix's layout, made clearer.

A header with the number of vulnerable derivations, one block per package (worst CVSS score
first) with a table of CVE, score and severity, and a footer saying how old the advisory
data is. Whitelisted findings and those a VEX statement calls not affected appear with
``-s``, patched ones (a patch named after the CVE, or a VEX ``fixed``) and the matching
evidence with ``-v``; whitelist hygiene warnings close the report. Every string that came
from a feed or a derivation passes through ``clean_text``, and a description is cut at
``MAX_DESCRIPTION`` characters.

With ``ReportOptions.color`` (the CLI sets it on a terminal) the same content is drawn with
rich: a table per package and severity colours. Without it the output is plain text, stable
for pipes, scripts and golden files.
"""

from __future__ import annotations

import io
import textwrap
from datetime import UTC, datetime

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from nix_audit.models import IdentifiedFrom, IndexStatus, ScanResult, TriagedFinding, TriageStatus
from nix_audit.reporters import (
    PackageFindings,
    clean_text,
    derivationless_count,
    group_findings,
    hygiene_messages,
    processes_text,
    restart_message,
    running_line,
    score_text,
)
from nix_audit.reporters._sanitize import MAX_DESCRIPTION, shorten
from nix_audit.reporters.interface import Reporter, ReportOptions

__all__ = ["NVD_DETAIL_URL", "TextReporter"]

NVD_DETAIL_URL = "https://nvd.nist.gov/vuln/detail/"
_RULE = "-" * 72
_CVE_WIDTH = 16  # "CVE-2021-1234567"; longer ids push the row, they are not cut
_SEVERITY_STYLE = {
    "CRITICAL": "bold red",
    "HIGH": "red",
    "MEDIUM": "yellow",
    "LOW": "green",
}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class TextReporter(Reporter):
    """The human-readable report (the default output of ``nix-audit scan``)."""

    def __init__(self, width: int = 72) -> None:
        self.width = width

    def render(self, result: ScanResult, options: ReportOptions) -> str:
        if options.color:
            return self._render_color(result, options)
        groups = group_findings(result.findings)
        shown = sorted((g for g in groups if _visible(g, options)), key=_package_order)
        lines = [f"warning: {clean_text(w)}" for w in result.warnings]
        lines += _header(result, groups, options)
        for group in shown:
            lines += self._block(group, options)
        lines += _running(result)
        lines += _skipped(result, options)
        lines += _footer(result.index, result.scanned_at, options)
        lines += _hygiene(result)
        return "\n".join(lines) + "\n"

    def _block(self, group: PackageFindings, options: ReportOptions) -> list[str]:
        """One package: its identity, then its findings by status."""
        package = group.package
        lines = ["", _RULE, clean_text(package.name), *_paths(group)]
        # One line however long: a list of pids is read by scripts (grep "running:") too.
        lines += [running] if (running := _processes_line(group)) else []
        sections: list[tuple[str, tuple[TriagedFinding, ...]]] = [
            ("", group.with_status(TriageStatus.AFFECTED))
        ]
        if options.show_whitelisted:
            sections.append(("Whitelisted:", group.with_status(TriageStatus.WHITELISTED)))
            sections.append(("Not affected (VEX):", group.with_status(TriageStatus.NOT_AFFECTED)))
        if options.verbosity >= 1:
            sections.append(("Patched:", group.with_status(TriageStatus.PATCHED)))
        for title, findings in sections:
            if findings:
                lines.append("")
                lines += [title] if title else []
                lines.append(_row("CVE", "SCORE", "SEVERITY"))
                for triaged in findings:
                    lines += self._finding(triaged, options)
        return lines

    def _finding(self, triaged: TriagedFinding, options: ReportOptions) -> list[str]:
        """A table row, then the indented details the options ask for."""
        details = triaged.details
        severity = clean_text(details.severity) if details.severity else "-"
        lines = [_row(clean_text(triaged.finding.cve_id), score_text(triaged), severity)]
        # An affected finding has a reason only when a VEX statement said affected: show it.
        if triaged.status is not TriageStatus.AFFECTED or triaged.reason:
            lines += self._wrap(f"reason: {triaged.reason or triaged.status.value}")
            if triaged.issue_url:
                lines.append(f"    issue: {clean_text(triaged.issue_url)}")
        if options.show_description:
            lines += self._wrap(shorten(details.description, MAX_DESCRIPTION) or "(no description)")
        if options.verbosity >= 1:
            finding = triaged.finding
            lines.append(f"    {NVD_DETAIL_URL}{clean_text(finding.cve_id)}")
            evidence = f"matched: {finding.criteria}"
            if finding.version_range:
                evidence += f", versions {finding.version_range}"
            lines += self._wrap(evidence)
            lines.append(
                f"    source: {finding.source}, mapping: {clean_text(finding.mapping)}, "
                f"confidence: {finding.confidence.value}"
            )
        return lines

    def _wrap(self, text: str) -> list[str]:
        """Cleaned text wrapped under a row, indented by four spaces."""
        return textwrap.wrap(
            clean_text(text),
            width=self.width,
            initial_indent="    ",
            subsequent_indent="    ",
            break_on_hyphens=False,
            break_long_words=False,  # keep CPE names and URLs whole, even when too long
        )

    # --- colour: the same content drawn with rich ------------------------------------------

    def _render_color(self, result: ScanResult, options: ReportOptions) -> str:
        groups = group_findings(result.findings)
        shown = sorted((g for g in groups if _visible(g, options)), key=_package_order)
        out = io.StringIO()
        console = _console(out, self.width)
        for warning in result.warnings:
            console.print(Text(f"warning: {clean_text(warning)}", style="yellow"), soft_wrap=True)
        for line in _header(result, groups, options):
            console.print(Text(line, style="bold"), soft_wrap=True)
        for group in shown:
            console.print()
            console.print(Text(clean_text(group.package.name), style="bold"), soft_wrap=True)
            for line in _paths(group):
                console.print(Text(line, style="dim"), soft_wrap=True)
            if running := _processes_line(group):
                console.print(Text(running, style="dim"), soft_wrap=True)
            console.print(_table(group, options))
        for line in _running(result):
            style = "bold yellow" if line.startswith("loaded but superseded") else "dim"
            console.print(Text(line, style=style), soft_wrap=True)
        for line in _skipped(result, options) + _footer(result.index, result.scanned_at, options):
            console.print(Text(line, style="dim"), soft_wrap=True)
        for line in _hygiene(result):
            console.print(Text(line, style="yellow"), soft_wrap=True)
        return out.getvalue()


def _console(out: io.StringIO, width: int) -> Console:
    """A console that writes ANSI colours to a string, the same on every machine.

    Whether to colour is the CLI's decision (``ReportOptions.color``), so the environment
    (``NO_COLOR``, ``COLUMNS``, ``TERM``) is not consulted here; markup and highlighting are
    off so that text from a feed is only ever text.
    """
    return Console(
        file=out,
        force_terminal=True,
        color_system="standard",
        width=width,
        markup=False,
        emoji=False,
        highlight=False,
        legacy_windows=False,
        _environ={},
    )


def _paths(group: PackageFindings) -> list[str]:
    """Where the package came from, as the plain report shows it under the name."""
    package = group.package
    lines = []
    if package.derivation:
        lines.append(f"derivation: {clean_text(package.derivation)}")
    if package.store_path:
        lines.append(f"store path: {clean_text(package.store_path)}")
    if package.identified_from is IdentifiedFrom.STORE_PATH_NAME:
        lines.append("identified from: store path name (no .drv on this host: patches unknown)")
    return [*lines, f"closure: {package.closure.value}"]


def _processes_line(group: PackageFindings) -> str | None:
    """The processes that have the package loaded (``scan --running``), or None."""
    processes = group.package.processes
    return f"running: {processes_text(processes)}" if processes else None


def _running(result: ScanResult) -> list[str]:
    """What ``--running`` inspected, then one line per package that needs a restart."""
    summary = running_line(result)
    if summary is None or result.running is None:
        return []
    return ["", summary, *(restart_message(r) for r in result.running.needs_restart)]


def _table(group: PackageFindings, options: ReportOptions) -> Table:
    """One package's findings: affected ones, then those the options show, dimmed."""
    statuses = [TriageStatus.AFFECTED]
    statuses += (
        [TriageStatus.WHITELISTED, TriageStatus.NOT_AFFECTED] if options.show_whitelisted else []
    )
    statuses += [TriageStatus.PATCHED] if options.verbosity >= 1 else []
    rows = [f for status in statuses for f in group.with_status(status)]
    details = [_details(f, options) for f in rows]
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("CVE", no_wrap=True)
    table.add_column("SCORE", justify="right")
    table.add_column("SEVERITY")
    if len(statuses) > 1:
        table.add_column("STATUS")
    if any(details):
        table.add_column("DETAILS", overflow="fold")
    for triaged, detail in zip(rows, details, strict=True):
        table.add_row(*_cells(triaged, detail, len(statuses) > 1, any(details)))
    return table


def _cells(triaged: TriagedFinding, detail: str, status: bool, details: bool) -> list[Text]:
    severity = clean_text(triaged.details.severity) if triaged.details.severity else "-"
    dim = "" if triaged.status is TriageStatus.AFFECTED else "dim"
    cells = [
        Text(clean_text(triaged.finding.cve_id), style=dim),
        Text(score_text(triaged), style=dim),
        Text(severity, style=_SEVERITY_STYLE.get(severity.upper(), "dim")),
    ]
    cells += [Text(triaged.status.value, style=dim)] if status else []
    cells += [Text(detail, style=dim)] if details else []
    return cells


def _details(triaged: TriagedFinding, options: ReportOptions) -> str:
    """What the plain report indents under a row, as one cell."""
    parts = []
    if triaged.status is not TriageStatus.AFFECTED or triaged.reason:
        parts.append(f"reason: {clean_text(triaged.reason or triaged.status.value)}")
        if triaged.issue_url:
            parts.append(f"issue: {clean_text(triaged.issue_url)}")
    if options.show_description:
        parts.append(shorten(triaged.details.description, MAX_DESCRIPTION) or "(no description)")
    if options.verbosity >= 1:
        finding = triaged.finding
        parts.append(f"{NVD_DETAIL_URL}{clean_text(finding.cve_id)}")
        evidence = f"matched: {clean_text(finding.criteria)}"
        if finding.version_range:
            evidence += f", versions {clean_text(finding.version_range)}"
        parts.append(evidence)
        parts.append(
            f"source: {finding.source}, mapping: {clean_text(finding.mapping)}, "
            f"confidence: {finding.confidence.value}"
        )
    return "\n".join(parts)


def _row(cve: str, score: str, severity: str) -> str:
    return f"{cve:<{_CVE_WIDTH}} {score:>5}  {severity}"


def _visible(group: PackageFindings, options: ReportOptions) -> bool:
    """Does the package have anything these options show?"""
    statuses = {f.status for f in group.findings}
    return (
        TriageStatus.AFFECTED in statuses
        or (options.show_whitelisted and TriageStatus.WHITELISTED in statuses)
        or (options.show_whitelisted and TriageStatus.NOT_AFFECTED in statuses)
        or (options.verbosity >= 1 and TriageStatus.PATCHED in statuses)
    )


def _package_order(group: PackageFindings) -> tuple[int, float, str, str]:
    """Affected packages first, worst score first (unscored last), then by name and key."""
    affected = bool(group.with_status(TriageStatus.AFFECTED))
    worst = group.worst_score(TriageStatus.AFFECTED if affected else None)
    return (
        0 if affected else 1,
        -worst if worst is not None else 1.0,
        group.package.name,
        group.package.key,
    )


def _header(result: ScanResult, groups: list[PackageFindings], options: ReportOptions) -> list[str]:
    """What the scan found, in a sentence or three."""
    vulnerable = sum(1 for g in groups if g.with_status(TriageStatus.AFFECTED))
    whitelisted_only = sum(
        1
        for g in groups
        if g.with_status(TriageStatus.WHITELISTED) and not g.with_status(TriageStatus.AFFECTED)
    )
    patched = sum(len(g.with_status(TriageStatus.PATCHED)) for g in groups)
    not_affected = sum(len(g.with_status(TriageStatus.NOT_AFFECTED)) for g in groups)
    if vulnerable:
        lines = [f"{_plural(vulnerable, 'derivation')} with active advisories"]
    else:
        lines = [f"Found no active advisories in {_plural(len(result.packages), 'package')}."]
    if whitelisted_only and not options.show_whitelisted:
        lines.append(
            f"{_plural(whitelisted_only, 'derivation')} left out due to whitelisting"
            " (shown with --show-whitelisted)"
        )
    if not_affected and not options.show_whitelisted:
        lines.append(
            f"{_plural(not_affected, 'CVE')} left out because a VEX statement says not affected"
            " (shown with --show-whitelisted)"
        )
    if by_name := derivationless_count(result):
        lines.append(
            f"{_plural(by_name, 'package')} identified from the store path name: no .drv on this"
            " host, so applied patches are unknown"
        )
    if patched and options.verbosity < 1:
        lines.append(
            f"{_plural(patched, 'CVE')} left out as fixed, by a patch named after them"
            " or a VEX statement (shown with -v)"
        )
    return lines


def _hygiene(result: ScanResult) -> list[str]:
    """Whitelist hygiene warnings, last: what to clean up once the findings are dealt with."""
    messages = hygiene_messages(result.hygiene)
    if not messages:
        return []
    return ["", *(f"warning: {m}" for m in messages)]


def _skipped(result: ScanResult, options: ReportOptions) -> list[str]:
    """Inputs deliberately not scanned, with why (shown with -v)."""
    if options.verbosity < 1 or not result.skipped:
        return []
    lines = ["", f"Skipped {_plural(len(result.skipped), 'input')}:"]
    lines += [f"  {clean_text(s.what)}: {clean_text(s.reason)}" for s in result.skipped]
    return lines


def _footer(
    index: IndexStatus | None, scanned_at: datetime | None, options: ReportOptions
) -> list[str]:
    """Where the advisory data came from and how old it was at scan time."""
    if index is None:
        return []
    if index.last_update is None:
        updated = "never updated"
    else:
        updated = f"updated {_utc(index.last_update):%Y-%m-%d %H:%M} UTC"
        if scanned_at is not None:
            age = (_utc(scanned_at) - _utc(index.last_update)).total_seconds() / 3600
            updated += f" ({_age(age)} before this scan)"
    lines = ["", f"Advisory index: {index.records:,} records, {updated}"]
    if options.verbosity >= 1:
        lines.append(f"  path: {clean_text(index.path)}")
        if index.source:
            lines.append(f"  source: {clean_text(index.source)}")
    return lines


def _utc(moment: datetime) -> datetime:
    """An aware time in UTC; a naive one is taken to be UTC already."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _age(hours: float) -> str:
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours / 24:.1f} days"
