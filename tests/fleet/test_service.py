"""The fleet service for real: ``nix-audit serve`` on SQLite and PostgreSQL, reports from real
``nix-audit report`` processes on a real Nix store, checked through the API (issue #7)."""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import msgspec
import pytest

from nix_audit.fleet.protocol import (
    MAX_BODY_BYTES,
    MAX_DECODED_BYTES,
    MAX_REPORT_BYTES,
    ReportedPackage,
    closure_digest,
)
from tests.e2e.conftest import RECORDS, run_cli
from tests.helpers.cve_list_assets import cve_record, write_baseline, write_delta
from tests.helpers.fleet_server import RunningFleet, running_fleet
from tests.helpers.nix_store import NixFixtureStore
from tests.helpers.nvd_feeds import cpe_match, record, write_mirror


@pytest.fixture
def fleet(fleet_url: str, db: Path, tmp_path: Path) -> Iterator[RunningFleet]:
    with running_fleet(fleet_url, db, tmp_path) as running:
        yield running


def token_file(fleet: RunningFleet, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.token"
    path.write_text(fleet.add_host(name) + "\n")
    return path


ZLIB = [{"name": "zlib-1.2.8", "pname": "zlib", "version": "1.2.8"}]


def digest_of(packages: list[dict[str, str]]) -> str:
    return closure_digest(msgspec.convert(packages, tuple[ReportedPackage, ...]))


def report_body(hostname: str, packages: list[dict[str, str]] = ZLIB) -> bytes:
    return json.dumps({"hostname": hostname, "closure": digest_of(packages)}).encode()


def post_report(fleet: RunningFleet, token: str, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{fleet.url}/api/v1/reports",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def put_closure(
    fleet: RunningFleet, token: str, digest: str, body: bytes, **headers: str
) -> httpx.Response:
    return httpx.put(
        f"{fleet.url}/api/v1/closures/{digest}",
        content=body,
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def upload(fleet: RunningFleet, token: str, packages: list[dict[str, str]] = ZLIB) -> None:
    body = json.dumps({"packages": packages}).encode()
    put_closure(fleet, token, digest_of(packages), body).raise_for_status()


def test_two_hosts_report_and_a_shared_closure_is_stored_and_matched_once(
    fleet: RunningFleet, nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    system = str(nix_fixture_store.links["system"])
    first = fleet.report(token_file(fleet, tmp_path, "web1"), "web1", system)
    assert first.returncode == 0 and "closure uploaded" in first.stdout, first.stderr
    second = fleet.report(token_file(fleet, tmp_path, "web2"), "web2", system)
    assert second.returncode == 0 and "closure known to the server" in second.stdout
    other = fleet.report(
        token_file(fleet, tmp_path, "db1"), "db1", str(nix_fixture_store.links["result"])
    )
    assert other.returncode == 0, other.stderr
    assert "closure uploaded" in other.stdout
    with fleet.admin() as admin:
        status = fleet.wait_evaluated(admin)
    assert status["hosts"] == 3 and status["hosts_reported"] == 3
    assert status["closures"] == 2  # web1 and web2 run one closure
    assert status["closures_matched"] == 2
    with fleet.admin() as admin:
        web1 = admin.get("/api/v1/hosts/web1").raise_for_status().json()["host"]
        db1 = admin.get("/api/v1/hosts/db1").raise_for_status().json()["host"]
    assert web1["system"] == os.path.realpath(system)  # a NixOS system's top level
    assert db1["system"] is None  # a plain package is no system


def test_a_host_token_reports_only_for_its_own_host(fleet: RunningFleet, tmp_path: Path) -> None:
    token = token_file(fleet, tmp_path, "web1").read_text().strip()
    token_file(fleet, tmp_path, "web2")
    upload(fleet, token)
    answer = post_report(fleet, token, report_body("web2"))
    assert answer.status_code == 403
    assert "belongs to host 'web1'" in answer.json()["detail"]
    with fleet.admin() as admin:
        assert admin.get("/api/v1/status").json()["hosts_reported"] == 0


def test_revoked_and_replaced_tokens_are_refused(fleet: RunningFleet, tmp_path: Path) -> None:
    old = token_file(fleet, tmp_path, "web1").read_text().strip()
    upload(fleet, old)
    body = report_body("web1")
    assert post_report(fleet, old, body).status_code == 202
    with fleet.admin() as admin:
        new = admin.post("/api/v1/hosts/web1/token").raise_for_status().json()["token"]
        assert post_report(fleet, old, body).status_code == 401
        assert post_report(fleet, new, body).status_code == 202
        assert admin.delete("/api/v1/hosts/web1/token").status_code == 204
    assert post_report(fleet, new, body).status_code == 401
    done = fleet.report(tmp_path / "web1.token", "web1")
    assert done.returncode == 3


def test_admin_api_needs_a_login(fleet: RunningFleet) -> None:
    assert httpx.get(f"{fleet.url}/api/v1/status").status_code == 401
    assert httpx.post(f"{fleet.url}/api/v1/hosts", json={"name": "x"}).status_code == 401
    wrong = httpx.get(f"{fleet.url}/api/v1/status", auth=("admin", "wrong password"))
    assert wrong.status_code == 401
    refused = httpx.post(f"{fleet.url}/api/v1/session", json={"name": "admin", "password": "nope"})
    assert refused.status_code == 401
    assert httpx.get(f"{fleet.url}/openapi.json").json()["paths"]["/api/v1/reports"]


def test_a_report_of_an_unknown_closure_asks_for_its_upload_once(
    fleet: RunningFleet, tmp_path: Path
) -> None:
    token = token_file(fleet, tmp_path, "web1").read_text().strip()
    digest = digest_of(ZLIB)
    asked = post_report(fleet, token, report_body("web1"))
    assert asked.status_code == 409
    assert asked.json()["upload"] == f"/api/v1/closures/{digest}"
    body = gzip.compress(json.dumps({"packages": ZLIB}).encode())
    other = digest_of([{"name": "zlib-1.2.13", "pname": "zlib", "version": "1.2.13"}])
    mismatch = put_closure(fleet, token, other, body, **{"Content-Encoding": "gzip"})
    assert mismatch.status_code == 400 and f"not to {other}" in mismatch.json()["detail"]
    stored = put_closure(fleet, token, digest, body, **{"Content-Encoding": "gzip"})
    assert stored.json() == {"closure": digest, "stored": True}
    again = put_closure(fleet, token, digest, body, **{"Content-Encoding": "gzip"})
    assert again.json() == {"closure": digest, "stored": False}
    assert post_report(fleet, token, report_body("web1")).status_code == 202


def test_oversized_and_malformed_bodies_are_refused_with_a_reason(
    fleet: RunningFleet, tmp_path: Path
) -> None:
    token = token_file(fleet, tmp_path, "web1").read_text().strip()
    digest = digest_of(ZLIB)
    too_big = put_closure(fleet, token, digest, b" " * (MAX_BODY_BYTES + 1))
    assert too_big.status_code == 413
    bomb = gzip.compress(b" " * (MAX_DECODED_BYTES + 1024))
    assert (
        put_closure(fleet, token, digest, bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    )
    assert post_report(fleet, token, b" " * (MAX_REPORT_BYTES + 1)).status_code == 413
    not_json = post_report(fleet, token, b"{not json")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["detail"]
    extra = json.dumps({"hostname": "web1", "closure": digest, "path": "../../etc"}).encode()
    assert post_report(fleet, token, extra).status_code == 400
    bad_digest = json.dumps({"hostname": "web1", "closure": "../../etc"}).encode()
    assert post_report(fleet, token, bad_digest).status_code == 400
    with fleet.admin() as admin:
        status = admin.get("/api/v1/status").json()
    assert status["hosts_reported"] == 0 and status["closures"] == 0


def host_findings(admin: httpx.Client, host: str, status: str = "affected") -> set[tuple[str, str]]:
    view = admin.get(f"/api/v1/hosts/{host}").raise_for_status().json()
    return {(f["package"], f["cve_id"]) for f in view["findings"] if f["status"] == status}


def test_the_server_finds_what_a_local_scan_finds(
    fleet: RunningFleet, db: Path, nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    """One matcher: the server's findings for a reported closure are the local scan's."""
    result = str(nix_fixture_store.links["result"])
    local = run_cli("scan", "--offline", "--json", "--db", str(db), result)
    assert local.returncode == 2, local.stderr
    expected = {(d["name"], cve) for d in local.json()["derivations"] for cve in d["affected_by"]}
    assert ("openssl-1.0.1f", "CVE-2014-0160") in expected
    done = fleet.report(token_file(fleet, tmp_path, "web1"), "web1", result)
    assert done.returncode == 0, done.stderr
    with fleet.admin() as admin:
        fleet.wait_evaluated(admin)
        assert host_findings(admin, "web1") == expected


def report_web1_and_web2(
    fleet: RunningFleet, tmp_path: Path, nix_fixture_store: NixFixtureStore
) -> None:
    """Hosts web1 and web2 report the fixture store's ``result``."""
    for name in ("web1", "web2"):
        tokens = token_file(fleet, tmp_path, name)
        done = fleet.report(tokens, name, str(nix_fixture_store.links["result"]))
        assert done.returncode == 0, done.stderr


def test_a_cve_published_later_reaches_every_affected_host(
    fleet_url: str, nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    """The server updates its index from its mirror and re-evaluates hosts that did nothing."""
    feeds = write_mirror(tmp_path / "mirror", RECORDS)
    index = tmp_path / "index"
    assert run_cli("db", "update", "--db", str(index), "--mirror", str(feeds)).returncode == 0
    with running_fleet(fleet_url, index, tmp_path, mirror=feeds) as fleet:
        report_web1_and_web2(fleet, tmp_path, nix_fixture_store)
        with fleet.admin() as admin:
            fleet.wait_evaluated(admin)
            curl = ("curl-7.50.0", "CVE-2026-0001")
            assert curl not in host_findings(admin, "web1")
            published = record(
                "CVE-2026-0001",
                [cpe_match("cpe:2.3:a:haxx:curl:*:*:*:*:*:*:*:*", versionEndExcluding="7.51.0")],
                last_modified="2026-11-20T10:00:00.000",
            )
            write_mirror(tmp_path / "mirror", RECORDS, modified=[published])
            assert admin.post("/api/v1/index/update").status_code == 202
            wait_until(admin, partial(has_finding, admin, "web2", curl, "affected"))
            assert curl in host_findings(admin, "web1")


def test_a_cve_only_the_cve_list_knows_reaches_every_affected_host(
    fleet_url: str, nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    """Issue #12: a CVE published in the CVE List (the NVD has not analysed it) reaches the
    hosts after ``POST /api/v1/index/update``, marked with its source; the hosts do nothing."""
    feeds = write_mirror(tmp_path / "mirror", RECORDS)
    assets = tmp_path / "cve-list"
    write_baseline(
        assets / "2026-11-20_all_CVEs_at_midnight.zip.zip", [cve_record("CVE-2026-0003")]
    )
    index = tmp_path / "index"
    env = {"NIX_AUDIT_NO_CVE_LIST": ""}
    update = ["db", "update", "--db", str(index), "--mirror", str(feeds), "--cve-list", str(assets)]
    assert run_cli(*update, env=env).returncode == 0
    curl = ("curl-7.50.0", "CVE-2026-0003")
    with running_fleet(fleet_url, index, tmp_path, mirror=feeds, cve_list=assets) as fleet:
        report_web1_and_web2(fleet, tmp_path, nix_fixture_store)
        with fleet.admin() as admin:
            fleet.wait_evaluated(admin)
            assert curl not in host_findings(admin, "web1")
            versions = [{"version": "7.0", "lessThan": "7.51.0", "status": "affected"}]
            affected = [{"vendor": "haxx", "product": "curl", "versions": versions}]
            published = cve_record("CVE-2026-0003", affected, updated="2026-11-20T10:00:00Z")
            write_delta(assets / "2026-11-20_delta_CVEs_at_1000Z.zip", [published])
            assert admin.post("/api/v1/index/update").status_code == 202
            wait_until(admin, partial(has_finding, admin, "web2", curl, "affected"))
            view = admin.get("/api/v1/hosts/web1").raise_for_status().json()
            found = [f for f in view["findings"] if f["cve_id"] == "CVE-2026-0003"]
            assert [f["source"] for f in found] == ["cve-list:cna"]


def test_central_whitelist_applies_to_all_hosts_or_to_its_scope(
    fleet: RunningFleet, nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    result = str(nix_fixture_store.links["result"])
    for name in ("web1", "web2"):
        assert fleet.report(token_file(fleet, tmp_path, name), name, result).returncode == 0
    heartbleed = ("openssl-1.0.1f", "CVE-2014-0160")
    with fleet.admin() as admin:
        fleet.wait_evaluated(admin)
        scoped = admin.put(
            "/api/v1/triage/whitelist/web2-only.toml",
            params={"host": "web2"},
            content='["openssl-1.0.1f"]\ncve = ["CVE-2014-0160"]\ncomment = "accepted on web2"\n',
        )
        assert scoped.status_code == 201, scoped.text
        wait_until(admin, lambda: heartbleed in host_findings(admin, "web2", "whitelisted"))
        assert heartbleed in host_findings(admin, "web1")
        everywhere = admin.put(
            "/api/v1/triage/whitelist/all.yaml",
            content="- name: curl\n  version: 7.50.0\n  cve: [CVE-2016-5419]\n",
        )
        assert everywhere.status_code == 201, everywhere.text
        curl = ("curl-7.50.0", "CVE-2016-5419")
        for host in ("web1", "web2"):
            wait_until(admin, partial(has_finding, admin, host, curl, "whitelisted"))
        broken = admin.put("/api/v1/triage/whitelist/bad.toml", content='["openssl"\ncve = 1\n')
        assert broken.status_code == 400
        assert broken.json()["detail"].startswith("server:whitelist/bad.toml")
        assert [d["name"] for d in admin.get("/api/v1/triage").json()] == [
            "web2-only.toml",
            "all.yaml",
        ]


def has_finding(admin: httpx.Client, host: str, finding: tuple[str, str], status: str) -> bool:
    return finding in host_findings(admin, host, status)


def wait_until(admin: httpx.Client, condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


def test_central_vex_statement_marks_a_finding_not_affected(
    fleet: RunningFleet, nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    result = str(nix_fixture_store.links["result"])
    assert fleet.report(token_file(fleet, tmp_path, "web1"), "web1", result).returncode == 0
    statement = {
        "vulnerability": {"name": "CVE-2014-0160"},
        "products": [{"@id": "pkg:nix/openssl@1.0.1f"}],
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
    }
    document = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.org/vex/fleet",
        "author": "ops",
        "timestamp": "2026-01-01T00:00:00Z",
        "version": 1,
        "statements": [statement],
    }
    heartbleed = ("openssl-1.0.1f", "CVE-2014-0160")
    with fleet.admin() as admin:
        fleet.wait_evaluated(admin)
        assert heartbleed in host_findings(admin, "web1")
        answer = admin.put("/api/v1/triage/vex/ops.json", content=json.dumps(document))
        assert answer.status_code == 201, answer.text
        wait_until(admin, partial(has_finding, admin, "web1", heartbleed, "not_affected"))
        assert ("openssl-1.0.1f", "CVE-2014-0224") in host_findings(admin, "web1")
        assert admin.delete("/api/v1/triage/vex/ops.json").status_code == 204
        wait_until(admin, partial(has_finding, admin, "web1", heartbleed, "affected"))


def test_hosts_reporting_one_new_closure_together_upload_it_once(
    fleet: RunningFleet, tmp_path: Path
) -> None:
    names = [f"web{i}" for i in range(12)]
    tokens = [token_file(fleet, tmp_path, name).read_text().strip() for name in names]
    closure = json.dumps({"packages": ZLIB}).encode()

    def host(name: str, token: str) -> tuple[int, int]:
        first = post_report(fleet, token, report_body(name)).status_code
        if first == 409:
            put_closure(fleet, token, digest_of(ZLIB), closure).raise_for_status()
            return first, post_report(fleet, token, report_body(name)).status_code
        return first, first

    with ThreadPoolExecutor(len(names)) as pool:
        answers = list(pool.map(host, names, tokens))
    assert [first for first, _ in answers].count(409) == 1  # the others waited for its upload
    assert all(final == 202 for _, final in answers)
    with fleet.admin() as admin:
        status = fleet.wait_evaluated(admin)
    assert status["hosts_reported"] == len(names) and status["closures"] == 1


def test_a_host_interval_out_of_range_is_refused_not_a_server_error(fleet: RunningFleet) -> None:
    """Found by schemathesis: an interval of 7e24 seconds was a 500 (timedelta overflow)."""
    with fleet.admin() as admin:
        huge = admin.post("/api/v1/hosts", json={"name": "web1", "report_interval": 10**25})
        assert huge.status_code == 422
        tiny = admin.post("/api/v1/hosts", json={"name": "web1", "report_interval": 59})
        assert tiny.status_code == 422
        hourly = admin.post("/api/v1/hosts", json={"name": "web1", "report_interval": 3600})
        assert hourly.status_code == 201
        assert admin.get("/api/v1/hosts/web1").json()["host"]["report_interval"] == 3600


def test_serve_on_an_unreachable_database_is_one_line_and_exit_3(db: Path) -> None:
    run = run_cli(
        "serve", "--database", "postgresql://nobody@127.0.0.1:1/fleet", "--db", str(db),
        "--listen", "127.0.0.1:1", "--update-every", "0", timeout=60,
    )  # fmt: skip
    assert run.returncode == 3
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "migration failed" in lines[0] and "Traceback" not in run.stderr
