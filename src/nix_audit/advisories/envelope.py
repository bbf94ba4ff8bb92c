"""Version envelopes: the loosest version bounds of one product's entries in one CVE record.

A scan of 3,000 derivations asks for about 14,000 records, and six products (the kernel,
Firefox, the JDK ...) bring 10,000 of them, nearly all about other versions than the ones
installed. Each posting of the index (product, vendor, CVE) therefore carries an envelope:
the lowest start and highest end of that product's ``vulnerable: true`` entries in the
record, as ``encode_key`` bytes. A scan compares the package's version with the envelope
and decodes only the records whose envelope holds it (issue #3: the scan's 0.5 s bar).

The envelope must never exclude a record the matcher would report, so it is a superset of
what ``matching.configurations`` accepts: an exact version is ``[v, v]``; a range is from
its start (either kind) to its end (either kind), open where a bound is missing; ANY without
bounds, or any date bound (the matcher places snapshot dates apart), is unbounded; NA without
bounds names no version and adds nothing. ``None`` stands for an open side.
"""

from __future__ import annotations

from collections.abc import Sequence

from nix_audit.models import CpeMatch
from nix_audit.versions import encoded_bound, encoded_key, is_date

__all__ = ["UNBOUNDED", "Envelope", "entry_envelope", "merge_envelopes", "version_in"]

Envelope = tuple[bytes | None, bytes | None]
UNBOUNDED: Envelope = (None, None)

_ANY, _NA = "*", "-"


def entry_envelope(match: CpeMatch, version: str, update: str) -> Envelope | None:
    """The versions one entry can hold, or None when it holds none (NA without bounds).

    ``version`` and ``update`` are the criteria's unquoted CPE fields (NISTIR 7695 §5.3.3);
    an update is joined to the version as the matcher joins it (``1.0.1`` + ``f``).
    """
    if version not in (_ANY, _NA):
        exact = encoded_key(version + ("" if update in (_ANY, _NA) else update))
        return exact, exact
    given = (
        match.version_start_including,
        match.version_start_excluding,
        match.version_end_including,
        match.version_end_excluding,
    )
    if any(bound is not None and is_date(bound) for bound in given):
        return UNBOUNDED
    starts = _keys(given[:2])
    ends = _keys(given[2:])
    if version == _NA and not starts and not ends:
        return None
    return (min(starts) if starts else None), (max(ends) if ends else None)


def _keys(bounds: Sequence[str | None]) -> list[bytes]:
    keys = (encoded_bound(bound) for bound in bounds if bound is not None)
    return [key for key in keys if key is not None]


def merge_envelopes(a: Envelope, b: Envelope) -> Envelope:
    """The smallest envelope holding both."""
    low = None if a[0] is None or b[0] is None else min(a[0], b[0])
    high = None if a[1] is None or b[1] is None else max(a[1], b[1])
    return low, high


def version_in(key: bytes, low: bytes | None, high: bytes | None) -> bool:
    """Whether an encoded version key lies in the envelope (bounds included)."""
    return (low is None or low <= key) and (high is None or key <= high)
