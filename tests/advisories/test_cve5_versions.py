"""CVE JSON 5 version semantics (issue #12): ranges, wildcards, carve-outs, defaults, changes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from nix_audit.advisories._cve5_json import Cve5Affected
from nix_audit.advisories.cve5_versions import affected_intervals
from nix_audit.versions import version_key


def _entry(versions: list[dict[str, Any]], default: str | None = None) -> Cve5Affected:
    data: dict[str, Any] = {"vendor": "v", "product": "p", "versions": versions}
    if default is not None:
        data["defaultStatus"] = default
    return msgspec.convert(data, Cve5Affected)


def status_at(entry: Cve5Affected, version: str) -> str:
    """The status the intervals give ``version``: affected, unknown, or unaffected."""
    key = version_key(version)
    for interval in affected_intervals(entry):
        low, high = interval.low, interval.high
        if low is not None and (key < low.key or (key == low.key and not low.included)):
            continue
        if high is not None and (key > high.key or (key == high.key and not high.included)):
            continue
        return interval.status
    return "unaffected"


# CVE-2024-47674 as kernel.org wrote it: an affected default with fixed branches carved out.
KERNEL = _entry(
    [
        {"version": "5.15.168", "lessThanOrEqual": "5.15.*", "status": "unaffected"},
        {"version": "6.1.111", "lessThanOrEqual": "6.1.*", "status": "unaffected"},
        {"version": "6.6.52", "lessThanOrEqual": "6.6.*", "status": "unaffected"},
        {
            "version": "6.11",
            "lessThanOrEqual": "*",
            "status": "unaffected",
            "versionType": "original_commit_for_fix",
        },
        {
            "version": "1da177e4c3f4",
            "lessThan": "5b2c8b34f6d7",
            "status": "affected",
            "versionType": "git",
        },
    ],
    default="affected",
)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("5.15.167", "affected"),  # just below the carve-out
        ("5.15.168", "unaffected"),  # its start is included
        ("5.15.200", "unaffected"),  # the wildcard covers every later 5.15.x
        ("5.16", "affected"),  # past the wildcard: another branch
        ("6.1.110", "affected"),
        ("6.1.111", "unaffected"),
        ("6.5.13", "affected"),  # an end-of-life branch that never got the fix
        ("6.6.52", "unaffected"),
        ("6.10.3", "affected"),
        ("6.11", "unaffected"),  # mainline fix, up to "*"
        ("6.12.1", "unaffected"),
        ("4.19.300", "affected"),  # the default
    ],
)
def test_kernel_carve_outs(version: str, expected: str) -> None:
    assert status_at(KERNEL, version) == expected


def test_git_items_alone_affect_no_version() -> None:
    entry = _entry(
        [
            {
                "version": "1da177e4c3f4",
                "lessThan": "5b2c8b34f6d7",
                "status": "affected",
                "versionType": "git",
            }
        ],
        default="unaffected",
    )
    assert affected_intervals(entry) == []


def test_ranges_under_an_unaffected_default() -> None:
    entry = _entry(
        [
            {"version": "2.4.0", "lessThan": "2.4.58", "status": "affected"},
            {"version": "0", "lessThanOrEqual": "1.9.9", "status": "affected"},
        ],
        default="unaffected",
    )
    assert status_at(entry, "2.4.57") == "affected"
    assert status_at(entry, "2.4.58") == "unaffected"
    assert status_at(entry, "1.9.9") == "affected"
    assert status_at(entry, "2.0.1") == "unaffected"


def test_unknown_items_are_unknown_and_an_absent_default_says_nothing() -> None:
    entry = _entry(
        [
            {"version": "1.0", "lessThan": "1.5", "status": "affected"},
            {"version": "1.5", "lessThan": "2.0", "status": "unknown"},
        ]
    )
    assert status_at(entry, "1.2") == "affected"
    assert status_at(entry, "1.7") == "unknown"
    assert status_at(entry, "3.0") == "unaffected"  # no item names it: not stated


def test_a_product_without_versions_is_unknown() -> None:
    assert status_at(_entry([{"version": "n/a", "status": "affected"}]), "1.0") == "unknown"


def test_changes_switch_the_status_inside_a_range() -> None:
    changes = [{"at": "1.4.2", "status": "unaffected"}, {"at": "2.0", "status": "affected"}]
    entry = _entry(
        [{"version": "1.0", "lessThan": "3.0", "status": "affected", "changes": changes}],
        default="unaffected",
    )
    assert status_at(entry, "1.4.1") == "affected"
    assert status_at(entry, "1.4.2") == "unaffected"
    assert status_at(entry, "1.9") == "unaffected"
    assert status_at(entry, "2.1") == "affected"
    assert status_at(entry, "3.0") == "unaffected"


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("< 3.1.2", "3.1.1", "3.1.2"),
        (">= 0.23.0, < 0.27.5", "0.25.0", "0.22.9"),
        ("<= 4.2", "4.2", "4.2.1"),
        ("8.0.17 and prior", "8.0.17", "8.0.18"),
        ("prior to 2.1", "2.0.9", "2.1"),
    ],
)
def test_textual_ranges(text: str, inside: str, outside: str) -> None:
    entry = _entry([{"version": text, "status": "affected"}])
    assert status_at(entry, inside) == "affected"
    assert status_at(entry, outside) == "unaffected"


def test_names_and_unplaceable_bounds_are_left_out() -> None:
    entry = _entry(
        [
            {"version": "AR8035", "status": "affected"},
            {"version": "10.0.0", "lessThan": "publication", "status": "affected"},
        ],
        default="unaffected",
    )
    assert affected_intervals(entry) == []


def test_unaffected_wins_where_items_overlap() -> None:
    entry = _entry(
        [
            {"version": "1.0", "lessThan": "2.0", "status": "affected"},
            {"version": "1.5", "status": "unaffected"},
        ]
    )
    assert status_at(entry, "1.5") == "unaffected"
    assert status_at(entry, "1.4") == "affected"
    assert status_at(entry, "1.6") == "affected"
