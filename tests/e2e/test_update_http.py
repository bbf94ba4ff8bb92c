"""``db update`` and ``scan`` against a real HTTP mirror on 127.0.0.1 (ETag, 304, errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import OPENSSL, RECORDS, run_cli, write_packages
from tests.helpers.feed_server import Fault, FeedServer
from tests.helpers.nvd_feeds import cpe_match, record, write_feed, write_mirror

MODIFIED = "/nvdcve-2.0-modified.json.gz"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    with FeedServer(write_mirror(tmp_path / "mirror", RECORDS)) as server:
        yield server


def update(server: FeedServer, db: Path, *args: str) -> tuple[int, str]:
    run = run_cli("db", "update", "--db", str(db), "--mirror", server.url, *args)
    return run.returncode, run.stderr


def scan_json(db: Path, packages: Path, *args: str) -> tuple[int, dict[str, list[str]], str]:
    run = run_cli("scan", "--json", "--db", str(db), "-f", str(packages), *args)
    found = {d["name"]: d["affected_by"] for d in json.loads(run.stdout)["derivations"]}
    return run.returncode, found, run.stderr


def test_first_load_then_unchanged_update_costs_one_304(served: FeedServer, tmp_path: Path) -> None:
    db = tmp_path / "db"
    code, err = update(served, db)
    assert code == 0, err
    first = {r.path for r in served.requests}
    assert "/nvdcve-2.0-2002.json.gz" in first and MODIFIED in first
    served.clear_log()
    code, err = update(served, db)
    assert code == 0, err
    assert [(r.path, r.status) for r in served.requests] == [(MODIFIED, 304)]


def test_modified_feed_changes_replace_records(served: FeedServer, tmp_path: Path) -> None:
    db = tmp_path / "db"
    assert update(served, db)[0] == 0
    packages = write_packages(
        tmp_path / "p.json", [{"name": "openssl-1.0.1f", "pname": "openssl", "version": "1.0.1f"}]
    )
    # The NVD narrows CVE-2014-0160 to 1.0.1e and publishes a new CVE for 1.0.1f.
    changed = [
        record(
            "CVE-2014-0160",
            [cpe_match(OPENSSL, versionStartIncluding="1.0.1", versionEndExcluding="1.0.1f")],
            last_modified="2026-03-15T00:00:00.000",
        ),
        record(
            "CVE-2026-0001",
            [cpe_match("cpe:2.3:a:openssl:openssl:1.0.1f:*:*:*:*:*:*:*")],
            last_modified="2026-03-15T00:00:00.000",
        ),
    ]
    write_feed(served.root / "nvdcve-2.0-modified.json.gz", changed)
    served.clear_log()
    assert update(served, db)[0] == 0
    assert [r.status for r in served.requests] == [200]
    code, found, _ = scan_json(db, packages, "--offline")
    assert code == 2
    assert "CVE-2014-0160" not in found["openssl-1.0.1f"]
    assert "CVE-2026-0001" in found["openssl-1.0.1f"]


@pytest.mark.parametrize(
    "fault",
    [Fault(status=403), Fault(status=500), Fault(body=b"<html>Attention Required!</html>")],
    ids=["403", "500", "html"],
)
def test_failed_update_keeps_previous_index(
    served: FeedServer, tmp_path: Path, fault: Fault
) -> None:
    db = tmp_path / "db"
    assert update(served, db)[0] == 0
    before = (db / "index.sqlite").read_bytes()
    served.set_fault(MODIFIED, fault)
    code, err = update(served, db)
    assert code == 3
    assert len(err.strip().splitlines()) == 1 and "modified" in err
    assert (db / "index.sqlite").read_bytes() == before
    packages = write_packages(
        tmp_path / "p.json", [{"name": "openssl-1.0.1f", "pname": "openssl", "version": "1.0.1f"}]
    )
    # A scan whose automatic refresh fails goes on with the previous index, and says so.
    code, found, err = scan_json(db, packages, "--max-age", "0")
    assert code == 2
    assert "CVE-2014-0160" in found["openssl-1.0.1f"]
    assert "previous index" in err


def test_first_load_failure_is_an_error_not_a_clean_scan(
    served: FeedServer, tmp_path: Path
) -> None:
    served.set_fault("/nvdcve-2.0-2014.json.gz", Fault(status=404))
    packages = write_packages(tmp_path / "p.json", [{"name": "zlib-1.2.8"}])
    run = run_cli(
        "scan", "--json", "--db", str(tmp_path / "db"), "--mirror", served.url, "-f", str(packages)
    )
    assert run.returncode == 3
    assert run.stdout == ""
    assert "2014" in run.stderr and "404" in run.stderr


def test_unreachable_whitelist_url_fails_unless_optional(
    served: FeedServer, db: Path, tmp_path: Path
) -> None:
    packages = write_packages(tmp_path / "p.json", [{"name": "openssl-1.0.1f"}])
    served.set_fault("/wl.toml", Fault(status=503))
    base = ["scan", "--offline", "--json", "--db", str(db), "-f", str(packages)]
    run = run_cli(*base, "-w", served.url_for("/wl.toml"))
    assert run.returncode == 3 and run.stdout == ""
    assert "wl.toml" in run.stderr and "503" in run.stderr
    run = run_cli(*base, "-w", served.url_for("/wl.toml"), "--whitelist-optional")
    assert run.returncode == 2
    assert "whitelist skipped" in run.stderr or any(
        "whitelist skipped" in w for w in run.json()["warnings"]
    )


def test_whitelist_from_url_applies(served: FeedServer, db: Path, tmp_path: Path) -> None:
    (served.root / "wl.toml").write_text('["openssl-1.0.1f"]\ncomment = "served"\n')
    packages = write_packages(tmp_path / "p.json", [{"name": "openssl-1.0.1f"}])
    run = run_cli(
        "scan", "--offline", "--db", str(db), "-f", str(packages), "-w", served.url_for("/wl.toml")
    )
    assert run.returncode == 0, run.stdout + run.stderr
