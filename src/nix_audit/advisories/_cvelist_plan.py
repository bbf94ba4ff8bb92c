"""The planning side of ``cvelist_fetch``: which CVE List baseline and deltas an update takes.

Asset names carry their time (cvelistV5 README, "Releases"): a baseline
``YYYY-MM-DD_all_CVEs_at_midnight.zip.zip`` stands for that day's midnight, a delta
``YYYY-MM-DD_delta_CVEs_at_HHMMZ.zip`` for that hour (UTC). A first load takes the newest
baseline and every delta since its midnight; later updates take the deltas since the last
one applied, or the newest baseline again when the listed deltas no longer reach back (the
gap rule, ``_gap``). Nothing here reads the network or the disk: places list ``Asset``s,
this module picks from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nix_audit.errors import FeedError

__all__ = ["Asset", "Listing", "assets_of", "last_applied", "plan"]

# Deltas are hourly; a listed delta this far past the last one applied means some are gone.
_DELTA_SPAN = timedelta(hours=1)
_DELTA_MARGIN = timedelta(minutes=30)

_BASELINE_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})_all_CVEs_at_midnight\.zip\.zip")
_DELTA_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})_delta_CVEs_at_(\d{2})(\d{2})Z\.zip")


@dataclass(frozen=True, slots=True)
class Asset:
    """One baseline or delta a place lists; ``where`` is its URL or file path."""

    name: str
    kind: str  # "baseline" | "delta"
    time: datetime  # the baseline's midnight, the delta's HHMMZ (UTC)
    where: str


@dataclass(frozen=True, slots=True)
class Listing:
    """The assets a place lists, and the ETag of the listing (Releases API only)."""

    assets: list[Asset]
    etag: str | None = None


def _asset(name: str, where: str) -> Asset | None:
    """The asset a file name stands for, or None for any other file (``end_of_day``, ...)."""
    if match := _BASELINE_NAME.fullmatch(name):
        kind, stamp = "baseline", f"{match[1]}T00:00"
    elif match := _DELTA_NAME.fullmatch(name):
        kind, stamp = "delta", f"{match[1]}T{match[2]}:{match[3]}"
    else:
        return None
    try:
        when = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    except ValueError:  # 2024-13-45: looks like an asset, is none
        return None
    return Asset(name, kind, when, where)


def last_applied(baseline: str | None, last_delta: str | None) -> datetime | None:
    """The time of the newest asset applied; None means a first load (or an unreadable state).

    ``baseline`` and ``last_delta`` are the asset names the index stored (``CveListState``).
    """
    if baseline is None:
        return None
    applied = _asset(last_delta or baseline, "")
    return applied.time if applied is not None else None


def plan(
    assets: Sequence[Asset], since: datetime | None, last_delta: str | None, where: str
) -> tuple[Asset | None, list[Asset]]:
    """The baseline to load (None: keep the one in use) and the deltas to apply after it.

    ``since`` is ``last_applied`` of the stored state (None: a first or full load) and
    ``last_delta`` the name of the newest delta applied; ``where`` names the place in errors.
    """
    deltas = sorted((a for a in assets if a.kind == "delta"), key=lambda a: a.time)
    baselines = sorted((a for a in assets if a.kind == "baseline"), key=lambda a: a.time)
    if since is not None:
        newer = [d for d in deltas if d.time > since]
        if not _gap(newer, {d.name for d in deltas}, last_delta, since, baselines):
            return None, newer
    if not baselines:
        raise FeedError(f"{where}: no baseline asset (YYYY-MM-DD_all_CVEs_at_midnight.zip.zip)")
    baseline = baselines[-1]
    return baseline, [d for d in deltas if d.time > baseline.time]


def _gap(
    newer: list[Asset],
    listed: set[str],
    last_delta: str | None,
    since: datetime,
    baselines: list[Asset],
) -> bool:
    """Whether records may be missing between the last applied asset and the newer ones.

    Still listed, the last delta applied proves the listing reaches back to it. Otherwise the
    oldest newer delta (or, with none, a newer baseline) must follow within an hour and the
    margin; a newer baseline alone never forces a reload while the deltas cover the gap.
    """
    if last_delta is not None and last_delta in listed:
        return False
    next_time = newer[0].time if newer else baselines[-1].time if baselines else None
    return next_time is not None and next_time - since > _DELTA_SPAN + _DELTA_MARGIN


def assets_of(files: Iterable[tuple[str, str]]) -> list[Asset]:
    """The assets among ``(file name, where)`` pairs: other files dropped, and of repeated
    names the first kept (a day's baseline is attached to every release of that day)."""
    seen: dict[str, Asset] = {}
    for name, where in files:
        made = _asset(name, where)
        if made is not None:
            seen.setdefault(made.name, made)
    return list(seen.values())
