"""Reading stored closures back as the scanner's own packages, findings and triage."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import date
from typing import Any

import msgspec
from sqlalchemy import Connection, Row, select

from nix_audit.fleet.central_triage import TriageSet
from nix_audit.fleet.tables import advisories, closure_findings, closure_packages
from nix_audit.models import (
    AdvisoryDetails,
    Closure,
    Confidence,
    Finding,
    IdentifiedFrom,
    Package,
    TriagedFinding,
    TriageStatus,
)
from nix_audit.triage.apply import triage

__all__ = [
    "SEVERITY_LABELS",
    "SEVERITY_RANK",
    "advisory_details",
    "closure_package_list",
    "package_from_row",
    "severity_rank",
    "stored_findings",
    "triaged_findings",
]

#: Worst-first order of a host: critical 5 ... low 2, a finding without a score 1, nothing 0.
SEVERITY_RANK = {"CRITICAL": 5, "HIGH": 4, "MEDIUM": 3, "LOW": 2}
#: A rank's label: host_status columns, the pages' colours, the API's severity fields.
SEVERITY_LABELS = {5: "critical", 4: "high", 3: "medium", 2: "low", 1: "unscored", 0: "none"}

_DETAILS = msgspec.json.Decoder(AdvisoryDetails)


def severity_rank(details: AdvisoryDetails) -> int:
    return SEVERITY_RANK.get((details.severity or "").upper(), 1)


def package_from_row(row: Row[Any]) -> Package:
    return Package(
        name=row.name,
        pname=row.pname,
        version=row.version,
        derivation=row.derivation,
        store_path=row.store_path,
        closure=Closure.BUILDTIME if row.buildtime else Closure.RUNTIME,
        patched_cves=frozenset(json.loads(row.patched_cves)),
        source_urls=tuple(json.loads(row.source_urls)),
        cpes=tuple(json.loads(row.cpes)),
        identified_from=IdentifiedFrom(row.identified_from),
    )


def closure_package_list(c: Connection, closure_id: int) -> list[tuple[int, Package]]:
    """A stored closure's packages with their index in the closure."""
    rows = c.execute(
        select(closure_packages)
        .where(closure_packages.c.closure_id == closure_id)
        .order_by(closure_packages.c.idx)
    )
    return [(r.idx, package_from_row(r)) for r in rows]


def stored_findings(c: Connection, closure_id: int, cve_id: str | None = None) -> list[Finding]:
    """The untriaged findings of a closure (of one CVE only, when given)."""
    query = (
        select(closure_findings, closure_packages)
        .join(
            closure_packages,
            (closure_packages.c.closure_id == closure_findings.c.closure_id)
            & (closure_packages.c.idx == closure_findings.c.idx),
        )
        .where(closure_findings.c.closure_id == closure_id)
        .order_by(closure_findings.c.idx, closure_findings.c.cve_id)
    )
    if cve_id is not None:
        query = query.where(closure_findings.c.cve_id == cve_id)
    return [
        Finding(
            package=package_from_row(r),
            cve_id=r.cve_id,
            criteria=r.criteria,
            version_range=r.version_range,
            mapping=r.mapping,
            confidence=Confidence(r.confidence),
            source=r.source,
        )
        for r in c.execute(query)
    ]


def advisory_details(c: Connection, cve_ids: Collection[str]) -> dict[str, AdvisoryDetails]:
    out: dict[str, AdvisoryDetails] = {}
    wanted = sorted(cve_ids)
    for start in range(0, len(wanted), 500):  # bound the IN list (SQLite's variable limit)
        chunk = wanted[start : start + 500]
        rows = c.execute(
            select(advisories.c.cve_id, advisories.c.details).where(advisories.c.cve_id.in_(chunk))
        )
        out.update((r.cve_id, _DETAILS.decode(r.details)) for r in rows)
    return out


def triaged_findings(
    c: Connection,
    findings: Sequence[Finding],
    triage_set: TriageSet,
    scope: Iterable[int],
    *,
    today: date,
) -> list[TriagedFinding]:
    """The findings as ``scan`` would triage them with the host's share of central triage."""
    whitelist, vex = triage_set.for_scope(tuple(scope))
    details = advisory_details(c, {f.cve_id for f in findings})
    return triage(findings, details, whitelist, today=today, vex=vex)


def is_open(finding: TriagedFinding) -> bool:
    return finding.status is TriageStatus.AFFECTED
