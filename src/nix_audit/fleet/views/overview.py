"""Fleet view: the overview."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select

from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.findings import SEVERITY_LABELS
from nix_audit.fleet.registry import aware
from nix_audit.fleet.tables import (
    closures,
    host_status,
    hosts,
    reports,
)

__all__ = [
    "FleetOverview",
    "FleetTotals",
    "HostSummary",
    "SeverityCounts",
    "SuppressedCounts",
    "fleet_overview",
]


@dataclass(frozen=True, slots=True)
class SeverityCounts:
    """Open findings by severity; ``unscored``: the advisory has no CVSS score."""

    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    unscored: int = 0
    total: int = 0


@dataclass(frozen=True, slots=True)
class SuppressedCounts:
    """Findings triage decided, by how."""

    whitelisted: int = 0
    not_affected: int = 0
    patched: int = 0


@dataclass(frozen=True, slots=True)
class HostSummary:
    """One host as the overview lists it.

    ``evaluated``: its current report has been triaged with some index; until then the counts
    are those of its previous report (or zero). ``late``: never reported, or its last report
    is older than its report interval.
    """

    name: str
    last_report_at: datetime | None
    report_interval: int  # seconds
    nixos_version: str | None
    system: str | None
    worst: int  # 5 critical, 4 high, 3 medium, 2 low, 1 unscored only, 0 none
    severity: str  # SEVERITY_LABELS[worst]
    open: SeverityCounts
    suppressed: SuppressedCounts
    packages: int
    evaluated: bool
    late: bool
    revoked: bool


@dataclass(frozen=True, slots=True)
class FleetTotals:
    hosts: int
    reporting: int  # hosts that reported at least once
    late: int
    revoked: int
    affected: int  # hosts with an open finding
    open: SeverityCounts
    suppressed: SuppressedCounts


@dataclass(frozen=True, slots=True)
class FleetOverview:
    hosts: tuple[HostSummary, ...]  # worst first, then most open findings, then by name
    totals: FleetTotals


def fleet_overview(database: FleetDatabase, now: datetime) -> FleetOverview:
    """Every host from its ``host_status`` row, in one query; ``now`` decides who is late."""
    with database.reading() as c:
        summaries = [summary_row(row, now) for row in c.execute(summary_query())]
    summaries.sort(key=lambda h: (-h.worst, -h.open.total, h.name))
    return FleetOverview(tuple(summaries), _totals(summaries))


def summary_query() -> Any:
    return (
        select(
            hosts.c.id,
            hosts.c.name,
            hosts.c.last_report_at,
            hosts.c.report_interval,
            hosts.c.revoked_at,
            hosts.c.current_report_id,
            reports.c.closure_id,
            reports.c.system,
            reports.c.nixos_version,
            closures.c.package_count,
            host_status,
        )
        .outerjoin(reports, reports.c.id == hosts.c.current_report_id)
        .outerjoin(closures, closures.c.id == reports.c.closure_id)
        .outerjoin(host_status, host_status.c.host_id == hosts.c.id)
    )


# host_status columns in the order of SeverityCounts' and SuppressedCounts' fields.
_OPEN_COLUMNS = ("critical", "high", "medium", "low", "unscored", "affected")
_SUPPRESSED_COLUMNS = ("whitelisted", "not_affected", "patched")


def summary_row(row: Row[Any], now: datetime) -> HostSummary:
    last = aware(row.last_report_at) if row.last_report_at is not None else None
    has_status = row.host_id is not None

    def count(column: str) -> int:
        return int(getattr(row, column)) if has_status else 0

    open_counts = SeverityCounts(*map(count, _OPEN_COLUMNS))
    return HostSummary(
        name=row.name,
        last_report_at=last,
        report_interval=row.report_interval,
        nixos_version=row.nixos_version,
        system=row.system,
        worst=count("worst"),
        severity=SEVERITY_LABELS[count("worst")],
        open=open_counts,
        suppressed=SuppressedCounts(*map(count, _SUPPRESSED_COLUMNS)),
        packages=row.package_count or 0,
        evaluated=has_status and row.report_id == row.current_report_id,
        late=last is None or now - last > timedelta(seconds=row.report_interval),
        revoked=row.revoked_at is not None,
    )


def _totals(summaries: Sequence[HostSummary]) -> FleetTotals:
    def total(field: str, of: str) -> int:
        return sum(getattr(getattr(h, of), field) for h in summaries)

    return FleetTotals(
        hosts=len(summaries),
        reporting=sum(h.last_report_at is not None for h in summaries),
        late=sum(h.late for h in summaries),
        revoked=sum(h.revoked for h in summaries),
        affected=sum(h.open.total > 0 for h in summaries),
        open=SeverityCounts(*(total(f.name, "open") for f in fields(SeverityCounts))),
        suppressed=SuppressedCounts(
            *(total(f.name, "suppressed") for f in fields(SuppressedCounts))
        ),
    )
