"""JSON report: one document, schema version 1, described in ``docs/json-schema.md``.

Each element of ``derivations`` carries vulnix's keys (``name``, ``pname``, ``version``,
``derivation``, ``affected_by``, ``whitelisted``, ``cvssv3_basescore``, ``description``) so
scripts written for ``vulnix --json`` keep working, and ours beside them. Strings are kept as
the feed gave them; the document is written with ``ensure_ascii`` so that no control
character reaches a terminal raw.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from nix_audit import __version__
from nix_audit.models import (
    CveListStatus,
    FeedState,
    HygieneRule,
    IndexStatus,
    RestartNeeded,
    RunningProcess,
    RunningSummary,
    ScanResult,
    TriagedFinding,
    TriageHygiene,
    TriageStatus,
)
from nix_audit.reporters import (
    PackageFindings,
    cve_sort_key,
    derivationless_count,
    group_findings,
)
from nix_audit.reporters.interface import Reporter, ReportOptions

__all__ = ["SCHEMA_VERSION", "JsonReporter"]

SCHEMA_VERSION = 1  # raise on any incompatible change; docs/json-schema.md has the history

JsonObject = dict[str, Any]


class JsonReporter(Reporter):
    """The ``--json`` report."""

    def __init__(self, tool_version: str = __version__) -> None:
        self.tool_version = tool_version

    def render(self, result: ScanResult, options: ReportOptions) -> str:
        groups = group_findings(result.findings)
        shown = [g for g in groups if _included(g, options)]
        shown.sort(key=lambda g: (g.package.name, g.package.key))
        document: JsonObject = {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "nix-audit", "version": self.tool_version},
            "scanned_at": _timestamp(result.scanned_at),
            "database": database_json(result.index, result.scanned_at),
            "summary": _summary(result, groups),
            "derivations": [_derivation(g) for g in shown],
            "skipped": [{"what": s.what, "reason": s.reason} for s in result.skipped],
            "warnings": list(result.warnings),
            "triage_hygiene": _hygiene(result.hygiene),
            "running": _running(result.running),
        }
        return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def _included(group: PackageFindings, options: ReportOptions) -> bool:
    """vulnix lists a derivation whose CVEs are all whitelisted only with ``-s``; so do we,
    counting patched CVEs as whitelisted (vulnix treats such patches as whitelist entries),
    and CVEs a VEX statement calls not affected too."""
    if group.with_status(TriageStatus.AFFECTED):
        return True
    return options.show_whitelisted or (
        options.verbosity >= 1 and bool(group.with_status(TriageStatus.PATCHED))
    )


def _utc(moment: datetime) -> datetime:
    """An aware time in UTC; a naive one is taken to be UTC already."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _timestamp(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC (``2026-05-01T12:00:00Z``)."""
    return None if moment is None else _utc(moment).isoformat().replace("+00:00", "Z")


def database_json(index: IndexStatus | None, scanned_at: datetime | None) -> JsonObject | None:
    """The ``database`` object of the report; ``db status --json`` prints it too."""
    if index is None:
        return None
    age = None
    if index.last_update is not None and scanned_at is not None:
        seconds = (_utc(scanned_at) - _utc(index.last_update)).total_seconds()
        age = round(seconds / 3600, 2)
    return {
        "path": index.path,
        "records": index.records,
        "last_update": _timestamp(index.last_update),
        "age_hours": age,
        "source": index.source,
        "feeds": [_feed(f) for f in sorted(index.feeds, key=lambda f: f.name)],
        "cve_list": _cve_list(index.cve_list),
    }


def _cve_list(status: CveListStatus | None) -> JsonObject | None:
    if status is None:
        return None
    return {
        "location": status.location,
        "records": status.records,
        "last_update": _timestamp(status.last_update),
        "baseline": status.baseline,
        "last_delta": status.last_delta,
    }


def _feed(feed: FeedState) -> JsonObject:
    return {
        "name": feed.name,
        "records": feed.records,
        "fetched_at": _timestamp(feed.fetched_at),
        "feed_timestamp": feed.feed_timestamp,
        "etag": feed.etag,
        "last_modified": feed.last_modified,
    }


