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


def write_sbom(path: Path) -> Path:
    """A CycloneDX SBOM shaped like sbomnix output: pkg:nix purls, no Nix needed to read."""
    components = [
        {"type": "application", "bom-ref": f"ref-{name}", "name": name, "version": version,
         "purl": f"pkg:nix/{name}@{version}"}
        for name, version in (("openssl", "1.0.1f"), ("zlib", "1.2.11"))
    ]  # fmt: skip
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": components}
    path.write_text(json.dumps(doc))
    return path


def test_sbom_input_is_scanned_without_nix(db: Path, tmp_path: Path) -> None:
    code, out, err = scan(db, "--json", "--sbom", str(write_sbom(tmp_path / "bom.json")))
    assert code == 2, err
    found = {d["name"]: d["affected_by"] for d in json.loads(out)["derivations"]}
    assert found == {"openssl-1.0.1f": ["CVE-2014-0160", "CVE-2014-0224"]}


def test_vex_not_affected_suppresses_with_its_justification(db: Path, tmp_path: Path) -> None:
    vex = tmp_path / "vex.json"
    statement = {
        "vulnerability": {"name": "CVE-2014-0160"},
        "products": [{"@id": "pkg:nix/openssl@1.0.1f"}],
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
    }
    vex.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "https://example.org/vex/1",
                "author": "ops",
                "timestamp": "2026-01-01T00:00:00Z",
                "version": 1,
                "statements": [statement],
            }
        )
    )
    bom = str(write_sbom(tmp_path / "bom.json"))
    code, out, _ = scan(db, "--json", "--sbom", bom, "--vex", str(vex))
    assert code == 2
    entry = json.loads(out)["derivations"][0]
    assert entry["affected_by"] == ["CVE-2014-0224"]
    code, out, _ = scan(db, "--sbom", bom, "--vex", str(vex), "-s", "-D")
    assert "vulnerable_code_not_in_execute_path" in out


def test_every_format_from_one_scan(db: Path, tmp_path: Path) -> None:
    packages = str(write_packages(tmp_path / "p.json", PACKAGES))
    formats = ["json", "sarif", "cyclonedx", "openvex", "nagios", "prometheus", "html"]
    args: list[str] = []
    for name in formats:
        args += ["--format", name, "-o", str(tmp_path / f"report.{name}")]
    code, out, err = scan(db, "-f", packages, *args, "--format", "text")
    assert code == 2, err
    assert "CVE-2014-0160" in out  # the text report, to standard output
    for name in ("json", "sarif", "cyclonedx", "openvex"):
        json.loads((tmp_path / f"report.{name}").read_text())
    assert (tmp_path / "report.nagios").read_text().startswith("NIX-AUDIT CRITICAL")
    assert "nix_audit_packages 4" in (tmp_path / "report.prometheus").read_text()
    assert "CVE-2014-0160" in (tmp_path / "report.html").read_text()


def test_two_reports_to_stdout_is_a_usage_error(db: Path, tmp_path: Path) -> None:
    packages = str(write_packages(tmp_path / "p.json", PACKAGES))
    code, out, _ = scan(db, "-f", packages, "--format", "json", "--format", "sarif")
    assert code == 3 and out == ""


def test_fail_on_leaves_lower_scores_out_of_the_exit_code(db: Path, tmp_path: Path) -> None:
    packages = str(write_packages(tmp_path / "p.json", PACKAGES[:2]))  # scores 7.5 and 7.4
    assert scan(db, "-f", packages, "--fail-on", "high")[0] == 2
    assert scan(db, "-f", packages, "--fail-on", "critical")[0] == 0


def test_low_confidence_matches_only_with_show_uncertain(db: Path, tmp_path: Path) -> None:
    packages = str(write_packages(tmp_path / "p.json", [{"name": "frobnicator-1.0"}]))
    code, out, _ = scan(db, "--json", "-f", packages)
    assert code == 0 and json.loads(out)["derivations"] == []
    code, out, _ = scan(db, "--json", "-f", packages, "--show-uncertain")
    assert code == 2
    (finding,) = json.loads(out)["derivations"][0]["findings"]
    assert finding["cve"] == "CVE-2025-90002"
    assert (finding["confidence"], finding["mapping"]) == ("low", "heuristic")


def test_verbose_text_explains_each_finding(db: Path, tmp_path: Path) -> None:
    packages = str(write_packages(tmp_path / "p.json", PACKAGES[:1]))
    _, out, _ = scan(db, "-v", "-f", packages)
    assert "matched: cpe:2.3:a:openssl:openssl:*" in out and "< 1.0.1g" in out
    assert "mapping: table, confidence: high" in out
