"""CVE JSON 5 version semantics: which versions an ``affected`` entry says are affected.

cve-schema ("versions", "defaultStatus"): each ``versions`` item gives a status
(``affected``, ``unaffected``, ``unknown``) to one version, or to a range from ``version``
up to ``lessThan`` (excluded) or ``lessThanOrEqual`` (included); ``changes`` switch the status
inside a range at given versions; ``defaultStatus`` (absent: ``unknown``) is the status of
every version no item names. kernel.org writes its records as an affected default with
``unaffected`` carve-outs (``"version": "6.1.60", "lessThanOrEqual": "6.1.*"``: every 6.1.x
from 6.1.60 on); other CNAs list affected ranges under an unaffected default.

The result is a list of disjoint intervals that are ``affected`` or ``unknown``, in version
order, each as CPE-style bounds, so that the index and the matcher read CVE List data as
they read NVD ranges. Where items overlap, ``unaffected`` wins over ``affected``, which wins
over ``unknown``: a carve-out is the more specific statement.

Items that cannot be placed in Nix's version order are left out: ``versionType: "git"``
(commit ids, never a Nix version), and versions that are names (``AR8035``). An affected item
whose version says nothing (``n/a``, ``unspecified``) marks every version ``unknown``.
Textual ranges some CNAs write into ``version`` (``< 3.1.2``, ``>= 0.23.0, < 0.27.5``,
``8.0.17 and prior``) are read as the ranges they state.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from nix_audit.advisories._cve5_json import Cve5Affected, Cve5Version
from nix_audit.versions import VersionKey, is_orderable, version_key

__all__ = ["AFFECTED", "UNAFFECTED", "UNKNOWN", "Bound", "StatusInterval", "affected_intervals"]

AFFECTED, UNAFFECTED, UNKNOWN = "affected", "unaffected", "unknown"
_PRIORITY = {UNAFFECTED: 3, AFFECTED: 2, UNKNOWN: 1}
# Versions that state no version: as a range start they mean "from the first version".
_NO_VERSION = frozenset({"", "0", "*", "-", "n/a", "na", "unspecified", "unknown", "all"})
_ALL_VERSIONS = re.compile(r"all(?: versions?)?|\*", re.IGNORECASE)
_COMPARISON = re.compile(r"(<=|>=|<|>|=)\s*v?([0-9][^\s,;]*)")
_PRIOR = re.compile(
    r"v?([0-9][^\s,;]*)\s+(?:and|or)\s+(?:prior|earlier|before|below|older)(?:\s+versions?)?",
    re.IGNORECASE,
)
_SERIES = re.compile(r"\.[*xX]$")
# OpenSSL's CNA: "Fixed in OpenSSL 3.0.1 (Affected 3.0.0)", "(Affected 1.1.1-1.1.1l)".
_OPENSSL_AFFECTED = re.compile(r".*\(Affected ([0-9][^\s,;)-]*)(?:-([0-9][^\s,;)]*))?\)")
_BEFORE = re.compile(r"(?:prior to|before|earlier than|up to|through)\s+v?([0-9][^\s,;]*)", re.I)


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of an interval: a version, included or not (``key`` orders it)."""

    text: str
    key: VersionKey
    included: bool


@dataclass(frozen=True, slots=True)
class StatusInterval:
    """Versions from ``low`` to ``high`` (None: open) that have ``status``."""

    low: Bound | None
    high: Bound | None
    status: str


@dataclass(frozen=True, slots=True)
class _Item:
    low: Bound | None
    high: Bound | None
    status: str


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


@lru_cache(maxsize=1 << 14)
def _bound(text: str, included: bool) -> Bound | None:
    """A bound, or None when ``text`` is no version that Nix's order can place.

    A wildcard start (``8.1.*``, PHP's ``8.0.X``) is the first version of its series.
    """
    cleaned = text[1:] if text[:1] in "vV" and text[1:2].isdigit() else text
    cleaned = _SERIES.sub("", cleaned)
    if not is_orderable(cleaned):
        return None
    return Bound(cleaned, version_key(cleaned), included)


def _wildcard_end(text: str) -> Bound | None:
    """``6.1.*`` as an upper bound: every 6.1.x, so up to 6.2 excluded."""
    stem = text[:-2] if text.endswith(".*") else text.rstrip("*").rstrip(".")
    parts = stem.split(".")
    if not parts[-1].isdigit():
        return _bound(stem, True)
    parts[-1] = str(int(parts[-1]) + 1)
    return _bound(".".join(parts), False)


def _upper(item: Cve5Version) -> tuple[Bound | None, bool]:
    """(upper bound, whether the item has one at all); ``*`` alone means no end."""
    for value, included in ((item.lessThan, False), (item.lessThanOrEqual, True)):
        text = _text(value)
        if not text:
            continue
        if _ALL_VERSIONS.fullmatch(text):
            return None, True
        if "*" in text:
            return _wildcard_end(text), True
        return _bound(text, included), True
    return None, False


def _textual(text: str, status: str) -> list[_Item] | None:
    """A range written as text into ``version``, or None when it is not one."""
    openssl = _OPENSSL_AFFECTED.fullmatch(text)
    if openssl is not None:
        first = _bound(openssl.group(1), True)
        last = _bound(openssl.group(2) or openssl.group(1), True)
        return [] if first is None or last is None else [_Item(first, last, status)]
    found = _PRIOR.fullmatch(text) or _BEFORE.fullmatch(text)
    if found is not None:
        end = _bound(found.group(1), found.re is _PRIOR)
        return [] if end is None else [_Item(None, end, status)]
    comparisons = _COMPARISON.findall(text)
    if not comparisons or _COMPARISON.sub("", text).strip(" ,;&and") != "":
        return None
    low: Bound | None = None
    high: Bound | None = None
    for operator, version in comparisons:
        bound = _bound(version, "=" in operator)
        if bound is None:
            return []
        if operator.startswith(">"):
            low = bound
        elif operator.startswith("<"):
            high = bound
        else:
            low = high = bound
    return [_Item(low, high, status)]


