"""Neutralising helpers the report formats share beyond ``clean_text`` (issue #6).

Feed descriptions and package names are untrusted: they may hold terminal escapes, markup or
a megabyte of text. ``clean_text`` (in ``reporters/__init__``) removes controls; the helpers
here bound the length for formats a human reads (text, nagios, HTML) and make a string safe
inside HTML. JSON-family formats keep the text whole and let the JSON encoder escape it.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

from nix_audit.models import IndexStatus
from nix_audit.reporters import clean_text

__all__ = [
    "ELLIPSIS",
    "MAX_DESCRIPTION",
    "database_age_hours",
    "html_text",
    "rfc3339",
    "shorten",
    "utc",
]

ELLIPSIS = "\u2026"
# Long enough for nearly every real NVD description (few exceed a thousand characters); short
# enough that a hostile 1 MB one cannot flood a terminal, a monitoring status or a browser.
MAX_DESCRIPTION = 1000


def shorten(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """``text`` cleaned to one line and cut to at most ``limit`` characters, with an ellipsis.

    Cleaning comes first so that half an escape sequence is never left at the cut.
    """
    cleaned = clean_text(text)
    if len(cleaned) <= limit:
        return cleaned
    return cleaned[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def html_text(text: str, limit: int | None = None) -> str:
    """``text`` cleaned (and shortened when ``limit`` is given), escaped for HTML content or a
    quoted attribute value (``&``, ``<``, ``>``, ``"`` and ``'``)."""
    cleaned = clean_text(text) if limit is None else shorten(text, limit)
    return html.escape(cleaned, quote=True)


def utc(moment: datetime) -> datetime:
    """An aware time in UTC; a naive one is taken to be UTC already (as the JSON report does)."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (``2026-06-01T12:00:00Z``), the form every schema accepts."""
    return utc(moment).isoformat().replace("+00:00", "Z")


def database_age_hours(index: IndexStatus | None, scanned_at: datetime | None) -> float | None:
    """How old the advisory index was when the scan ran, in hours; None when unknown.

    Measured against the scan time, not the clock, so that a report is the same whenever it
    is rendered.
    """
    if index is None or index.last_update is None or scanned_at is None:
        return None
    return (utc(scanned_at) - utc(index.last_update)).total_seconds() / 3600.0
