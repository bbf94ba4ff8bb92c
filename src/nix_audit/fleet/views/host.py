"""Fleet view: one host."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from nix_audit.fleet.central_triage import TriageSet, load_documents
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.findings import (
    SEVERITY_LABELS,
    severity_rank,
    stored_findings,
    triaged_findings,
)
from nix_audit.fleet.registry import UnknownHostError, aware
from nix_audit.fleet.tables import (
    closures,
    hosts,
    reports,
)
from nix_audit.fleet.views._shared import HISTORY_LIMIT
from nix_audit.fleet.views.overview import HostSummary, summary_query, summary_row
from nix_audit.models import TriagedFinding
from nix_audit.reporters import cve_sort_key

__all__ = [
    "HostFinding",
    "HostReportEntry",
    "HostView",
    "host_view",
]


@dataclass(frozen=True, slots=True)
class HostFinding:
    """A finding of the host's current closure, triaged for this host.

    ``new``: no finding of this CVE on a package of this name was in the closure the host ran
    before its current one (new since the previous deployment); False without such a closure.
    """

    cve_id: str
    package: str  # the full Nix name, openssl-1.0.1f
    pname: str
    version: str
    store_path: str | None
    closure: str  # "runtime" or "buildtime"
    status: str  # affected, whitelisted, patched, not_affected
    reason: str
    score: float | None
    severity: str  # SEVERITY_LABELS of its rank
    new: bool
    source: str = "nvd"  # which data decided the CVE (issue #12)


@dataclass(frozen=True, slots=True)
class HostReportEntry:
    """One report of the host; ``closure_changed``: it runs another closure than the report
    before it (a deployment), or it is the host's first report."""

    received_at: datetime
    closure: str  # digest
    nixos_version: str | None
    system: str | None
    closure_kind: str
    closure_changed: bool


@dataclass(frozen=True, slots=True)
class HostView:
    host: HostSummary
    findings: tuple[HostFinding, ...]  # open first, then worst first
    history: tuple[HostReportEntry, ...]  # newest first, at most HISTORY_LIMIT
    previous_closure: str | None  # the digest ``new`` compares with


def host_view(database: FleetDatabase, name: str, now: datetime) -> HostView:
    """One host; raises ``UnknownHostError`` (404) for a name no host has."""
    triage_set = TriageSet(load_documents(database))
    with database.reading() as c:
        row = c.execute(summary_query().where(hosts.c.name == name)).first()
        if row is None:
            raise UnknownHostError(f"no host named {name!r}")
        history = _history(c, row.id)
        findings: list[HostFinding] = []
        previous: tuple[str, set[tuple[str, str]]] | None = None
        if row.closure_id is not None:
            previous = _previous_findings(c, row.id, row.closure_id)
            triaged = triaged_findings(
                c,
                stored_findings(c, row.closure_id),
                triage_set,
                triage_set.scope_of(name),
                today=now.date(),
            )
            seen = previous[1] if previous is not None else None
            findings = [_host_finding(t, seen) for t in triaged]
    findings.sort(key=_finding_order)
    return HostView(
        summary_row(row, now),
        tuple(findings),
        tuple(history),
        previous[0] if previous is not None else None,
    )


def _history(c: Connection, host_id: int) -> list[HostReportEntry]:
    """The newest reports; one more row is read to tell whether the oldest shown changed the
    closure."""
    rows = c.execute(
        select(reports, closures.c.digest)
        .join(closures, closures.c.id == reports.c.closure_id)
        .where(reports.c.host_id == host_id)
        .order_by(reports.c.received_at.desc(), reports.c.id.desc())
        .limit(HISTORY_LIMIT + 1)
    ).all()
    return [
        HostReportEntry(
            aware(r.received_at),
            r.digest,
            r.nixos_version,
            r.system,
            r.closure_kind,
            i + 1 == len(rows) or rows[i + 1].closure_id != r.closure_id,
        )
        for i, r in enumerate(rows[:HISTORY_LIMIT])
    ]


def _previous_findings(
    c: Connection, host_id: int, current: int
) -> tuple[str, set[tuple[str, str]]] | None:
    """The closure the host ran before ``current`` and its (pname, CVE) findings; None when
    there was none, or it was never matched (it would make every finding look new)."""
    row = c.execute(
        select(closures.c.id, closures.c.digest, closures.c.matched_generation)
        .join(reports, reports.c.closure_id == closures.c.id)
        .where(reports.c.host_id == host_id, reports.c.closure_id != current)
        .order_by(reports.c.received_at.desc(), reports.c.id.desc())
        .limit(1)
    ).first()
    if row is None or row.matched_generation is None:
        return None
    # Its findings are from the index it was last matched with: a CVE published since then
    # shows as new, which for this host it is.
    return row.digest, {(f.package.pname, f.cve_id) for f in stored_findings(c, row.id)}


def _host_finding(t: TriagedFinding, seen: set[tuple[str, str]] | None) -> HostFinding:
    package = t.finding.package
    return HostFinding(
        cve_id=t.finding.cve_id,
        package=package.name,
        pname=package.pname,
        version=package.version,
        store_path=package.store_path,
        closure=package.closure.value,
        status=t.status.value,
        reason=t.reason,
        score=t.details.score,
        severity=SEVERITY_LABELS[severity_rank(t.details)],
        new=seen is not None and (package.pname, t.finding.cve_id) not in seen,
        source=t.finding.source,
    )


_RANK_OF = {label: rank for rank, label in SEVERITY_LABELS.items()}


def _finding_order(f: HostFinding) -> tuple[object, ...]:
    return (
        f.status != "affected",
        -_RANK_OF[f.severity],
        -(f.score or 0.0),
        cve_sort_key(f.cve_id),
        f.package,
    )
