"""The CVE List beside the NVD (issue #12), through the installed command.

The real CVE JSON 5 records of ``../shared/data/cve5`` are served by a loopback server that
answers like the GitHub Releases API of cvelistV5 (the default location), beside the small
hand-made NVD mirror of the e2e suite: the kernel CVEs of 2024 are in the CVE List only.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Run, run_cli
from tests.helpers.cve_list_assets import cve_record, write_baseline, write_delta
from tests.helpers.releases_server import Release, ReleasesServer, cvelist_releases

# Linux 6.1.100 against CVE-2024-47674 (kernel.org: affected default, 6.1.111..6.1.* fixed).
KERNEL_CVE = "CVE-2024-47674"
PACKAGES = {
    "linux_6_1": {"name": "linux-6.1.100", "pname": "linux", "version": "6.1.100"},
    "linux_6_1_fixed": {"name": "linux-6.1.112", "pname": "linux", "version": "6.1.112"},
}


def _cli(*args: str) -> Run:
    """``run_cli`` with the CVE List on (the suite turns it off for NVD-only tests)."""
    env = {k: v for k, v in os.environ.items() if k != "NIX_AUDIT_NO_CVE_LIST"}
    return run_cli(*args, env={**env, "NIX_AUDIT_NO_CVE_LIST": ""}, timeout=300)


@pytest.fixture(scope="module")
def releases(shared_data: Path) -> Iterator[ReleasesServer]:
    with ReleasesServer(cvelist_releases(shared_data / "cve5")) as server:
        yield server


@pytest.fixture(scope="module")
def combined(
    tmp_path_factory: pytest.TempPathFactory, mirror: Path, releases: ReleasesServer
) -> Path:
    db = tmp_path_factory.mktemp("combined-db")
    run = _cli("db", "update", "--db", str(db), "--mirror", str(mirror), "--cve-list", releases.url)
    assert run.returncode == 0, run.stderr
    assert "CVE List from 2024-10-24_all_CVEs_at_midnight.zip.zip + 9 more" in run.stdout
    return db


def _scan(db: Path, tmp_path: Path, *extra: str) -> Run:
    packages = tmp_path / "packages.json"
    packages.write_text(json.dumps(PACKAGES))
    return _cli("scan", "-f", str(packages), "--db", str(db), "--offline", "-j", *extra)


def _findings(run: Run) -> dict[str, dict[str, dict[str, object]]]:
    return {d["name"]: {f["cve"]: f for f in d["findings"]} for d in run.json()["derivations"]}


def test_a_scan_reports_what_only_the_cve_list_knows(combined: Path, tmp_path: Path) -> None:
    run = _scan(combined, tmp_path)
    assert run.returncode == 2, run.stderr
    found = _findings(run)
    kernel = found["linux-6.1.100"][KERNEL_CVE]
    assert kernel["source"] == "cve-list:cna"
    # The carve-outs 5.15.168..5.15.* and 6.1.111..6.1.* leave 5.16 up to 6.1.111 affected.
    assert kernel["version_range"] == ">= 5.16, < 6.1.111"
    assert KERNEL_CVE not in found.get("linux-6.1.112", {})
    sources = {f["source"] for d in found.values() for f in d.values()}
    assert sources <= {"nvd", "cve-list:cna", "cve-list:adp"}


def test_text_report_names_the_source(combined: Path, tmp_path: Path) -> None:
    packages = tmp_path / "packages.json"
    packages.write_text(json.dumps(PACKAGES))
    run = _cli("scan", "-f", str(packages), "--db", str(combined), "--offline", "-v")
    assert "source: cve-list:cna" in run.stdout


def test_status_shows_both_sources(combined: Path, releases: ReleasesServer) -> None:
    run = _cli("db", "status", "--db", str(combined), "--json")
    assert run.returncode == 0, run.stderr
    document = run.json()
    assert document["cve_list"]["location"] == releases.url
    assert document["cve_list"]["baseline"] == "2024-10-24_all_CVEs_at_midnight.zip.zip"
    assert document["cve_list"]["last_delta"] == "2024-10-24_delta_CVEs_at_2213Z.zip"
    assert document["decided_by"]["cve-list"] > 20_000
    assert document["decided_by"]["rejected"] > 0


def test_an_unchanged_listing_updates_nothing(
    combined: Path, mirror: Path, releases: ReleasesServer, tmp_path: Path
) -> None:
    db = tmp_path / "db"
    shutil.copytree(combined, db)
    run = _cli("db", "update", "--db", str(db), "--mirror", str(mirror), "--cve-list", releases.url)
    assert run.returncode == 0, run.stderr
    assert "CVE List up to date" in run.stdout


def test_a_broken_delta_fails_in_one_line_and_keeps_the_index(
    combined: Path, mirror: Path, shared_data: Path, tmp_path: Path
) -> None:
    db = tmp_path / "db"
    shutil.copytree(combined, db)
    broken = tmp_path / "2024-10-24_delta_CVEs_at_2313Z.zip"
    broken.write_bytes(b"<html><body>502 Bad Gateway</body></html>")
    releases = [Release("cve_2024-10-24_2313Z", "2024-10-24T23:13:00Z", (broken,))]
    with ReleasesServer([*releases, *cvelist_releases(shared_data / "cve5")]) as server:
        run = _cli(
            "db", "update", "--db", str(db), "--mirror", str(mirror), "--cve-list", server.url
        )
    assert run.returncode == 3
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and broken.name in lines[0], run.stderr
    after = _scan(db, tmp_path)
    assert KERNEL_CVE in _findings(after)["linux-6.1.100"]


def test_no_cve_list_drops_it(combined: Path, mirror: Path, tmp_path: Path) -> None:
    db = tmp_path / "db"
    shutil.copytree(combined, db)
    run = _cli("db", "update", "--db", str(db), "--mirror", str(mirror), "--no-cve-list")
    assert run.returncode == 0, run.stderr
    assert KERNEL_CVE not in _findings(_scan(db, tmp_path)).get("linux-6.1.100", {})
    assert _cli("db", "status", "--db", str(db), "--json").json()["cve_list"] is None


FOO = "Foo Project"


def _foo(below: str, status: str = "affected") -> list[dict[str, object]]:
    versions = [{"version": "0", "lessThan": below, "status": status}]
    return [{"vendor": FOO, "product": "foo", "defaultStatus": "unaffected", "versions": versions}]


def test_a_folder_of_assets_is_read_incrementally(mirror: Path, tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    write_baseline(
        assets / "2024-10-24_all_CVEs_at_midnight.zip.zip",
        [cve_record("CVE-2024-1001", _foo("1.5"))],
    )
    db = tmp_path / "db"
    update = ("db", "update", "--db", str(db), "--mirror", str(mirror), "--cve-list", str(assets))
    assert _cli(*update).returncode == 0
    packages = tmp_path / "packages.json"
    packages.write_text(json.dumps({"foo": {"name": "foo-1.4", "pname": "foo", "version": "1.4"}}))
    scan = ("scan", "-f", str(packages), "--db", str(db), "--offline", "-j")
    first = _findings(_cli(*scan))["foo-1.4"]
    assert first["CVE-2024-1001"]["source"] == "cve-list:cna"
    write_delta(
        assets / "deltas" / "2024-10-24_delta_CVEs_at_0113Z.zip",
        [
            cve_record("CVE-2024-1001", _foo("1.3"), updated="2024-10-24T01:00:00Z"),
            cve_record("CVE-2024-1002", _foo("1.9", status="unknown")),
        ],
    )
    run = _cli(*update)
    assert "CVE List from 2024-10-24_delta_CVEs_at_0113Z.zip: 1 added, 1 changed" in run.stdout
    assert _cli(*scan).returncode == 0  # 1.4 is past the corrected fix; unknown is no finding
    uncertain = _findings(_cli(*scan, "--show-uncertain"))["foo-1.4"]
    assert set(uncertain) == {"CVE-2024-1002"}
    assert str(uncertain["CVE-2024-1002"]["version_range"]).startswith("status unknown")
    assert uncertain["CVE-2024-1002"]["confidence"] == "low"


def test_a_path_traversing_member_fails_the_update_in_one_line(
    mirror: Path, tmp_path: Path
) -> None:
    assets = tmp_path / "assets"
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("cves/../../etc/CVE-2024-1003.json", cve_record("CVE-2024-1003"))
    assets.mkdir()
    assets_zip = assets / "2024-10-24_all_CVEs_at_midnight.zip.zip"
    with zipfile.ZipFile(assets_zip, "w") as outer:
        outer.writestr("cves.zip", inner.getvalue())
    db = tmp_path / "db"
    run = _cli("db", "update", "--db", str(db), "--mirror", str(mirror), "--cve-list", str(assets))
    assert run.returncode == 3
    assert len(run.stderr.strip().splitlines()) == 1
    assert assets_zip.name in run.stderr
    assert not (db / "index.sqlite").exists()