def _summary(result: ScanResult, groups: list[PackageFindings]) -> JsonObject:
    def count(status: TriageStatus) -> int:
        return sum(len(g.with_status(status)) for g in groups)

    return {
        "packages": len(result.packages),
        "vulnerable": sum(1 for g in groups if g.with_status(TriageStatus.AFFECTED)),
        "findings": sum(len(g.findings) for g in groups),
        "affected": count(TriageStatus.AFFECTED),
        "whitelisted": count(TriageStatus.WHITELISTED),
        "patched": count(TriageStatus.PATCHED),
        "not_affected": count(TriageStatus.NOT_AFFECTED),
        "identified_from_store_path_name": derivationless_count(result),
    }


def _derivation(group: PackageFindings) -> JsonObject:
    """One package: vulnix's keys first, then ours."""
    package = group.package
    findings = sorted(group.findings, key=lambda f: cve_sort_key(f.finding.cve_id))

    def ids(status: TriageStatus) -> list[str]:
        return [f.finding.cve_id for f in findings if f.status is status]

    return {
        "name": package.name,
        "pname": package.pname,
        "version": package.version,
        "derivation": package.derivation,
        "affected_by": ids(TriageStatus.AFFECTED),
        "whitelisted": ids(TriageStatus.WHITELISTED),
        "cvssv3_basescore": {f.finding.cve_id: f.details.cvss_v3 for f in findings},
        "description": {f.finding.cve_id: f.details.description for f in findings},
        "store_path": package.store_path,
        "closure": package.closure.value,
        "patched": ids(TriageStatus.PATCHED),
        "not_affected": ids(TriageStatus.NOT_AFFECTED),
        "identified_from": package.identified_from.value,
        "processes": [_process(p) for p in package.processes],
        "findings": [_finding(f) for f in findings],
    }


def _finding(triaged: TriagedFinding) -> JsonObject:
    finding, details = triaged.finding, triaged.details
    return {
        "cve": finding.cve_id,
        "status": triaged.status.value,
        "score": details.score,
        "severity": details.severity,
        "cvss_v2": details.cvss_v2,
        "cvss_v3": details.cvss_v3,
        "cvss_v4": details.cvss_v4,
        "criteria": finding.criteria,
        "version_range": finding.version_range,
        "mapping": finding.mapping,
        "confidence": finding.confidence.value,
        "source": finding.source,
        "reason": triaged.reason,
        "issue_url": triaged.issue_url,
        "justification": triaged.justification,
    }


def _process(process: RunningProcess) -> JsonObject:
    return {"pid": process.pid, "command": process.command, "unit": process.unit}


def _running(running: RunningSummary | None) -> JsonObject | None:
    """What ``scan --running`` inspected and what needs a restart (issue #8); null without."""
    if running is None:
        return None
    return {
        "processes": running.processes,
        "uninspectable": running.uninspectable,
        "store_paths": running.store_paths,
        "current_roots": list(running.current_roots),
        "needs_restart": [_restart(r) for r in running.needs_restart],
    }


def _restart(restart: RestartNeeded) -> JsonObject:
    return {
        "name": restart.name,
        "pname": restart.pname,
        "version": restart.version,
        "store_path": restart.store_path,
        "current_version": restart.current_version,
        "processes": [_process(p) for p in restart.processes],
    }


def _hygiene(hygiene: TriageHygiene | None) -> JsonObject | None:
    """The whitelist hygiene checks (issue #5); null when no whitelist was checked."""
    if hygiene is None:
        return None
    return {
        "unused": [_rule(r) for r in hygiene.unused],
        "expired": [_rule(r) for r in hygiene.expired],
        "broad": [_rule(r) for r in hygiene.broad],
        "vulnix_quirks": [{**_rule(r), "note": note} for r, note in hygiene.vulnix_quirks],
    }


def _rule(rule: HygieneRule) -> JsonObject:
    return {
        "rule": rule.key,
        "origin": rule.origin,
        "cves": None if rule.cves is None else list(rule.cves),
        "until": None if rule.until is None else rule.until.isoformat(),
        "comment": rule.comment,
    }
