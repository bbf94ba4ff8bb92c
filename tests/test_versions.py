"""Version order: Nix's compareVersions exactly, and the matching order's NVD habits and laws."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nix_audit.versions import (
    VersionKey,
    compare_versions,
    in_range,
    is_date,
    is_orderable,
    key_in_range,
    nix_version_key,
    nvd_compare,
    version_key,
)

# The examples of the Nix manual ("nix-env", versions) and of Nix's own tests.
NIX_CASES = [
    ("1.0", "2.3", -1),
    ("2.1", "2.3", -1),
    ("2.3", "2.3", 0),
    ("2.5", "2.3", 1),
    ("3.1", "2.3", 1),
    ("2.3.1", "2.3", 1),
    ("2.3.1", "2.3a", 1),
    ("2.3pre1", "2.3", -1),
    ("2.3pre3", "2.3pre12", -1),
    ("2.3a", "2.3c", -1),
    ("2.3pre1", "2.3c", -1),
    ("2.3pre1", "2.3q", -1),
    ("2.3", "2.3a", -1),
    ("1.0", "1.0.0", -1),  # Nix: a missing component ("") is below a number
    ("1.0rc1", "1.0", 1),  # Nix: "rc" is an ordinary word, above ""
    ("1-0", "1.0", 0),
    ("1.2147483647", "1.5", 1),
    ("1.2147483648", "1.5", -1),  # beyond a C int: compared as a string (Nix 2.8)
    ("", "0", -1),
    ("pre", "", -1),
]


@pytest.mark.parametrize(("a", "b", "expected"), NIX_CASES)
def test_compare_versions_follows_nix(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


NVD_CASES = [
    ("153.0", "153.0.0", 0),
    ("1.0", "1", 0),
    ("1.0.1f", "1.0.1g", -1),
    ("1.0.1g", "1.0.2", -1),
    ("1.0.1", "1.0.1f", -1),
    ("0.9.8y", "0.9.8za", -1),
    ("1.0.0l", "1.0.0m", -1),
    ("1.0.0m", "1.0.1", -1),
    ("1.0rc1", "1.0", -1),
    ("1.0.0-rc1", "1.0rc1", 0),
    ("1.0rc1", "1.0rc2", -1),
    ("1.0alpha1", "1.0beta1", -1),
    ("1.0beta2", "1.0rc1", -1),
    ("1.0.dev1", "1.0alpha1", -1),
    ("1.0RC1", "1.0rc1", 0),
    ("3.1.3pre1", "3.1.3", -1),
    ("7.4p1", "7.4", 1),
    ("7.4p1", "7.5", -1),
    ("2.3a", "2.3.1", -1),
    # Issue #13: one-letter alpha and beta between digits (Firefox betas, CPython alphas).
    ("148.0b15", "148", -1),
    ("148.0b15", "147.0.2", 1),
    ("148.0b9", "148.0b15", -1),
    ("3.14.0a1", "3.14.0", -1),
    ("3.14.0a7", "3.14.0b1", -1),
    ("1.0.1b", "1.0.1", 1),
    ("v1.2", "1.2", 0),
    ("10.0", "9.9", 1),
    ("1.10", "1.9", 1),
]


@pytest.mark.parametrize(("a", "b", "expected"), NVD_CASES)
def test_nvd_compare_habits(a: str, b: str, expected: int) -> None:
    assert nvd_compare(a, b) == expected
    assert nvd_compare(b, a) == -expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.0.1f", True),
        ("20240101", True),
        ("2.5.0-unstable-2024-03-01", True),
        ("0.9.8", True),
        ("0-rc1", True),
        ("unstable-2024-01-01", False),
        ("0-unstable-2024-01-01", False),
        ("git", False),
        ("3f5e1a2b9c0d4e6f8a7b1c2d3e4f5a6b7c8d9e0f", False),
        ("deadbee", False),
        ("", False),
        ("*", False),
        ("-", False),
    ],
)
def test_is_orderable(version: str, expected: bool) -> None:
    assert is_orderable(version) is expected


@pytest.mark.parametrize(
    ("version", "bounds", "expected"),
    [
        ("1.0.1", {"start_including": "1.0.1"}, True),
        ("1.0.0", {"start_including": "1.0.1"}, False),
        ("1.0.1", {"start_excluding": "1.0.1"}, False),
        ("1.0.1a", {"start_excluding": "1.0.1"}, True),
        ("1.0.1g", {"end_including": "1.0.1g"}, True),
        ("1.0.1h", {"end_including": "1.0.1g"}, False),
        ("1.0.1f", {"end_excluding": "1.0.1g"}, True),
        ("1.0.1g", {"end_excluding": "1.0.1g"}, False),
        ("1.0.1f", {"start_including": "1.0.1", "end_excluding": "1.0.1g"}, True),
        ("1.0.2", {"start_including": "1.0.1", "end_excluding": "1.0.1g"}, False),
        ("153.0", {"end_including": "153.0.0"}, True),
        ("2.0rc1", {"end_excluding": "2.0"}, True),
        ("5.0", {}, True),
        ("5.0", {"end_excluding": "*"}, True),  # a bound saying "no version" is no bound
    ],
)
def test_in_range_bounds(version: str, bounds: dict[str, str], expected: bool) -> None:
    assert in_range(version, **bounds) is expected


def test_key_in_range_agrees_with_in_range() -> None:
    key = version_key("1.0.1f")
    assert key_in_range(key, "1.0.1", None, None, "1.0.1g")
    assert not key_in_range(key, None, "1.0.1f", None, None)
    assert key_in_range(key, None, None, "1.0.1f", None)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2021-06-30", True),
        ("20070708", True),
        ("2021.06.30", True),
        ("2021-0630", False),
        ("2023.3", False),
        ("7.1.3", False),
        ("20071308", False),
    ],
)
def test_is_date(version: str, expected: bool) -> None:
    assert is_date(version) is expected


# --- laws ---------------------------------------------------------------------------------

TOKENS = ["0", "1", "2", "9", "10", "00", "a", "b", "f", "za", "pre", "rc", "alpha", "beta"]
SEPARATORS = ["", ".", "-"]


@st.composite
def versions(draw: st.DrawFn) -> str:
    """Version-like strings: tokens joined by separators, plus the odd arbitrary text."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(alphabet="0123456789.-abcprez", max_size=12))
    parts = draw(st.lists(st.sampled_from(TOKENS), min_size=0, max_size=6))
    return "".join(draw(st.sampled_from(SEPARATORS)) + part for part in parts)


