"""Issue #13 through the installed command: nixpkgs names as a channel's packages.json gives
them (keyed by attribute path), against records shaped after the real ones of these ids."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import run_cli
from tests.helpers.nvd_feeds import cpe_match, record, write_mirror

RECORDS = [
    record(  # Oracle MySQL Server
        "CVE-2025-21490",
        [cpe_match("cpe:2.3:a:oracle:mysql:*:*:*:*:*:*:*:*", versionEndIncluding="8.0.40")],
    ),
    record(  # requests, the Python library
        "CVE-2024-35195",
        [cpe_match("cpe:2.3:a:python:requests:*:*:*:*:*:*:*:*", versionEndExcluding="2.32.0")],
    ),
    record(  # Java 8 as the NVD writes it: 1.8.0_<update>, and 8.0.<update> beside 1.9
        "CVE-2026-21932",
        [
            cpe_match("cpe:2.3:a:oracle:openjdk:*:*:*:*:*:*:*:*", versionEndIncluding="1.8.0_501"),
            cpe_match(
                "cpe:2.3:a:oracle:openjdk:*:*:*:*:*:*:*:*",
                versionStartIncluding="1.9",
                versionEndIncluding="8.0.501",
            ),
        ],
    ),
    record(  # fixed in Java 8 update 151: 8u472 is not affected
        "CVE-2017-10274",
        [cpe_match("cpe:2.3:a:oracle:openjdk:1.8.0:update_144:*:*:*:*:*:*")],
    ),
    record(
        "CVE-2024-31141",
        [
            cpe_match(
                "cpe:2.3:a:apache:kafka:*:*:*:*:*:*:*:*",
                versionStartIncluding="2.3.0",
                versionEndExcluding="3.7.1",
            )
        ],
    ),
    record(  # CPython, a flaw of Windows only in words (CVE-2026-3298)
        "CVE-2026-3298",
        [cpe_match("cpe:2.3:a:python:python:*:*:*:*:*:*:*:*", versionEndExcluding="3.14.5")],
        description="The asyncio ProactorEventLoop ... Non-Windows platforms are not affected.",
    ),
]

PACKAGES = {
    "haskellPackages.mysql": {"name": "mysql-0.2.1"},
    "mysql80": {"name": "mysql-8.0.40"},
    "python311Packages.requests": {"name": "python3.11-requests-2.28.1", "pname": "requests"},
    "jre8": {"name": "openjdk-8u472-b08"},
    "apache-kafka_3_6": {"name": "apache-kafka-2.13-3.6.2"},
    "python314": {"name": "python3-3.14.3"},
    "firefox-unwrapped.src": {"name": "firefox-148.0b15.source.tar.xz"},
}


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """The scan's arguments but the flags of each test."""
    tmp = tmp_path_factory.mktemp("real-names")
    mirror = write_mirror(tmp / "mirror", RECORDS)
    db = tmp / "db"
    assert run_cli("db", "update", "--db", str(db), "--mirror", str(mirror)).returncode == 0
    listing = tmp / "packages.json"
    listing.write_text(json.dumps({"version": 2, "packages": PACKAGES}))
    return ("scan", "--offline", "--db", str(db), "-f", str(listing), "--json")


@pytest.fixture(scope="module")
def report(scan: tuple[str, ...]) -> dict[str, list[str]]:
    run = run_cli(*scan)
    assert run.returncode == 2, run.stderr
    skipped = {s["what"]: s["reason"] for s in run.json()["skipped"]}
    assert (
        skipped["firefox-148.0b15.source.tar.xz"] == "a build input file (.tar.xz), not a package"
    )
    return {d["name"]: sorted(d["affected_by"]) for d in run.json()["derivations"]}


def test_a_language_binding_is_not_the_program_it_is_named_after(
    report: dict[str, list[str]],
) -> None:
    assert report.get("mysql-0.2.1") is None
    assert report["mysql-8.0.40"] == ["CVE-2025-21490"]


def test_a_python_library_whose_pname_has_no_prefix_is_still_the_python_library(
    report: dict[str, list[str]],
) -> None:
    assert report["python3.11-requests-2.28.1"] == ["CVE-2024-35195"]


def test_versions_read_as_the_nvd_writes_them(report: dict[str, list[str]]) -> None:
    assert report["openjdk-8u472-b08"] == ["CVE-2026-21932"]
    assert report["apache-kafka-2.13-3.6.2"] == ["CVE-2024-31141"]


def test_a_windows_only_flaw_and_a_source_tarball_are_not_reported(
    report: dict[str, list[str]],
) -> None:
    assert "python3-3.14.3" not in report
    assert not any(name.endswith(".tar.xz") for name in report)


def test_what_is_not_reported_is_shown_as_uncertain(scan: tuple[str, ...]) -> None:
    run = run_cli(*scan, "--show-uncertain")
    assert run.returncode == 2, run.stderr
    found = {(d["name"], f["cve"]): f for d in run.json()["derivations"] for f in d["findings"]}
    assert found[("mysql-0.2.1", "CVE-2025-21490")]["confidence"] == "low"
    windows = found[("python3-3.14.3", "CVE-2026-3298")]
    assert windows["confidence"] == "low"
    assert windows["version_range"].startswith("windows only, by its description")
