"""The whole NVD corpus of ``../shared/data/nvd`` (every year plus modified), end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.corpus import build_corpus_db
from tests.e2e.conftest import run_cli, write_packages


@pytest.fixture(scope="session")
def corpus_db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of every yearly feed and ``modified``, built once by ``nix-audit db update``
    and shared with the accuracy harness (``tests.corpus``)."""
    return build_corpus_db(shared_data, tmp_path_factory.getbasetemp())


def scan_json(db: Path, packages: Path) -> dict[str, Any]:
    run = run_cli("scan", "--offline", "--json", "--db", str(db), "-f", str(packages))
    assert run.returncode in (0, 2), run.stderr
    report: dict[str, Any] = run.json()
    return {d["name"]: d for d in report["derivations"]}


def test_every_year_is_loaded(corpus_db: Path) -> None:
    run = run_cli("db", "status", "--db", str(corpus_db), "--json")
    status = run.json()
    years = {f["name"] for f in status["feeds"]} - {"modified"}
    assert {str(y) for y in range(2002, 2027)} <= years
    assert status["records"] > 200_000


def test_heartbleed_in_1_0_1f_not_in_1_0_1g(corpus_db: Path, tmp_path: Path) -> None:
    packages = write_packages(
        tmp_path / "p.json",
        [
            {"name": "openssl-1.0.1f", "pname": "openssl", "version": "1.0.1f"},
            {"name": "openssl-1.0.1g", "pname": "openssl", "version": "1.0.1g"},
        ],
    )
    found = scan_json(corpus_db, packages)
    assert "CVE-2014-0160" in found["openssl-1.0.1f"]["affected_by"]
    assert "CVE-2014-0160" not in found["openssl-1.0.1g"]["affected_by"]
    assert "CVE-2014-0224" in found["openssl-1.0.1g"]["affected_by"]


def test_cve_named_patch_removes_only_that_cve(corpus_db: Path, tmp_path: Path) -> None:
    packages = write_packages(
        tmp_path / "p.json",
        [
            {
                "name": "openssl-1.0.1g",
                "pname": "openssl",
                "version": "1.0.1g",
                "patches": ["/nix/store/aaaa-CVE-2014-0224.patch"],
            }
        ],
    )
    entry = scan_json(corpus_db, packages)["openssl-1.0.1g"]
    assert "CVE-2014-0224" not in entry["affected_by"]
    assert "CVE-2014-0224" in entry["patched"]
    assert entry["affected_by"], "1.0.1g has other CVEs besides CVE-2014-0224"
