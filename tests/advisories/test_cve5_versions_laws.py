"""A law of the CVE JSON 5 version semantics (issue #12): the intervals ``affected_intervals``
returns give every version the status a direct reading of the items gives it.

The direct reading: of the items that name a version, the strongest status wins
(unaffected > affected > unknown); a version no item names has the default (an unknown
default beside listed items reads as not stated: unaffected).
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from nix_audit.advisories._cve5_json import Cve5Affected
from nix_audit.versions import version_key
from tests.advisories.test_cve5_versions import status_at

_RANK = {"unaffected": 3, "affected": 2, "unknown": 1}
_VERSIONS = [f"{major}.{minor}" for major in range(1, 4) for minor in range(0, 4)]
_STATUSES = st.sampled_from(sorted(_RANK))


@st.composite
def _item(draw: st.DrawFn) -> dict[str, Any]:
    low = draw(st.sampled_from(["0", *_VERSIONS]))
    status = draw(_STATUSES)
    kind = draw(st.sampled_from(["exact", "lessThan", "lessThanOrEqual"]))
    if kind == "exact" or low == "0":
        return {"version": low if low != "0" else "1.0", "status": status}
    high = draw(st.sampled_from(_VERSIONS))
    return {"version": low, kind: high, "status": status}


def _direct(entry: dict[str, Any], version: str) -> str:
    key = version_key(version)
    found: list[str] = []
    for item in entry["versions"]:
        low = None if item["version"] == "0" else version_key(item["version"])
        if "lessThan" in item:
            inside = (low is None or low <= key) and key < version_key(item["lessThan"])
        elif "lessThanOrEqual" in item:
            inside = (low is None or low <= key) and key <= version_key(item["lessThanOrEqual"])
        else:
            inside = key == low
        if inside:
            found.append(item["status"])
    if found:
        return max(found, key=_RANK.__getitem__)
    default: str = entry["defaultStatus"]
    return "unaffected" if default == "unknown" else default


@given(st.lists(_item(), min_size=1, max_size=6), _STATUSES)
def test_intervals_agree_with_a_direct_reading(items: list[dict[str, Any]], default: str) -> None:
    raw = {"vendor": "v", "product": "p", "versions": items, "defaultStatus": default}
    entry = msgspec.convert(raw, Cve5Affected)
    for version in ["0.9", *_VERSIONS, "3.3.1", "4.0"]:
        assert status_at(entry, version) == _direct(raw, version), version
