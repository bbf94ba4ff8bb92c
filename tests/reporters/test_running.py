"""Issue #8 in every format: derivation-less packages, processes per finding, and the
"loaded but superseded: restart these processes" list (``scan --running``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nix_audit.reporters.cyclonedx import CycloneDxReporter
from nix_audit.reporters.html import HtmlReporter
from nix_audit.reporters.interface import Reporter, ReportOptions
from nix_audit.reporters.json import JsonReporter
from nix_audit.reporters.nagios import NagiosReporter, PrometheusReporter
from nix_audit.reporters.openvex import OpenVexReporter
from nix_audit.reporters.sarif import SarifReporter
from nix_audit.reporters.text import TextReporter
from tests.reporters.conftest import Golden
from tests.reporters.sample import running_result, sample_result

OPENSSL_RESTART = (
    "loaded but superseded: openssl-1.0.1f (the current system has 1.0.1g): restart these "
    "processes: pid 1234 (nginx, nginx.service), pid 1240 (nginx, nginx.service)"
)
ZLIB_RESTART = (
    "loaded but superseded: zlib-1.2.11 (the current system has another build of it): "
    "restart these processes: pid 1234 (nginx, nginx.service), pid 1240 (nginx, "
    "nginx.service), pid 2001 (sqlite3)"
)

GOLDEN: dict[str, tuple[Reporter, ReportOptions]] = {
    "text_running.txt": (TextReporter(), ReportOptions()),
    "text_running_color.txt": (TextReporter(), ReportOptions(color=True)),
    "report_running.json": (JsonReporter(tool_version="0.0.0-test"), ReportOptions()),
    "report_running.sarif": (SarifReporter(tool_version="0.0.0-test"), ReportOptions()),
    "report_running.cdx.json": (CycloneDxReporter(tool_version="0.0.0-test"), ReportOptions()),
    "report_running.openvex.json": (OpenVexReporter(tool_version="0.0.0-test"), ReportOptions()),
    "report_running.nagios.txt": (NagiosReporter(), ReportOptions()),
    "report_running.prom": (PrometheusReporter(), ReportOptions()),
    "report_running.html": (HtmlReporter(tool_version="0.0.0-test"), ReportOptions()),
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden(golden: Golden, name: str) -> None:
    reporter, options = GOLDEN[name]
    golden(name, reporter.render(running_result(), options))


def render(reporter: Reporter) -> str:
    return reporter.render(running_result(), ReportOptions())


def test_text_has_the_count_the_marker_the_processes_and_one_line_per_restart() -> None:
    lines = render(TextReporter()).splitlines()
    assert (
        "1 package identified from the store path name: no .drv on this host, so applied "
        "patches are unknown"
    ) in lines
    assert "identified from: store path name (no .drv on this host: patches unknown)" in lines
    assert "running: pid 2001 (sqlite3)" in lines
    assert OPENSSL_RESTART in lines and ZLIB_RESTART in lines
    assert (
        "Running processes: 81 inspected, using 14 store paths; 2 superseded packages loaded; "
        "2 processes could not be inspected (see -v)"
    ) in lines


def test_color_text_says_the_same() -> None:
    text = TextReporter().render(running_result(), ReportOptions(color=True))
    assert OPENSSL_RESTART in text and "running: pid 2001 (sqlite3)" in text


def test_json_marks_packages_and_lists_restarts() -> None:
    document: dict[str, Any] = json.loads(render(JsonReporter()))
    by_name = {d["name"]: d for d in document["derivations"]}
    assert by_name["sqlite-3.8.10"]["identified_from"] == "store-path-name"
    assert by_name["openssl-1.0.1f"]["identified_from"] == "derivation"
    assert by_name["openssl-1.0.1f"]["processes"] == [
        {"pid": 1234, "command": "nginx", "unit": "nginx.service"},
        {"pid": 1240, "command": "nginx", "unit": "nginx.service"},
    ]
    assert document["summary"]["identified_from_store_path_name"] == 1
    running = document["running"]
    assert (running["processes"], running["uninspectable"], running["store_paths"]) == (81, 2, 14)
    assert [(r["name"], r["current_version"]) for r in running["needs_restart"]] == [
        ("openssl-1.0.1f", "1.0.1g"),
        ("zlib-1.2.11", "1.2.11"),
    ]
    assert running["needs_restart"][1]["processes"][2] == {
        "pid": 2001,
        "command": "sqlite3",
        "unit": None,
    }


def test_json_without_running_says_null() -> None:
    document = json.loads(JsonReporter().render(sample_result(), ReportOptions()))
    assert document["running"] is None
    assert all(d["processes"] == [] for d in document["derivations"])


def test_sarif_results_and_run_carry_the_running_facts() -> None:
    run = json.loads(render(SarifReporter()))["runs"][0]
    by_cve = {r["ruleId"]: r["properties"] for r in run["results"]}
    assert by_cve["CVE-2014-0160"]["needsRestart"] == OPENSSL_RESTART
    assert [p["pid"] for p in by_cve["CVE-2014-0160"]["processes"]] == [1234, 1240]
    assert by_cve["CVE-2015-3414"]["identifiedFrom"] == "store-path-name"
    assert "needsRestart" not in by_cve["CVE-2015-3414"]
    assert [r["name"] for r in run["properties"]["needsRestart"]] == [
        "openssl-1.0.1f",
        "zlib-1.2.11",
    ]
    plain = json.loads(SarifReporter().render(sample_result(), ReportOptions()))["runs"][0]
    assert "properties" not in plain


def test_cyclonedx_components_and_metadata_carry_the_running_facts() -> None:
    bom = json.loads(render(CycloneDxReporter()))
    props = {
        c["name"]: [(p["name"], p["value"]) for p in c.get("properties", [])]
        for c in bom["components"]
    }
    assert ("nix:identified_from", "store-path-name") in props["sqlite"]
    assert ("nix-audit:needs_restart", OPENSSL_RESTART) in props["openssl"]
    assert ("nix-audit:process", "pid 1240 (nginx, nginx.service)") in props["openssl"]
    metadata = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert metadata["nix-audit:running:needs_restart"] == "2"


def test_openvex_action_statement_says_what_to_restart() -> None:
    statements = json.loads(render(OpenVexReporter()))["statements"]
    actions = {s["vulnerability"]["name"]: s["action_statement"] for s in statements}
    assert actions["CVE-2014-0160"].endswith(
        " Loaded but superseded: openssl-1.0.1f (the current system has 1.0.1g): restart these "
        "processes: pid 1234 (nginx, nginx.service), pid 1240 (nginx, nginx.service)."
    )
    assert actions["CVE-2015-3414"].endswith(" Loaded now by: pid 2001 (sqlite3).")


def test_monitoring_counts_restarts_only_when_running_was_scanned() -> None:
    status = render(NagiosReporter()).splitlines()
    assert status[0].endswith(" needs_restart=2")
    assert "2 superseded packages still loaded" in status[0]
    assert OPENSSL_RESTART in status
    plain = NagiosReporter().render(sample_result(), ReportOptions())
    assert "needs_restart" not in plain
    metrics = render(PrometheusReporter()).splitlines()
    assert "nix_audit_needs_restart_packages 2" in metrics
    assert 'nix_audit_running_processes{state="uninspectable"} 2' in metrics
    assert "needs_restart" not in PrometheusReporter().render(sample_result(), ReportOptions())


def test_html_has_a_restart_section_and_marks_packages() -> None:
    page = render(HtmlReporter())
    assert '<section class="running">' in page
    assert "<li>loaded but superseded: openssl-1.0.1f (the current system has 1.0.1g)" in page
    assert "identified from store path name" in page
    assert "running: pid 2001 (sqlite3)" in page
    assert '<section class="running">' not in HtmlReporter().render(
        sample_result(), ReportOptions()
    )
