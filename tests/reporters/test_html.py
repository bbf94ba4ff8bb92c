"""The HTML report, read back with ``html.parser``: rows, links, no network loads, escaping."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from nix_audit.models import ScanResult
from nix_audit.reporters._sanitize import MAX_DESCRIPTION
from nix_audit.reporters.html import CONTENT_SECURITY_POLICY, HtmlReporter
from nix_audit.reporters.interface import ReportOptions
from tests.reporters.conftest import Golden
from tests.reporters.hostile import BAD_CHARACTERS, SCRIPT, hostile_result
from tests.reporters.sample import sample_result

VERSION = "0.0.0-test"


@dataclass
class Page(HTMLParser):
    """What the tests read back: every tag with its attributes, table rows, script bodies."""

    tags: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    row_classes: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    _cell: list[str] | None = None
    _in_body: bool = False
    _in_script: bool = False

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
            self.row_classes.append(dict(attrs).get("class") or "")
        elif tag == "td" and self._in_body:
            self._cell = []
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_script:
            self.scripts[-1] += data


def parse(result: ScanResult) -> Page:
    page = Page()
    page.feed(HtmlReporter(VERSION).render(result, ReportOptions()))
    page.close()
    return page


def test_golden(golden: Golden) -> None:
    golden("report.html", HtmlReporter(VERSION).render(sample_result(), ReportOptions()))


def test_one_row_per_finding_worst_affected_first() -> None:
    page = parse(sample_result())
    assert len(page.rows) == len(sample_result().findings) == 9
    assert page.rows[0] == [
        "zlib",
        "1.2.11",
        "runtime",
        "CVE-2022-37434",
        "9.8",
        "CRITICAL",
        "affected",
        "inflate overflow.",
    ]
    statuses = [row[6] for row in page.rows]
    assert statuses == ["affected"] * 5 + ["whitelisted"] * 2 + ["patched"] * 2
    assert page.row_classes[-1] == "status-patched"
    # A v2-only score without an NVD severity word still gets a rating.
    assert page.rows[-1][3:6] == ["CVE-2016-2105", "5.0", "MEDIUM"]


def test_every_cve_links_to_the_nvd() -> None:
    page = parse(sample_result())
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    cves = [row[3] for row in page.rows]
    assert links == [f"https://nvd.nist.gov/vuln/detail/{cve}" for cve in cves]


def test_nothing_is_loaded_from_the_network() -> None:
    page = parse(sample_result())
    csp = [
        a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp == [{"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY}]
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    for tag, attrs in page.tags:
        assert "src" not in attrs, (tag, attrs)  # no scripts, images, frames from anywhere
        if tag in ("link", "script", "style", "img", "iframe", "object", "embed"):
            assert not any(re.match(r"\s*(https?:)?//", v or "") for v in attrs.values())
    assert not any(tag in ("link", "img", "iframe", "object", "embed") for tag, _ in page.tags)
    assert [t for t, _ in page.tags].count("script") == 1
    assert "http" not in page.scripts[0] and "import" not in page.scripts[0]


def test_summary_and_database_age() -> None:
    html = HtmlReporter(VERSION).render(sample_result(), ReportOptions())
    assert "4 of 7 packages with active advisories: 5 findings" in html
    assert "(30.0 hours before this scan)" in html


def test_hostile_text_is_escaped_and_cut() -> None:
    text = HtmlReporter(VERSION).render(hostile_result(), ReportOptions())
    for bad in BAD_CHARACTERS:
        assert bad not in text
    assert SCRIPT not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert len(text) < 30_000  # the 1 MB description was cut
    page = parse(hostile_result())
    assert [t for t, _ in page.tags].count("script") == 1  # only ours
    descriptions = [row[7] for row in page.rows]
    assert max(len(d) for d in descriptions) <= MAX_DESCRIPTION
    assert any(d.startswith(SCRIPT) and d.endswith("\u2026") for d in descriptions)
    packages = {row[0] for row in page.rows}
    assert 'evil|"q\\' + SCRIPT in packages  # shown as text, exactly
    # A whitelist issue URL is text in the description, never a link.
    assert [a["href"] for t, a in page.tags if t == "a"] == [
        "https://nvd.nist.gov/vuln/detail/CVE-2024-0001",
        "https://nvd.nist.gov/vuln/detail/CVE-2024-0003",
        "https://nvd.nist.gov/vuln/detail/CVE-2024-0002",
    ]


def test_not_affected_rows_and_hygiene_warnings() -> None:
    from tests.reporters.sample import vex_result

    page = parse(vex_result())
    statuses = [row[6] for row in page.rows]
    assert statuses.count("not_affected") == 3
    assert "status-not_affected" in page.row_classes
    [row] = [r for r in page.rows if r[3] == "CVE-2018-25032"]
    assert row[7].startswith("not_affected: VEX: not_affected (code_not_reachable)")
    html = HtmlReporter(VERSION).render(vex_result(), ReportOptions())
    assert "has no cve list: it hides every version and every future CVE of libxslt" in html
