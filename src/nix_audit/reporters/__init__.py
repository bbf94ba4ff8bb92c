"""reporters stage: one ScanResult in, one document out; helpers every format shares.

The helpers group findings by package (``Package.key``), order CVE ids and scores the same
way in every format, and make feed-supplied text safe to show on a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from nix_audit.models import (
    HygieneRule,
    IdentifiedFrom,
    Package,
    RestartNeeded,
    RunningProcess,
    ScanResult,
    TriagedFinding,
    TriageHygiene,
    TriageStatus,
)

__all__ = [
    "PackageFindings",
    "clean_text",
    "cve_sort_key",
    "derivationless_count",
    "finding_sort_key",
    "group_findings",
    "hygiene_messages",
    "plural",
    "process_text",
    "processes_text",
    "restart_for",
    "restart_message",
    "running_line",
    "score_text",
]

# Terminal escape sequences (ECMA-48, 5th ed., 5.3-5.4 and 8.3.89/8.3.128): CSI with its
# parameter, intermediate and final bytes; OSC/DCS/SOS/PM/APC strings up to BEL or ST; the
# remaining ESC + byte forms; and the 8-bit C1 forms of CSI and OSC.
_ESCAPE_SEQUENCE = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?
    | \x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?
    | \x1b[ -/]*[0-~]?
    | \x9b[0-?]*[ -/]*[@-~]?
    | [\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?
    """,
    re.VERBOSE,
)
# Left over after the sequences: C0 and C1 controls and DEL, and the Unicode bidirectional
# controls that can make text display in a different order than it reads (CVE-2021-42574).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\n\r\x0b\x0c]")
_CVE_PARTS = re.compile(r"CVE-(\d+)-(\d+)", re.IGNORECASE)


def clean_text(text: str) -> str:
    """``text`` as one line without escape sequences or control characters.

    Feed descriptions and package names come from others; a description holding
    ``ESC ] 0; ... BEL`` would otherwise retitle the user's terminal.
    """
    text = _LINE_BREAKS.sub(" ", text)
    text = _ESCAPE_SEQUENCE.sub("", text)
    return _CONTROL.sub("", text)


def cve_sort_key(cve_id: str) -> tuple[int, int, str]:
    """Numeric order: CVE-2014-9999 before CVE-2014-10000; odd ids last, by text."""
    match = _CVE_PARTS.fullmatch(cve_id)
    if match is None:
        return (1 << 30, 0, cve_id)
    return (int(match.group(1)), int(match.group(2)), cve_id)


def finding_sort_key(triaged: TriagedFinding) -> tuple[float, tuple[int, int, str]]:
    """Worst first: by score descending (unscored last), then by CVE id."""
    score = triaged.details.score
    return (-score if score is not None else 1.0, cve_sort_key(triaged.finding.cve_id))


def score_text(triaged: TriagedFinding) -> str:
    """The score as shown: CVSS v3, else v4, else v2, with one decimal; ``-`` for none."""
    score = triaged.details.score
    return "-" if score is None else f"{score:.1f}"


@dataclass(frozen=True, slots=True)
class PackageFindings:
    """One package (by ``Package.key``) and its findings, one per CVE, worst first."""

    package: Package
    findings: tuple[TriagedFinding, ...]

    def with_status(self, status: TriageStatus) -> tuple[TriagedFinding, ...]:
        """The findings that triage gave ``status``, in the same order."""
        return tuple(f for f in self.findings if f.status is status)

    def worst_score(self, status: TriageStatus | None = None) -> float | None:
        """The highest score among the findings (of ``status`` when given), or None."""
        chosen = self.findings if status is None else self.with_status(status)
        scores = [f.details.score for f in chosen if f.details.score is not None]
        return max(scores) if scores else None


