"""Fleet view: one CVE."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from nix_audit.fleet.central_triage import TriageSet, load_documents
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.findings import (
    advisory_details,
    stored_findings,
    triaged_findings,
)
from nix_audit.fleet.tables import (
    closure_findings,
)
from nix_audit.fleet.views._shared import CVE_ID, InvalidCveIdError, UnknownCveError, current_groups
from nix_audit.models import AdvisoryDetails, TriagedFinding

__all__ = [
    "CveDetails",
    "CveHost",
    "CveView",
    "cve_view",
]


@dataclass(frozen=True, slots=True)
class CveDetails:
    cve_id: str
    description: str
    published: str
    last_modified: str
    status: str  # the NVD's vulnStatus
    score: float | None
    severity: str | None
    cvss_v3_vector: str | None


@dataclass(frozen=True, slots=True)
class CveHost:
    """A host whose current closure has a finding of the CVE, triaged for that host."""

    host: str
    package: str
    pname: str
    version: str
    store_path: str | None
    closure: str
    status: str
    reason: str


@dataclass(frozen=True, slots=True)
class CveView:
    cve: CveDetails
    hosts: tuple[CveHost, ...]  # open first, then by host and package
    open_hosts: int


def cve_view(database: FleetDatabase, cve_id: str, now: datetime) -> CveView:
    """One CVE (any case); ``InvalidCveIdError`` for a malformed id, ``UnknownCveError`` for
    one no host has and the server keeps no details of."""
    cve_id = cve_id.upper()
    if not CVE_ID.fullmatch(cve_id):
        raise InvalidCveIdError(f"{cve_id!r} is not a CVE id (CVE-YYYY-NNNN)")
    triage_set = TriageSet(load_documents(database))
    rows: list[CveHost] = []
    with database.reading() as c:
        details = advisory_details(c, [cve_id]).get(cve_id)
        having = set(
            c.execute(
                select(closure_findings.c.closure_id).where(closure_findings.c.cve_id == cve_id)
            ).scalars()
        )
        for (closure_id, scope), names in current_groups(c, triage_set).items():
            if closure_id not in having:
                continue
            found = stored_findings(c, closure_id, cve_id)
            for t in triaged_findings(c, found, triage_set, scope, today=now.date()):
                rows.extend(_cve_host(name, t) for name in names)
    if details is None and not rows:
        raise UnknownCveError(f"no host has {cve_id}, and the server knows nothing of it")
    rows.sort(key=lambda h: (h.status != "affected", h.host, h.package))
    d = details or AdvisoryDetails(cve_id=cve_id)
    info = CveDetails(
        cve_id, d.description, d.published, d.last_modified, d.status, d.score, d.severity,
        d.cvss_v3_vector,
    )  # fmt: skip
    hosts_open = len({h.host for h in rows if h.status == "affected"})
    return CveView(info, tuple(rows), hosts_open)


def _cve_host(host: str, t: TriagedFinding) -> CveHost:
    p = t.finding.package
    return CveHost(
        host, p.name, p.pname, p.version, p.store_path, p.closure.value, t.status.value, t.reason
    )
