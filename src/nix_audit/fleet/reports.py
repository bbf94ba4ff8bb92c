"""Accepting a host's report: store its closure once per digest, point the host at it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.protocol import HostReport, ProtocolError, ReportedPackage, closure_digest
from nix_audit.fleet.registry import Host
from nix_audit.fleet.tables import closure_packages, closures, hosts, reports

__all__ = ["ForeignHostError", "ReportReceipt", "record_report"]


class ForeignHostError(ProtocolError):
    """A token used to report for a host that is not its own (issue #7)."""


@dataclass(frozen=True, slots=True)
class ReportReceipt:
    """What the server answers: the stored report and whether its closure was new."""

    report_id: int
    closure: str  # the digest
    new_closure: bool
    matched: bool  # the closure already has findings from the current index


def record_report(
    database: FleetDatabase, host: Host, report: HostReport, *, generation: str | None
) -> ReportReceipt:
    """Store one report of ``host``; raises :class:`ForeignHostError` for another host's name."""
    if report.hostname != host.name:
        raise ForeignHostError(
            f"this token belongs to host {host.name!r}, not to {report.hostname!r}"
        )
    digest = closure_digest(report)
    now = datetime.now(UTC)
    with database.writing() as c:
        closure_id, new = _closure_id(c, digest, report.packages, now)
        report_id = c.execute(
            insert(reports)
            .values(
                host_id=host.id,
                closure_id=closure_id,
                received_at=now,
                system=report.system,
                nixos_version=report.nixos_version,
                closure_kind=report.closure_kind,
            )
            .returning(reports.c.id)
        ).scalar_one()
        c.execute(
            update(hosts)
            .where(hosts.c.id == host.id)
            .values(last_report_at=now, current_report_id=report_id)
        )
        matched = c.execute(
            select(closures.c.matched_generation).where(closures.c.id == closure_id)
        ).scalar()
    return ReportReceipt(report_id, digest, new, generation is not None and matched == generation)


def _closure_id(
    c: Connection, digest: str, packages: list[ReportedPackage], now: datetime
) -> tuple[int, bool]:
    """The closure's id, inserting it with its packages when the digest is new.

    ``ON CONFLICT DO NOTHING``: two hosts sending the same new closure at once both succeed,
    and only the first stores the packages (on PostgreSQL the second waits for the first's
    commit on the unique index, then finds the row).
    """
    insert_ = (postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert)(closures)
    inserted = c.execute(
        insert_.values(digest=digest, package_count=len(packages), created_at=now)
        .on_conflict_do_nothing(index_elements=["digest"])
        .returning(closures.c.id)
    ).scalar()
    if inserted is None:
        return c.execute(
            select(closures.c.id).where(closures.c.digest == digest)
        ).scalar_one(), False
    if packages:
        c.execute(insert(closure_packages), [_row(inserted, i, p) for i, p in enumerate(packages)])
    return inserted, True


def _row(closure_id: int, idx: int, p: ReportedPackage) -> dict[str, object]:
    return {
        "closure_id": closure_id,
        "idx": idx,
        "name": p.name,
        "pname": p.pname,
        "version": p.version,
        "store_path": p.store_path,
        "derivation": p.derivation,
        "buildtime": p.buildtime,
        "patched_cves": json.dumps(p.patched_cves),
        "source_urls": json.dumps(p.source_urls),
        "cpes": json.dumps(p.cpes),
        "identified_from": p.identified_from,
    }