def group_findings(findings: Iterable[TriagedFinding]) -> list[PackageFindings]:
    """Findings grouped by package, groups in order of first appearance.

    A matcher may report one CVE for one package through several criteria; a report shows
    it once, with the first finding's evidence, preferring an affected finding over others.
    """
    groups: dict[str, tuple[Package, dict[str, TriagedFinding]]] = {}
    for triaged in findings:
        package = triaged.finding.package
        _, by_cve = groups.setdefault(package.key, (package, {}))
        cve = triaged.finding.cve_id
        seen = by_cve.get(cve)
        if seen is None or (
            seen.status is not TriageStatus.AFFECTED and triaged.status is TriageStatus.AFFECTED
        ):
            by_cve[cve] = triaged
    return [
        PackageFindings(package, tuple(sorted(by_cve.values(), key=finding_sort_key)))
        for package, by_cve in groups.values()
    ]


def hygiene_messages(hygiene: TriageHygiene | None) -> list[str]:
    """One line per whitelist hygiene warning (issue #5): expired, then unused, then broad
    rules, each in file order. Empty when no whitelist was checked or all is well."""
    if hygiene is None:
        return []
    lines = [
        f"{_rule(r)} expired on {r.until:%Y-%m-%d}: the findings it hid are reported again;"
        " renew or remove it"
        for r in hygiene.expired
        if r.until is not None
    ]
    lines += [
        f"{_rule(r)} matched nothing in this scan: remove it if stale" for r in hygiene.unused
    ]
    lines += [
        f"{_rule(r)} has no cve list: it hides every version and every future CVE of "
        f"{clean_text(r.key)}"
        for r in hygiene.broad
    ]
    lines += [f"{_rule(r)}: {clean_text(note)}" for r, note in hygiene.vulnix_quirks]
    return lines


def _rule(rule: HygieneRule) -> str:
    return f'whitelist rule ["{clean_text(rule.key)}"] at {clean_text(rule.origin)}'


# --- what really runs (issue #8) -------------------------------------------------------------


def derivationless_count(result: ScanResult) -> int:
    """Scanned packages named after their store path: no ``.drv`` on the host (issue #8)."""
    return len(
        {p.key for p in result.packages if p.identified_from is IdentifiedFrom.STORE_PATH_NAME}
    )


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 package``, ``2 packages`` (``words``: an irregular plural)."""
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


def process_text(process: RunningProcess) -> str:
    """``pid 1234 (nginx, nginx.service)``; the unit is left out when there is none."""
    where = clean_text(process.command)
    if process.unit:
        where += f", {clean_text(process.unit)}"
    return f"pid {process.pid} ({where})"


def processes_text(processes: Iterable[RunningProcess]) -> str:
    """Processes as one comma-separated line, by pid."""
    return ", ".join(process_text(p) for p in processes)


def restart_message(restart: RestartNeeded) -> str:
    """One line per superseded package: what it is, what replaced it, what to restart."""
    if restart.current_version is None:
        now = "no longer in the current system"
    elif restart.current_version == restart.version:
        now = "the current system has another build of it"
    else:
        now = f"the current system has {clean_text(restart.current_version)}"
    return (
        f"loaded but superseded: {clean_text(restart.name)} ({now}): "
        f"restart these processes: {processes_text(restart.processes)}"
    )


def running_line(result: ScanResult) -> str | None:
    """What ``--running`` inspected, in a sentence; None when it was not used."""
    running = result.running
    if running is None:
        return None
    line = (
        f"Running processes: {running.processes} inspected, using "
        f"{plural(running.store_paths, 'store path')}; "
        f"{plural(len(running.needs_restart), 'superseded package')} loaded"
    )
    if running.uninspectable:
        line += f"; {plural(running.uninspectable, 'process', 'processes')} could not be"
        line += " inspected (see -v)"
    if not running.current_roots:
        line += "; no current system found, so no restart check was made"
    return line


def restart_for(result: ScanResult) -> dict[str, RestartNeeded]:
    """Needs-restart entries by store path, to mark the packages they describe."""
    if result.running is None:
        return {}
    return {r.store_path: r for r in result.running.needs_restart}
