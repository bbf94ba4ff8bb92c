"""Fleet view: trend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.registry import aware
from nix_audit.fleet.tables import (
    trend,
)

__all__ = [
    "TrendPoint",
    "TrendView",
    "trend_view",
]


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """The fleet after one evaluation pass."""

    at: datetime
    hosts: int  # hosts evaluated
    hosts_affected: int  # with an open finding
    open: int  # open findings over the fleet
    critical: int


@dataclass(frozen=True, slots=True)
class TrendView:
    since: datetime
    points: tuple[TrendPoint, ...]  # oldest first


def trend_view(database: FleetDatabase, since: datetime) -> TrendView:
    """The trend points recorded from ``since`` on."""
    with database.reading() as c:
        rows = c.execute(
            select(trend).where(trend.c.at >= since).order_by(trend.c.at, trend.c.id)
        ).all()
    points = tuple(
        TrendPoint(aware(r.at), r.hosts, r.hosts_affected, r.affected, r.critical) for r in rows
    )
    return TrendView(since, points)
