"""Accepting a host's report and, once per digest, a closure's packages (issue #7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.protocol import (
    ClosureUpload,
    HostReport,
    ProtocolError,
    ReportedPackage,
    closure_digest,
)
from nix_audit.fleet.registry import Host
from nix_audit.fleet.tables import closure_packages, closures, hosts, reports

__all__ = [
    "ForeignHostError",
    "ReportReceipt",
    "UnknownClosureError",
    "closure_known",
    "record_report",
    "store_closure",
]


class ForeignHostError(ProtocolError):
    """A token used to report for a host that is not its own (answered 403)."""


class UnknownClosureError(ProtocolError):
    """A report of a closure the server has not received yet (answered 409: upload it)."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"closure {digest} is unknown here: upload its packages first")
        self.digest = digest


@dataclass(frozen=True, slots=True)
class ReportReceipt:
    """What the server answers: the stored report, and whether its closure is matched."""

    report_id: int
    closure: str  # the digest
    matched: bool  # already matched against the current index


def closure_known(database: FleetDatabase, digest: str) -> bool:
    with database.reading() as c:
        return (
            c.execute(select(closures.c.id).where(closures.c.digest == digest)).first() is not None
        )


def store_closure(database: FleetDatabase, digest: str, upload: ClosureUpload) -> bool:
    """Store a closure's packages under their digest; False when it was there already.

    Raises :class:`ProtocolError` when the packages do not hash to ``digest`` (the digest
    names the content; a host cannot file packages under another closure's name).
    """
    actual = closure_digest(upload.packages)
    if actual != digest:
        raise ProtocolError(f"the packages hash to {actual}, not to {digest}")
    with database.writing() as c:
        return _insert_closure(c, digest, upload.packages, datetime.now(UTC))


def _insert_closure(
    c: Connection, digest: str, packages: tuple[ReportedPackage, ...], now: datetime
) -> bool:
    """``ON CONFLICT DO NOTHING``: two hosts uploading the same new closure at once both
    succeed, and only the first stores the packages (on PostgreSQL the second waits for the
    first's commit on the unique index, then finds the row)."""
    insert_ = (postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert)(closures)
    inserted = c.execute(
        insert_.values(digest=digest, package_count=len(packages), created_at=now)
        .on_conflict_do_nothing(index_elements=["digest"])
        .returning(closures.c.id)
    ).scalar()
    if inserted is None:
        return False
    if packages:
        c.execute(insert(closure_packages), [_row(inserted, i, p) for i, p in enumerate(packages)])
    return True


def record_report(
    database: FleetDatabase, host: Host, report: HostReport, *, generation: str | None
) -> ReportReceipt:
    """Store one report of ``host``; raises :class:`ForeignHostError` for another host's
    name and :class:`UnknownClosureError` for a closure not uploaded yet."""
    if report.hostname != host.name:
        raise ForeignHostError(
            f"this token belongs to host {host.name!r}, not to {report.hostname!r}"
        )
    now = datetime.now(UTC)
    with database.writing() as c:
        closure = c.execute(
            select(closures.c.id, closures.c.matched_generation).where(
                closures.c.digest == report.closure
            )
        ).first()
        if closure is None:
            raise UnknownClosureError(report.closure)
        report_id = c.execute(
            insert(reports)
            .values(
                host_id=host.id,
                closure_id=closure.id,
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
    matched = generation is not None and closure.matched_generation == generation
    return ReportReceipt(report_id, report.closure, matched)


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
        "patched_cves": _json_list(p.patched_cves),
        "source_urls": _json_list(p.source_urls),
        "cpes": _json_list(p.cpes),
        "identified_from": p.identified_from,
    }


def _json_list(items: tuple[str, ...]) -> str:
    # Most packages have none: skip the encoder for them (60,000 rows per 20 closures).
    return msgspec.json.encode(items).decode() if items else "[]"
