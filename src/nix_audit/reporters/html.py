"""HTML report: one self-contained page with a sortable table of findings.

Nothing is loaded from anywhere: the CSS and the sorting script are inline, there are no
images or fonts, and a Content-Security-Policy meta tag (CSP Level 3, ``default-src
'none'``) forbids any network load the page might otherwise be tricked into. Every string
from a feed, a derivation or a whitelist is stripped of control characters and HTML-escaped
(``html.escape`` with quotes), and descriptions are cut to ``MAX_DESCRIPTION`` characters.

The table shows every finding, whitelisted, patched and not affected (VEX) ones too, with a
status column: a file is read later and by others, who should see what was hidden and why.
Whitelist hygiene warnings are listed with the other warnings.
"""

from __future__ import annotations

from urllib.parse import quote

from nix_audit import __version__
from nix_audit.models import IdentifiedFrom, ScanResult, TriagedFinding, TriageStatus
from nix_audit.reporters import (
    clean_text,
    cve_sort_key,
    derivationless_count,
    group_findings,
    hygiene_messages,
    plural,
    processes_text,
    restart_message,
    running_line,
    score_text,
)
from nix_audit.reporters._sanitize import (
    MAX_DESCRIPTION,
    database_age_hours,
    html_text,
    rfc3339,
)
from nix_audit.reporters.interface import Reporter, ReportOptions

