"""The CycloneDX report: golden file, the library's strict 1.6 validator, components, VEX."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from nix_audit.models import AdvisoryDetails, Package, ScanResult, TriageStatus
from nix_audit.reporters.cyclonedx import CycloneDxReporter, cvss_severity
from nix_audit.reporters.interface import ReportOptions
from nix_audit.reporters.openvex import OpenVexReporter
from tests.reporters.conftest import Golden
from tests.reporters.hostile import BAD_CHARACTERS, HUGE, SCRIPT, hostile_result
from tests.reporters.sample import OPENSSL, ZLIB, sample_result, triaged, vex_result

VERSION = "0.0.0-test"


def render_text(result: ScanResult) -> str:
    return CycloneDxReporter(VERSION).render(result, ReportOptions())


def render(result: ScanResult) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render_text(result))
    return document


def assert_valid(text: str) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)


def vulnerabilities(result: ScanResult) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in render(result)["vulnerabilities"]}


def test_closure_dependencies_become_the_dependency_graph() -> None:
    result = sample_result()
    first, second = result.packages[0], result.packages[1]
    linked = replace(
        result, packages=(replace(first, depends_on=(second.key,)), *result.packages[1:])
    )
    text = render_text(linked)
    assert_valid(text)
    graph = {d["ref"]: d.get("dependsOn", []) for d in json.loads(text)["dependencies"]}
    assert graph[first.key] == [second.key]
    assert graph[second.key] == []


def test_golden(golden: Golden) -> None:
    golden("report.cdx.json", render_text(sample_result()))


def test_valid_cyclonedx_1_6() -> None:
    text = render_text(sample_result())
    assert_valid(text)
    document = json.loads(text)
    assert document["specVersion"] == "1.6" and document["bomFormat"] == "CycloneDX"


def test_validator_can_fail() -> None:
    document = render(sample_result())
    document["vulnerabilities"][0]["analysis"]["state"] = "probably_fine"
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    assert error is not None


def test_every_package_is_a_component_with_nix_properties() -> None:
    document = render(sample_result())
    components = {c["bom-ref"]: c for c in document["components"]}
    assert len(components) == len(sample_result().packages)
    openssl = components[OPENSSL.key]
    assert openssl["purl"] == "pkg:nix/openssl@1.0.1f"
    assert openssl["name"] == "openssl" and openssl["version"] == "1.0.1f"
    assert {p["name"]: p["value"] for p in openssl["properties"]} == {
        "nix:closure": "runtime",
        "nix:derivation": OPENSSL.derivation,
        "nix:store_path": OPENSSL.store_path,
    }
    assert {d["ref"] for d in document["dependencies"]} == set(components)


def test_cpes_of_a_package() -> None:
    cpes = ("cpe:2.3:a:zlib:zlib:1.2.11:*:*:*:*:*:*:*", "cpe:2.3:a:gnu:zlib:1.2.11:*:*:*:*:*:*:*")
    zlib = dataclasses.replace(ZLIB, cpes=cpes)
    text = render_text(ScanResult(packages=(zlib,), findings=(), index=None))
    assert_valid(text)
    [component] = json.loads(text)["components"]
    assert component["cpe"] == cpes[0]
    assert {"name": "nix:cpe", "value": cpes[1]} in component["properties"]


def test_vulnerabilities_carry_ratings_source_and_target() -> None:
    heartbleed = vulnerabilities(sample_result())["CVE-2014-0160"]
    assert heartbleed["source"] == {
        "name": "NVD",
        "url": "https://nvd.nist.gov/vuln/detail/CVE-2014-0160",
    }
    assert [(r["method"], r["score"], r["severity"]) for r in heartbleed["ratings"]] == [
        ("CVSSv31", 7.5, "high"),
        ("CVSSv2", 5.0, "medium"),
    ]
    assert heartbleed["affects"] == [{"ref": OPENSSL.key}]
    assert heartbleed["analysis"] == {"state": "exploitable"}


def test_vex_analysis_states() -> None:
    found = vulnerabilities(sample_result())
    assert found["CVE-2016-2105"]["analysis"] == {
        "state": "resolved",
        "detail": "patch named after the CVE applied",
    }
    # "fix rolling out" accepts a risk; the finding stays exploitable, with the reason.
    assert found["CVE-2014-0224"]["analysis"]["state"] == "exploitable"
    assert "fix rolling out" in found["CVE-2014-0224"]["analysis"]["detail"]
    assert found["CVE-2023-28319"]["analysis"]["state"] == "in_triage"  # low confidence
    wrong = triaged(
        OPENSSL, AdvisoryDetails("CVE-2020-1"), TriageStatus.WHITELISTED, reason="false positive"
    )
    denied = triaged(
        ZLIB, AdvisoryDetails("CVE-2020-2"), TriageStatus.WHITELISTED, reason="not affected"
    )
    result = ScanResult(packages=(OPENSSL, ZLIB), findings=(wrong, denied), index=None)
    assert_valid(render_text(result))
    states = {k: v["analysis"]["state"] for k, v in vulnerabilities(result).items()}
    assert states == {"CVE-2020-1": "false_positive", "CVE-2020-2": "not_affected"}


def test_one_cve_in_two_packages_is_two_vulnerabilities() -> None:
    details = AdvisoryDetails("CVE-2014-0160", cvss_v3=7.5)
    findings = (triaged(OPENSSL, details), triaged(ZLIB, details, TriageStatus.PATCHED))
    text = render_text(ScanResult(packages=(OPENSSL, ZLIB), findings=findings, index=None))
    assert_valid(text)
    targets = [
        (v["affects"][0]["ref"], v["analysis"]["state"])
        for v in json.loads(text)["vulnerabilities"]
    ]
    assert sorted(targets) == sorted([(OPENSSL.key, "exploitable"), (ZLIB.key, "resolved")])


def test_a_package_only_in_findings_still_gets_a_component() -> None:
    lone = Package(name="lone-1.0", pname="lone", version="1.0")
    finding = triaged(lone, AdvisoryDetails("CVE-2020-3", cvss_v4=2.0))
    text = render_text(ScanResult(packages=(), findings=(finding,), index=None))
    assert_valid(text)
    [component] = json.loads(text)["components"]
    assert component["bom-ref"] == "lone-1.0" and component["properties"] == [
        {"name": "nix:closure", "value": "runtime"}
    ]


def test_serial_number_is_stable_and_follows_content() -> None:
    result = sample_result()
    shuffled = dataclasses.replace(result, findings=tuple(reversed(result.findings)))
    assert render(result)["serialNumber"] == render(shuffled)["serialNumber"]
    fewer = dataclasses.replace(result, findings=result.findings[1:])
    assert render(result)["serialNumber"] != render(fewer)["serialNumber"]


def test_purls_match_the_openvex_report() -> None:
    result = sample_result()
    components = {c["purl"] for c in render(result)["components"]}
    vex = json.loads(OpenVexReporter(VERSION).render(result, ReportOptions()))
    products = {p["@id"] for s in vex["statements"] for p in s["products"]}
    assert products <= components


@pytest.mark.parametrize(
    ("score", "version", "expected"),
    [(9.0, 3, "critical"), (8.9, 3, "high"), (4.0, 4, "medium"), (0.1, 3, "low"),
     (0.0, 3, "none"), (9.3, 2, "high"), (6.9, 2, "medium"), (3.9, 2, "low")],
)  # fmt: skip
def test_cvss_severity(score: float, version: int, expected: str) -> None:
    assert cvss_severity(score, version).value == expected


def test_hostile_text_is_escaped_but_kept() -> None:
    text = render_text(hostile_result())
    assert_valid(text)
    assert text.isascii()
    for bad in BAD_CHARACTERS:
        assert bad not in text
    found = {v["id"]: v for v in json.loads(text)["vulnerabilities"]}
    description = found["CVE-2024-0001"]["description"]
    assert SCRIPT in description and len(description) >= HUGE  # kept whole, as data


def test_golden_vex(golden: Golden) -> None:
    text = render_text(vex_result())
    assert_valid(text)
    golden("report_vex.cdx.json", text)


def test_not_affected_maps_to_cyclonedx_states_and_justifications() -> None:
    found = vulnerabilities(vex_result())
    # A CycloneDX label is kept; an OpenVEX one is translated; none stays none.
    assert found["CVE-2018-25032"]["analysis"]["justification"] == "code_not_reachable"
    assert found["CVE-2014-0224"]["analysis"]["justification"] == "code_not_reachable"
    assert "justification" not in found["CVE-2022-37434"]["analysis"]
    assert {found[c]["analysis"]["state"] for c in ("CVE-2018-25032", "CVE-2022-37434")} == {
        "not_affected"
    }
    assert found["CVE-2022-37434"]["analysis"]["detail"].startswith("VEX: not_affected: inflate")
    fixed = found["CVE-2023-28319"]["analysis"]
    assert fixed["state"] == "resolved"
    assert fixed["detail"].startswith("VEX: fixed: backported in the overlay")
    affected = found["CVE-2014-0160"]["analysis"]
    assert affected["state"] == "exploitable"
    assert affected["detail"].startswith("VEX: affected: Upgrade")


def test_component_not_present_is_a_false_positive() -> None:
    finding = triaged(
        OPENSSL,
        AdvisoryDetails("CVE-2020-0001"),
        TriageStatus.NOT_AFFECTED,
        reason="VEX: not_affected (component_not_present) [vex.json: statements[0]]",
        justification="component_not_present",
    )
    text = render_text(ScanResult(packages=(OPENSSL,), findings=(finding,), index=None))
    assert_valid(text)
    [vulnerability] = json.loads(text)["vulnerabilities"]
    assert vulnerability["analysis"]["state"] == "false_positive"