def _sign(x: VersionKey, y: VersionKey) -> int:
    return int(x > y) - int(x < y)


@settings(max_examples=2000, deadline=None)
@given(versions(), versions(), versions())
def test_nvd_order_is_total(a: str, b: str, c: str) -> None:
    assert nvd_compare(a, a) == 0
    assert nvd_compare(a, b) == -nvd_compare(b, a)
    assert nvd_compare(a, b) == _sign(version_key(a), version_key(b))
    x, y, z = sorted((a, b, c), key=version_key)
    assert nvd_compare(x, y) <= 0
    assert nvd_compare(y, z) <= 0
    assert nvd_compare(x, z) <= 0
    if nvd_compare(a, b) == 0 and nvd_compare(b, c) == 0:
        assert nvd_compare(a, c) == 0


@settings(max_examples=2000, deadline=None)
@given(versions(), versions(), versions())
def test_nix_order_is_total_and_matches_its_key(a: str, b: str, c: str) -> None:
    assert compare_versions(a, a) == 0
    assert compare_versions(a, b) == -compare_versions(b, a)
    assert compare_versions(a, b) == _sign(nix_version_key(a), nix_version_key(b))
    if compare_versions(a, b) <= 0 and compare_versions(b, c) <= 0:
        assert compare_versions(a, c) <= 0


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=5), st.lists(st.integers(1, 300)))
def test_orders_agree_on_plain_releases(left: list[int], right: list[int]) -> None:
    a, b = ".".join(map(str, left)), ".".join(map(str, right))
    assert nvd_compare(a, b) == compare_versions(a, b)
    assert nvd_compare(a + ".0", a) == 0


# --- against real Nix ---------------------------------------------------------------------


def _random_version(rng: random.Random) -> str:
    parts = [
        rng.choice([*TOKENS, "x", "2147483648", "99999999999"]) for _ in range(rng.randint(0, 5))
    ]
    return "".join(rng.choice(SEPARATORS) + part for part in parts)


def test_compare_versions_agrees_with_nix(nix_config: str, tmp_path: Path) -> None:
    rng = random.Random(7695)  # noqa: S311 - reproducible test data, not secrets
    pairs = [[a, b] for a, b, _ in NIX_CASES]
    pairs += [[_random_version(rng), _random_version(rng)] for _ in range(400)]
    data = tmp_path / "pairs.json"
    data.write_text(json.dumps(pairs))
    expr = (
        "map (p: builtins.compareVersions (builtins.elemAt p 0) (builtins.elemAt p 1))"
        f" (builtins.fromJSON (builtins.readFile {data}))"
    )
    out = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", expr],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    expected = json.loads(out.stdout)
    assert [compare_versions(a, b) for a, b in pairs] == expected


@pytest.mark.parametrize(
    ("nix", "nvd"), [("1.9.5p1", "1.9.5patch1"), ("5.0p11", "5.0patch11"), ("9.8p1", "9.8:p1")]
)
def test_nix_patch_level_equals_the_cpe_update_patch(nix: str, nvd: str) -> None:
    # nixpkgs writes sudo 1.9.5p1; the NVD writes the update field patch1 (CVE-2021-3156).
    assert version_key(nix) == version_key(nvd.replace(":", ""))
    assert nvd_compare("1.9.5", "1.9.5patch1") == -1