__all__ = ["CONTENT_SECURITY_POLICY", "HtmlReporter"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
)
_NVD_DETAIL_URL = "https://nvd.nist.gov/vuln/detail/"
_SEVERITIES = ("critical", "high", "medium", "low", "none")
_V3_FLOORS = ((9.0, "critical"), (7.0, "high"), (4.0, "medium"), (0.1, "low"), (0.0, "none"))

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #1b1b1b; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.summary, .database { margin: 0.3em 0; }
.warnings, .needs-restart { color: #8a4b00; }
h2 { font-size: 1.15em; margin: 1em 0 0.2em; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35em 0.6em; text-align: left;
  vertical-align: top; }
th { background: #f2f2f2; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.score { text-align: right; font-variant-numeric: tabular-nums; }
td.description { font-size: 0.9em; max-width: 40em; }
.sev { font-weight: 600; padding: 0.1em 0.45em; border-radius: 0.25em; }
.sev-critical { background: #7a0010; color: #fff; }
.sev-high { background: #d4351c; color: #fff; }
.sev-medium { background: #f0a500; color: #1b1b1b; }
.sev-low { background: #3d7fc4; color: #fff; }
.sev-none, .sev-unknown { background: #ddd; color: #1b1b1b; }
tr.status-whitelisted td, tr.status-patched td, tr.status-not_affected td { color: #6b6b6b; }
"""

# Sorts by a cell's data-sort value when it has one (numbers), else by its text. Static: no
# report data is ever written into the script, so nothing from a feed can reach it.
_SCRIPT = """
document.querySelectorAll("table.findings th").forEach(function (th, column) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var numeric = th.dataset.type === "number";
    var key = function (row) {
      var cell = row.cells[column], value = cell.dataset.sort || cell.textContent;
      return numeric ? parseFloat(value) : value.toLowerCase();
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b), order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

_COLUMNS = (
    ("Package", "text"),
    ("Version", "text"),
    ("Closure", "text"),
    ("CVE", "number"),
    ("Score", "number"),
    ("Severity", "number"),
    ("Status", "text"),
    ("Description", "text"),
)


class HtmlReporter(Reporter):
    """``--format html``. Options do not filter: a page has room for every finding and its
    description, and sorting puts what matters on top."""

    def __init__(self, tool_version: str = __version__) -> None:
        self.tool_version = tool_version

    def render(self, result: ScanResult, options: ReportOptions) -> str:
        findings = [f for g in group_findings(result.findings) for f in g.findings]
        findings.sort(key=_row_order)
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>nix-audit report</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            *self._header(result, findings),
            *_running(result),
            '<table class="findings">',
            "<thead><tr>"
            + "".join(f'<th data-type="{kind}">{name}</th>' for name, kind in _COLUMNS)
            + "</tr></thead>",
            "<tbody>",
            *(_row(f) for f in findings),
            "</tbody>",
            "</table>",
            f"<script>{_SCRIPT}</script>",
            "</body>",
            "</html>",
        ]
        return "\n".join(parts) + "\n"

    def _header(self, result: ScanResult, findings: list[TriagedFinding]) -> list[str]:
        affected = [f for f in findings if f.status is TriageStatus.AFFECTED]
        vulnerable = len({f.finding.package.key for f in affected})
        hidden = len(findings) - len(affected)
        scanned = "" if result.scanned_at is None else f", scanned {rfc3339(result.scanned_at)}"
        lines = [
            "<header>",
            "<h1>nix-audit report</h1>",
            f'<p class="summary">{vulnerable} of {len({p.key for p in result.packages})} '
            f"packages with active advisories: {len(affected)} findings; {hidden} whitelisted, "
            f"patched or not affected{scanned}. nix-audit {html_text(self.tool_version)}.</p>",
            f'<p class="database">{_database(result)}</p>',
        ]
        if by_name := derivationless_count(result):
            lines.append(
                f'<p class="derivationless">{plural(by_name, "package")} identified from the '
                "store path name: no .drv on this host, so applied patches are unknown.</p>"
            )
        warnings = [*result.warnings, *hygiene_messages(result.hygiene)]
        if warnings:
            lines.append('<ul class="warnings">')
            lines += [f"<li>{html_text(w, MAX_DESCRIPTION)}</li>" for w in warnings]
            lines.append("</ul>")
        lines.append("</header>")
        return lines


def _running(result: ScanResult) -> list[str]:
    """``scan --running``: what was inspected, and the packages to restart (issue #8)."""
    summary = running_line(result)
    if summary is None or result.running is None:
        return []
    lines = [
        '<section class="running">',
        "<h2>Running processes</h2>",
        f"<p>{html_text(summary)}.</p>",
    ]
    restarts = result.running.needs_restart
    if restarts:
        lines.append('<ul class="needs-restart">')
        lines += [f"<li>{html_text(restart_message(r))}</li>" for r in restarts]
        lines.append("</ul>")
    return [*lines, "</section>"]


def _package_cell(triaged: TriagedFinding) -> str:
    """The package name, with how it was identified and what runs it when that is known."""
    package = triaged.finding.package
    cell = html_text(package.pname or package.name)
    if package.identified_from is IdentifiedFrom.STORE_PATH_NAME:
        cell += '<br><small class="derivationless">identified from store path name</small>'
    if package.processes:
        running = html_text(processes_text(package.processes))
        cell += f'<br><small class="processes">running: {running}</small>'
    return f"<td>{cell}</td>"


def _database(result: ScanResult) -> str:
    index = result.index
    if index is None:
        return "Advisory database: unknown."
    text = f"Advisory database: {index.records:,} records"
    if index.last_update is None:
        return text + ", never updated."
    text += f", updated {rfc3339(index.last_update)}"
    age = database_age_hours(index, result.scanned_at)
    if age is not None:
        text += f" ({age:.1f} hours before this scan)"
    return text + "."


def _row_order(triaged: TriagedFinding) -> tuple[int, float, str, tuple[int, int, str]]:
    """Affected first, then worst score first, then package name and CVE."""
    score = triaged.details.score
    return (
        0 if triaged.status is TriageStatus.AFFECTED else 1,
        -score if score is not None else 1.0,
        triaged.finding.package.name,
        cve_sort_key(triaged.finding.cve_id),
    )


def _severity(triaged: TriagedFinding) -> str:
    """The NVD's severity word in lower case; without one, the score's rating (the CVSS v3.1
    scale, or the NVD's v2 scale for a v2-only score); ``unknown`` when there is no score.
    Only these known words ever become a CSS class."""
    details = triaged.details
    word = clean_text(details.severity or "").lower()
    if word in _SEVERITIES:
        return word
    score = details.score
    if score is None:
        return "unknown"
    v2_only = details.cvss_v3 is None and details.cvss_v4 is None
    floors = ((7.0, "high"), (4.0, "medium"), (0.0, "low")) if v2_only else _V3_FLOORS
    return next(name for floor, name in floors if score >= floor)


def _row(triaged: TriagedFinding) -> str:
    finding, package, details = triaged.finding, triaged.finding.package, triaged.details
    severity = _severity(triaged)
    year, number, _ = cve_sort_key(finding.cve_id)
    score = details.score
    description = details.description
    if triaged.status is not TriageStatus.AFFECTED:
        reason = triaged.reason or triaged.status.value
        description = f"{triaged.status.value}: {reason}" + (
            f". {description}" if description else ""
        )
    url = _NVD_DETAIL_URL + quote(finding.cve_id, safe="")
    cells = [
        _package_cell(triaged),
        f"<td>{html_text(package.version)}</td>",
        f"<td>{package.closure.value}</td>",
        f'<td data-sort="{year * 10_000_000 + number}">'
        f'<a href="{html_text(url)}">{html_text(finding.cve_id)}</a></td>',
        f'<td class="score" data-sort="{-1 if score is None else score}">'
        f"{score_text(triaged)}</td>",
        f'<td data-sort="{_SEVERITIES[::-1].index(severity) if severity in _SEVERITIES else -1}">'
        f'<span class="sev sev-{severity}">{severity.upper()}</span></td>',
        f"<td>{triaged.status.value}</td>",
        f'<td class="description">{html_text(description, MAX_DESCRIPTION)}</td>',
    ]
    return f'<tr class="status-{triaged.status.value}">' + "".join(cells) + "</tr>"