def _items(item: Cve5Version) -> list[_Item]:
    """The status statements of one ``versions`` item (several with ``changes``)."""
    status = item.status.lower()
    if status not in _PRIORITY or (item.versionType or "").lower() == "git":
        return []
    start = _text(item.version)
    high, ranged = _upper(item)
    if not ranged:
        textual = _textual(start, status)
        if textual is not None:
            return textual
        if start.lower() in _NO_VERSION or _ALL_VERSIONS.fullmatch(start):
            # "n/a" affected: the record names the product, not its versions.
            return [_Item(None, None, UNKNOWN if status == AFFECTED else status)]
        point = _bound(start, True)
        return [] if point is None else [_Item(point, point, status)]
    if (
        ranged
        and high is None
        and not _ALL_VERSIONS.fullmatch(_text(item.lessThan) or _text(item.lessThanOrEqual))
    ):
        return []  # an end that is no version ("publication", a commit): cannot be placed
    low = None if start.lower() in _NO_VERSION else _bound(start, True)
    if low is None and start.lower() not in _NO_VERSION:
        return []
    return _with_changes(low, high, status, item)


def _with_changes(
    low: Bound | None, high: Bound | None, status: str, item: Cve5Version
) -> list[_Item]:
    """A range cut where its ``changes`` switch the status (cve-schema ``changes``)."""
    steps: list[tuple[Bound, str]] = []
    for change in item.changes:
        at = _bound(_text(change.at), True)
        if at is not None and change.status.lower() in _PRIORITY:
            steps.append((at, change.status.lower()))
    steps.sort(key=lambda step: step[0].key)
    items: list[_Item] = []
    for at, new_status in steps:
        items.append(_Item(low, Bound(at.text, at.key, False), status))
        low, status = at, new_status
    items.append(_Item(low, high, status))
    return items


def affected_intervals(entry: Cve5Affected) -> list[StatusInterval]:
    """The versions ``entry`` says are affected or unknown, as disjoint sorted intervals."""
    items = [part for item in entry.versions for part in _items(item)]
    default = entry.defaultStatus.lower() if entry.defaultStatus.lower() in _PRIORITY else UNKNOWN
    if items and default == UNKNOWN:
        # Beside listed versions, an unknown default (or none, which cve-schema reads as
        # unknown) would flag every release after the fix as uncertain: versions no item
        # names are then taken as not stated, and only explicit "unknown" items are shown.
        default = UNAFFECTED
    if not items:
        # Items that cannot be placed (commits, also under another versionType, as CISA's
        # ADP copies kernel.org's) leave the default unanchored: nothing to say. Without any
        # item, the default is the statement about every version.
        if entry.versions or default == UNAFFECTED:
            return []
        return [StatusInterval(None, None, default)]
    points = sorted({b.key: b for item in items for b in (item.low, item.high) if b}.values(),
                    key=lambda b: b.key)  # fmt: skip
    return _runs(_segments(items, points, default))


def _segments(
    items: Sequence[_Item], points: Sequence[Bound], default: str
) -> list[tuple[Bound | None, Bound | None, str]]:
    """The status of each gap and each point, in order: (low, high, status) pieces.

    Piece ``2i`` is the open gap before point ``i``, piece ``2i + 1`` the point itself, and
    piece ``2n`` the gap after the last; an item covers a contiguous run of pieces, found by
    its bounds' places among the points (the points are every item's bounds).
    """
    place = {point.key: index for index, point in enumerate(points)}
    best: list[str | None] = [None] * (2 * len(points) + 1)
    for item in items:
        first = 0 if item.low is None else 2 * place[item.low.key] + (1 if item.low.included else 2)
        last = (
            len(best) - 1
            if item.high is None
            else 2 * place[item.high.key] + (1 if item.high.included else 0)
        )
        rank = _PRIORITY[item.status]
        for piece in range(first, last + 1):
            known = best[piece]
            if known is None or _PRIORITY[known] < rank:
                best[piece] = item.status
    pieces: list[tuple[Bound | None, Bound | None, str]] = []
    for piece, status in enumerate(best):
        index, is_point = divmod(piece, 2)
        if is_point:
            point = Bound(points[index].text, points[index].key, True)
            pieces.append((point, point, status or default))
        else:
            low = _excluded(points[index - 1]) if index > 0 else None
            high = _excluded(points[index]) if index < len(points) else None
            pieces.append((low, high, status or default))
    return pieces


def _excluded(bound: Bound | None) -> Bound | None:
    return None if bound is None else Bound(bound.text, bound.key, False)


def _runs(pieces: Sequence[tuple[Bound | None, Bound | None, str]]) -> list[StatusInterval]:
    """Adjacent pieces of one status joined; unaffected ones dropped."""
    runs: list[StatusInterval] = []
    for low, high, status in pieces:
        if runs and runs[-1].status == status:
            runs[-1] = StatusInterval(runs[-1].low, high, status)
        else:
            runs.append(StatusInterval(low, high, status))
    return [run for run in runs if run.status != UNAFFECTED]
