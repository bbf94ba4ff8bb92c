"""The fleet service for real: ``nix-audit serve`` on SQLite and PostgreSQL, reports from real
``nix-audit report`` processes on a real Nix store, checked through the API (issue #7)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nix_audit.fleet.protocol import MAX_BODY_BYTES, MAX_DECODED_BYTES
from tests.helpers.fleet_server import RunningFleet, running_fleet
from tests.helpers.nix_store import NixFixtureStore


@pytest.fixture
def fleet(fleet_url: str, db: Path, tmp_path: Path) -> Iterator[RunningFleet]:
    with running_fleet(fleet_url, db, tmp_path) as running:
        yield running


def token_file(fleet: RunningFleet, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.token"
    path.write_text(fleet.add_host(name) + "\n")
    return path


def report_body(hostname: str, names: list[str]) -> dict[str, object]:
    packages = [
        {"name": n, "pname": n.rsplit("-", 1)[0], "version": n.rsplit("-", 1)[1]} for n in names
    ]
    return {"hostname": hostname, "packages": packages}


def post_report(fleet: RunningFleet, token: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{fleet.url}/api/v1/reports",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
    )


def test_two_hosts_report_and_a_shared_closure_is_stored_and_matched_once(
    fleet: RunningFleet, nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    system = str(nix_fixture_store.links["system"])
    for name in ("web1", "web2"):
        done = fleet.report(token_file(fleet, tmp_path, name), name, system)
        assert done.returncode == 0, done.stderr
    other = fleet.report(
        token_file(fleet, tmp_path, "db1"), "db1", str(nix_fixture_store.links["result"])
    )
    assert other.returncode == 0, other.stderr
    assert "new closure" in other.stdout
    with fleet.admin() as admin:
        status = fleet.wait_evaluated(admin)
    assert status["hosts"] == 3 and status["hosts_reported"] == 3
    assert status["closures"] == 2  # web1 and web2 run one closure
    assert status["closures_matched"] == 2


def test_a_host_token_reports_only_for_its_own_host(fleet: RunningFleet, tmp_path: Path) -> None:
    token = token_file(fleet, tmp_path, "web1").read_text().strip()
    token_file(fleet, tmp_path, "web2")
    body = json.dumps(report_body("web2", ["zlib-1.2.8"])).encode()
    answer = post_report(fleet, token, body)
    assert answer.status_code == 403
    assert "belongs to host 'web1'" in answer.json()["detail"]
    with fleet.admin() as admin:
        assert admin.get("/api/v1/status").json()["hosts_reported"] == 0


def test_revoked_and_replaced_tokens_are_refused(fleet: RunningFleet, tmp_path: Path) -> None:
    old = token_file(fleet, tmp_path, "web1").read_text().strip()
    body = json.dumps(report_body("web1", ["zlib-1.2.8"])).encode()
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


def test_oversized_and_malformed_reports_are_refused_with_a_reason(
    fleet: RunningFleet, tmp_path: Path
) -> None:
    token = token_file(fleet, tmp_path, "web1").read_text().strip()
    too_big = post_report(fleet, token, b" " * (MAX_BODY_BYTES + 1))
    assert too_big.status_code == 413
    bomb = gzip.compress(b" " * (MAX_DECODED_BYTES + 1024))
    assert post_report(fleet, token, bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    not_json = post_report(fleet, token, b"{not json")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["detail"]
    extra = json.dumps({**report_body("web1", ["zlib-1.2.8"]), "path": "../../etc"}).encode()
    assert post_report(fleet, token, extra).status_code == 400
    with fleet.admin() as admin:
        assert admin.get("/api/v1/status").json()["hosts_reported"] == 0
