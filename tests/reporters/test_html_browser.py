"""The HTML report as a browser shows it: rendered by headless Chromium, table read back."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nix_audit.reporters.html import HtmlReporter
from nix_audit.reporters.interface import ReportOptions
from tests.reporters.sample import sample_result

# Flags for a headless Chromium with no network of its own to reach for (as root, no sandbox).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium is not installed (Debian package chromium)")


class _Table(HTMLParser):
    """The text of every cell of ``table.findings``' body, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rendered_rows(page: Path, tmp_path: Path) -> list[list[str]]:
    """The DOM after scripts ran, as Chromium dumps it, parsed back into table rows."""
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    table = _Table()
    table.feed(done.stdout)
    return table.rows


def test_browser_shows_every_finding(tmp_path: Path) -> None:
    result = sample_result()
    page = tmp_path / "report.html"
    page.write_text(HtmlReporter().render(result, ReportOptions()))
    rows = rendered_rows(page, tmp_path)
    assert len(rows) == len(result.findings)
    shown = {(row[0], row[1], row[3]) for row in rows}
    expected = {
        (t.finding.package.pname, t.finding.package.version, t.finding.cve_id)
        for t in result.findings
    }
    assert shown == expected


def test_clicking_the_score_header_sorts_by_score(tmp_path: Path) -> None:
    # The page's own sorting script runs in the browser; the test adds only the click.
    html = HtmlReporter().render(sample_result(), ReportOptions())
    click = "<script>document.querySelectorAll('table.findings th')[4].click();</script>"
    page = tmp_path / "sorted.html"
    page.write_text(html.replace("</body>", click + "</body>"))
    scores = [row[4] for row in rendered_rows(page, tmp_path)]
    numbers = [float(s) if s not in ("", "-") else -1.0 for s in scores]
    assert numbers == sorted(numbers)
    assert numbers != sorted(numbers, reverse=True)
