"""The fleet's pages from a real ``nix-audit serve``: login, the overview, a host, a CVE.

Two hosts report with real ``nix-audit report`` processes from the Nix fixture store: ``web1``
its NixOS system (curl, expat, requests and what they need: openssl-1.0.1f, zlib-1.2.11), and
``laptop`` the ``result`` link (curl-7.50.0 and its closure). The index is the end-to-end one
(``tests/e2e/conftest.py``): openssl-1.0.1f has CVE-2014-0160 and CVE-2014-0224, curl-7.50.0
has CVE-2016-5419 (no score); zlib-1.2.11 is past CVE-2016-9840's range.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from nix_audit.fleet.protocol import ClosureUpload, ReportedPackage, closure_digest, encode
from nix_audit.fleet.security import SESSION_COOKIE
from tests.helpers.fleet_server import ADMIN, RunningFleet, running_fleet
from tests.helpers.nix_store import NixFixtureStore


class Tables(HTMLParser):
    """The body rows of every table with an id: the text of each cell, ``th`` and ``td``."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("id"):
            self._table = found["id"]
            self.tables[str(self._table)] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._in_body and self._table:
            self._cell = []
        elif tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows(html: str, table: str) -> list[list[str]]:
    return Tables(html).tables[table]


@pytest.fixture
def fleet(db: Path, tmp_path: Path) -> Iterator[RunningFleet]:
    with running_fleet(str(tmp_path / "fleet.sqlite"), db, tmp_path) as running:
        yield running


@dataclass(frozen=True)
class Reported:
    fleet: RunningFleet
    store: NixFixtureStore


@pytest.fixture
def reported(fleet: RunningFleet, nix_fixture_store: NixFixtureStore, tmp_path: Path) -> Reported:
    """``web1`` reported the fixture's system, ``laptop`` its ``result``; ``idle`` nothing."""
    for name, link in (("web1", "system"), ("laptop", "result")):
        token = tmp_path / f"{name}.token"
        token.write_text(fleet.add_host(name) + "\n")
        done = fleet.report(token, name, str(nix_fixture_store.links[link]))
        assert done.returncode == 0, done.stderr
    fleet.add_host("idle")
    with fleet.admin() as admin:
        fleet.wait_evaluated(admin)
    return Reported(fleet, nix_fixture_store)


def browser(fleet: RunningFleet) -> httpx.Client:
    """A client that, like a browser, keeps cookies, but shows us each redirect."""
    return httpx.Client(base_url=fleet.url, follow_redirects=False)


def log_in(client: httpx.Client, next_path: str = "/") -> httpx.Response:
    return client.post("/login", data={"name": ADMIN[0], "password": ADMIN[1], "next": next_path})


def test_pages_send_a_browser_without_a_session_to_the_login_form(fleet: RunningFleet) -> None:
    with browser(fleet) as client:
        for path, location in (
            ("/", "/login?next=/"),
            ("/hosts/web1", "/login?next=/hosts/web1"),
            ("/hygiene", "/login?next=/hygiene"),
            ("/cves/CVE-2014-0160", "/login?next=/cves/CVE-2014-0160"),
        ):
            answer = client.get(path)
            assert (answer.status_code, answer.headers["location"]) == (303, location)
        form = client.get("/login", params={"next": "/hosts/web1"})
    assert form.status_code == 200
    assert '<input type="hidden" name="next" value="/hosts/web1">' in form.text
    assert "default-src 'none'" in form.headers["content-security-policy"]
    assert "/login" not in httpx.get(f"{fleet.url}/openapi.json").json()["paths"]


def test_a_wrong_password_shows_the_form_again_with_401(fleet: RunningFleet) -> None:
    with browser(fleet) as client:
        answer = client.post(
            "/login", data={"name": ADMIN[0], "password": "wrong password", "next": "/"}
        )
        assert answer.status_code == 401
        assert "Wrong admin name or password." in answer.text
        assert 'value="admin"' in answer.text  # the name is kept, the password is not
        assert "set-cookie" not in answer.headers
        assert client.get("/").status_code == 303
        unknown = client.post("/login", data={"name": "nobody", "password": ADMIN[1]})
        assert unknown.status_code == 401


