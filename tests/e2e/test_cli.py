"""The installed ``nix-audit`` command, end to end, on inputs that need no Nix."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import RECORDS, run_cli, write_packages

PACKAGES = [
    {"name": "openssl-1.0.1f", "pname": "openssl", "version": "1.0.1f"},
    {"name": "openssl-1.0.1g", "pname": "openssl", "version": "1.0.1g"},
    {"name": "zlib-1.2.11", "pname": "zlib", "version": "1.2.11"},
    {"name": "curl-7.50.0", "pname": "curl", "version": "7.50.0"},
]


def scan(db: Path, *args: str) -> tuple[int, str, str]:
    run = run_cli("scan", "--offline", "--db", str(db), *args)
    return run.returncode, run.stdout, run.stderr


def test_text_scan_reports_affected_packages_and_exits_2(db: Path, tmp_path: Path) -> None:
    code, out, err = scan(db, "-f", str(write_packages(tmp_path / "p.json", PACKAGES)))
    assert code == 2, err
    assert "CVE-2014-0160" in out and "openssl-1.0.1f" in out
    assert "zlib-1.2.11" not in out  # 1.2.11 is past the range end 1.2.8


def test_json_scan_has_vulnix_keys_and_exact_findings(db: Path, tmp_path: Path) -> None:
    code, out, _ = scan(db, "--json", "-f", str(write_packages(tmp_path / "p.json", PACKAGES)))
    assert code == 2
    report = json.loads(out)
    by_name = {d["name"]: d for d in report["derivations"]}
    assert set(by_name) == {"openssl-1.0.1f", "openssl-1.0.1g", "curl-7.50.0"}
    f = by_name["openssl-1.0.1f"]
    for key in ("name", "pname", "version", "derivation", "affected_by", "whitelisted"):
        assert key in f
    assert f["affected_by"] == ["CVE-2014-0160", "CVE-2014-0224"]
    assert f["cvssv3_basescore"]["CVE-2014-0160"] == 7.5
    assert by_name["openssl-1.0.1g"]["affected_by"] == ["CVE-2014-0224"]


def test_patch_named_after_cve_counts_as_fix(db: Path, tmp_path: Path) -> None:
    patched = [{**PACKAGES[1], "patches": ["/nix/store/x-CVE-2014-0224.patch"]}]
    code, out, _ = scan(db, "--json", "-f", str(write_packages(tmp_path / "p.json", patched)))
    assert code == 0, out


def test_whitelist_silences_and_show_whitelisted_exits_1(db: Path, tmp_path: Path) -> None:
    packages = write_packages(tmp_path / "p.json", PACKAGES[:2])
    whitelist = tmp_path / "wl.toml"
    whitelist.write_text('["openssl"]\ncomment = "test"\n')
    code, out, _ = scan(db, "-f", str(packages), "-w", str(whitelist))
    assert code == 0, out
    code, out, _ = scan(db, "-f", str(packages), "-w", str(whitelist), "-s")
    assert code == 1
    assert "CVE-2014-0160" in out


def test_written_whitelist_covers_current_findings(db: Path, tmp_path: Path) -> None:
    packages = write_packages(tmp_path / "p.json", PACKAGES)
    written = tmp_path / "written.toml"
    code, _, _ = scan(db, "-f", str(packages), "-W", str(written))
    assert code == 2 and written.exists()
    code, out, _ = scan(db, "-f", str(packages), "-w", str(written))
    assert code == 0, out


def test_offline_without_index_fails_with_one_line(tmp_path: Path) -> None:
    packages = write_packages(tmp_path / "p.json", PACKAGES)
    code, out, err = scan(tmp_path / "no-db", "-f", str(packages), "--json")
    assert code == 3
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "db update" in err


def test_usage_errors_exit_3_not_2() -> None:
    assert run_cli("scan", "--no-such-flag").returncode == 3
    assert run_cli("scan", "--buildtime", "-R", "x").returncode == 3


def test_nothing_to_scan_is_an_error(db: Path) -> None:
    code, _, err = scan(db)
    assert code == 3 and "nothing to scan" in err


def test_missing_input_file_is_one_line_naming_it(db: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    code, _, err = scan(db, "-f", str(missing))
    assert code == 3
    assert str(missing) in err and len(err.strip().splitlines()) == 1


def test_db_status_shows_records_and_feeds(db: Path) -> None:
    run = run_cli("db", "status", "--db", str(db), "--json")
    assert run.returncode == 0, run.stderr
    status = run.json()
    assert status["records"] == len(RECORDS)
    assert {f["name"] for f in status["feeds"]} >= {"2014", "2016", "modified"}


def test_version_flag() -> None:
    run = run_cli("-V")
    assert run.returncode == 0 and "nix-audit" in run.stdout
