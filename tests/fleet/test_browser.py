"""The fleet's pages in headless Chromium (Debian's, driven by Playwright): log in through the
form, read the overview, follow a host link, read its findings, and compare with the API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.fleet.test_pages import Reported, fleet, reported
from tests.helpers.fleet_server import ADMIN

__all__ = ["fleet", "reported"]  # fixtures, by import

CHROMIUM = Path("/usr/bin/chromium")
# No network of its own: no updates, no sync, nothing but the test server on loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is missing (Debian package chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so the browser test must run", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture
def page(reported: Reported) -> Iterator[Page]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium.new_page()
        finally:
            chromium.close()


def table(page: Page, table_id: str) -> list[list[str]]:
    """The text of each cell of the table's body rows, as the browser renders them."""
    return [
        [" ".join(text.split()) for text in row.locator("th, td").all_inner_texts()]
        for row in page.locator(f"#{table_id} tbody tr").all()
    ]


def overview_row(host: dict[str, Any]) -> list[str]:
    counts = host["open"]
    suppressed = sum(host["suppressed"].values())
    return [
        host["name"],
        host["severity"],
        *(str(counts[k]) for k in ("critical", "high", "medium", "low", "unscored")),
        str(suppressed),
        str(host["packages"]),
        host["nixos_version"] or "",
    ]


def finding_row(finding: dict[str, Any]) -> list[str]:
    score = finding["score"]
    return [
        finding["cve_id"],
        finding["severity"],
        "-" if score is None else f"{score:.1f}",
        finding["pname"],
        finding["version"],
        "build-time" if finding["closure"] == "buildtime" else "runtime",
        finding["status"].replace("_", " "),
        finding["reason"],
        "new" if finding["new"] else "",
        finding["store_path"] or "",
    ]


def test_a_browser_logs_in_reads_the_overview_and_follows_a_host_link(
    page: Page, reported: Reported
) -> None:
    fleet = reported.fleet
    page.goto(f"{fleet.url}/hosts/web1")
    assert page.url == f"{fleet.url}/login?next=/hosts/web1"
    page.fill("#name", ADMIN[0])
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Wrong admin name or password."
    page.fill("#password", ADMIN[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{fleet.url}/hosts/web1")
    page.get_by_role("link", name="Hosts").click()
    page.wait_for_url(f"{fleet.url}/")

    with fleet.admin() as api:
        overview = api.get("/api/v1/hosts").raise_for_status().json()
        web1 = api.get("/api/v1/hosts/web1").raise_for_status().json()
    shown = table(page, "hosts")
    assert [row[:10] for row in shown] == [overview_row(h) for h in overview["hosts"]]
    assert [row[0] for row in shown] == ["laptop", "web1", "idle"]
    assert page.locator("svg.trend").count() == 1

    page.locator("#hosts").get_by_role("link", name="web1", exact=True).click()
    page.wait_for_url(f"{fleet.url}/hosts/web1")
    findings = table(page, "findings")
    assert findings == [finding_row(f) for f in web1["findings"]]
    assert [row[0] for row in findings] == ["CVE-2014-0160", "CVE-2014-0224", "CVE-2016-5419"]
    assert page.locator("h1 .sev").inner_text() == "high"

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{fleet.url}/login")
    page.goto(f"{fleet.url}/")
    assert page.url == f"{fleet.url}/login?next=/"