def test_login_sets_a_strict_http_only_cookie_and_redirects_only_to_local_paths(
    fleet: RunningFleet,
) -> None:
    cases = [
        ("/hosts/web1?x=1", "/hosts/web1?x=1"),
        ("//evil.example", "/"),
        ("//evil.example/hosts", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\t/evil.example", "/"),
        ("hosts", "/"),
    ]
    for next_path, location in cases:
        with browser(fleet) as client:
            answer = log_in(client, next_path)
            assert (answer.status_code, answer.headers["location"]) == (303, location)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert "secure" not in attributes  # the test server is plain HTTP on loopback


def test_overview_host_cve_and_package_pages_show_the_reports(reported: Reported) -> None:
    fleet, store = reported.fleet, reported.store
    with browser(fleet) as client:
        assert log_in(client).status_code == 303
        overview = client.get("/")
        assert overview.status_code == 200
        hosts = rows(overview.text, "hosts")
        # Host, worst, critical, high, medium, low, unscored, suppressed, packages, NixOS.
        assert [r[:10] for r in hosts] == [
            ["laptop", "high", "0", "2", "0", "0", "1", "0", "3", ""],
            ["web1", "high", "0", "2", "0", "0", "1", "0", "6", ""],
            ["idle", "none", "0", "0", "0", "0", "0", "0", "0", ""],
        ]
        assert [r[10:] for r in hosts][2] == ["never", "never reported"]
        assert [r[11] for r in hosts][:2] == ["ok", "ok"]
        assert "<svg" in overview.text and "Open findings over time" in overview.text
        assert {"/hosts/laptop", "/hosts/web1", "/hosts/idle"} <= set(Tables(overview.text).links)

        host = client.get("/hosts/web1")
        openssl = store.out("openssl")
        curl = store.out("curl")
        assert rows(host.text, "findings") == [
            ["CVE-2014-0160", "high", "7.5", "openssl", "1.0.1f", "runtime", "affected", "", "",
             openssl],
            ["CVE-2014-0224", "high", "7.4", "openssl", "1.0.1f", "runtime", "affected", "", "",
             openssl],
            ["CVE-2016-5419", "unscored", "-", "curl", "7.50.0", "runtime", "affected", "", "",
             curl],
        ]  # fmt: skip
        history = rows(host.text, "history")
        system = os.path.realpath(store.links["system"])  # a NixOS system's top level
        assert [r[2:] for r in history] == [["closure changed", "", system, "runtime"]]

        cve = client.get("/cves/CVE-2014-0160")
        assert [r[:5] for r in rows(cve.text, "cve-hosts")] == [
            ["laptop", "openssl", "1.0.1f", "runtime", "affected"],
            ["web1", "openssl", "1.0.1f", "runtime", "affected"],
        ]
        assert "Heartbleed: TLS heartbeat read overrun" in cve.text

        package = client.get("/packages/openssl")
        assert rows(package.text, "versions") == [
            ["1.0.1f", "2", "laptop, web1", "CVE-2014-0160, CVE-2014-0224", openssl]
        ]
        hygiene = client.get("/hygiene")
        assert hygiene.status_code == 200 and "Every rule is in use." in hygiene.text

        for missing in ("/hosts/nobody", "/cves/CVE-1999-0001", "/cves/nonsense", "/packages/x"):
            answer = client.get(missing)
            assert answer.status_code == 404, missing
            assert "Not found" in answer.text


def test_pages_and_the_api_agree(reported: Reported) -> None:
    fleet = reported.fleet
    with browser(fleet) as client, fleet.admin() as api:
        log_in(client)
        overview = api.get("/api/v1/hosts").raise_for_status().json()
        page = rows(client.get("/").text, "hosts")
        assert [h["name"] for h in overview["hosts"]] == [r[0] for r in page]
        assert [h["severity"] for h in overview["hosts"]] == [r[1] for r in page]
        assert overview["totals"]["open"]["total"] == 6
        findings = api.get("/api/v1/hosts/web1").raise_for_status().json()["findings"]
        assert [f["cve_id"] for f in findings] == [
            r[0] for r in rows(client.get("/hosts/web1").text, "findings")
        ]
        assert api.get("/api/v1/hosts/nobody").status_code == 404
        assert api.get("/api/v1/cves/CVE-1999-0001").status_code == 404
        assert api.get("/api/v1/cves/not-a-cve").status_code == 422
        assert api.get("/api/v1/packages/curl").json()["versions"][0]["hosts"] == [
            "laptop",
            "web1",
        ]
        points = api.get("/api/v1/trend").json()["points"]
        assert points[-1]["open"] == 6 and points[-1]["hosts"] == 2
        assert api.get("/api/v1/hygiene").json()["rules"] == 0
    assert httpx.get(f"{fleet.url}/api/v1/hosts").status_code == 401


def test_logout_ends_the_session(fleet: RunningFleet) -> None:
    with browser(fleet) as client:
        log_in(client)
        token = client.cookies[SESSION_COOKIE]
        assert client.get("/").status_code == 200
        answer = client.post("/logout")
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")
        assert f'{SESSION_COOKIE}=""' in answer.headers["set-cookie"]
        assert SESSION_COOKIE not in client.cookies
    # The session is closed on the server, not only forgotten by this browser.
    with browser(fleet) as replay:
        replay.cookies.set(SESSION_COOKIE, token)
        assert replay.get("/").status_code == 303


def test_text_from_reports_is_escaped_never_markup(fleet: RunningFleet) -> None:
    token = fleet.add_host("evil")
    auth = {"Authorization": f"Bearer {token}"}
    hostile = '<img src=x onerror="alert(1)">'
    closure = ClosureUpload(
        (ReportedPackage(name=f"{hostile}-1.0", pname=hostile, version="1.0<script>"),)
    )
    digest = closure_digest(closure.packages)
    body = {
        "hostname": "evil",
        "closure": digest,
        "system": f"/nix/store/{'c' * 32}-{hostile}",
        "nixos_version": "<b>24.05</b>",
    }
    uploaded = httpx.put(
        f"{fleet.url}/api/v1/closures/{digest}", content=encode(closure), headers=auth
    )
    assert uploaded.status_code == 200, uploaded.text
    sent = httpx.post(f"{fleet.url}/api/v1/reports", json=body, headers=auth)
    assert sent.status_code == 202, sent.text
    with browser(fleet) as client:
        log_in(client)
        pages = [client.get("/"), client.get("/hosts/evil"), client.get(f"/packages/{hostile}")]
    assert [p.status_code for p in pages] == [200, 200, 200]
    for page in pages:
        assert "<img" not in page.text and "<script" not in page.text and "<b>" not in page.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in pages[1].text  # the system path
    assert rows(pages[2].text, "versions")[0][:3] == ["1.0<script>", "1", "evil"]
    assert rows(pages[0].text, "hosts")[0][9] == "<b>24.05</b>"  # shown as text
