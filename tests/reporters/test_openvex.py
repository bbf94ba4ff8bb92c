"""The OpenVEX report: golden file, the official schema, status mapping, stable ids."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed: types-jsonschema
import pytest

from nix_audit.models import AdvisoryDetails, ScanResult, TriageStatus
from nix_audit.reporters.interface import ReportOptions
from nix_audit.reporters.openvex import (
    OPENVEX_CONTEXT,
    OpenVexReporter,
    WhitelistClaim,
    package_purl,
    whitelist_claim,
)
from tests.reporters.conftest import Golden
from tests.reporters.hostile import BAD_CHARACTERS, SCRIPT, hostile_result
from tests.reporters.sample import OPENSSL, ZLIB, sample_result, triaged, vex_result

VERSION = "0.0.0-test"


def render(result: ScanResult) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OpenVexReporter(VERSION).render(result, ReportOptions()))
    return document


def by_cve(result: ScanResult) -> dict[str, list[dict[str, Any]]]:
    statements: dict[str, list[dict[str, Any]]] = {}
    for statement in render(result)["statements"]:
        statements.setdefault(statement["vulnerability"]["name"], []).append(statement)
    return statements


@pytest.fixture(scope="module")
def openvex_schema(shared_data: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (shared_data / "schemas" / "openvex_json_schema.json").read_text(encoding="utf-8")
    )
    return schema


def validate(document: dict[str, Any], schema: dict[str, Any]) -> None:
    validator_class = jsonschema.validators.validator_for(schema)  # draft 2020-12
    validator_class.check_schema(schema)
    validator_class(schema, format_checker=validator_class.FORMAT_CHECKER).validate(document)


def test_golden(golden: Golden) -> None:
    golden("report.openvex.json", OpenVexReporter(VERSION).render(sample_result(), ReportOptions()))


def test_valid_against_official_schema(openvex_schema: dict[str, Any]) -> None:
    document = render(sample_result())
    validate(document, openvex_schema)
    assert document["@context"] == OPENVEX_CONTEXT
    assert document["timestamp"] == "2026-06-01T12:00:00Z"
    assert document["author"] == "nix-audit" and document["version"] == 1


def test_schema_check_can_fail(openvex_schema: dict[str, Any]) -> None:
    document = render(sample_result())
    del document["statements"][0]["action_statement"]  # required for "affected"
    with pytest.raises(jsonschema.ValidationError):
        validate(document, openvex_schema)


def test_status_of_each_triage_outcome() -> None:
    statements = by_cve(sample_result())
    [heartbleed] = statements["CVE-2014-0160"]
    assert heartbleed["status"] == "affected"
    assert "outside < 1.0.1g" in heartbleed["action_statement"]
    assert heartbleed["products"] == [
        {"@id": "pkg:nix/openssl@1.0.1f", "identifiers": {"purl": "pkg:nix/openssl@1.0.1f"}}
    ]
    # "fix rolling out" accepts a risk, it does not deny it.
    [accepted] = statements["CVE-2014-0224"]
    assert accepted["status"] == "affected"
    assert accepted["action_statement"].startswith("Accepted in a whitelist: fix rolling out")
    assert statements["CVE-2016-2105"][0]["status"] == "fixed"
    assert statements["CVE-2023-28319"][0]["status"] == "under_investigation"  # low confidence


def test_whitelist_comments_that_deny_the_finding_become_not_affected() -> None:
    wrong = triaged(
        OPENSSL,
        AdvisoryDetails("CVE-2020-0001"),
        TriageStatus.WHITELISTED,
        reason="False positive: a different product called openssl",
    )
    unaffected = triaged(
        ZLIB, AdvisoryDetails("CVE-2020-0002"), TriageStatus.WHITELISTED, reason="not vulnerable"
    )
    result = ScanResult(packages=(OPENSSL, ZLIB), findings=(wrong, unaffected), index=None)
    statements = by_cve(result)
    assert statements["CVE-2020-0001"][0]["status"] == "not_affected"
    assert statements["CVE-2020-0001"][0]["justification"] == "component_not_present"
    assert statements["CVE-2020-0002"][0] == {
        "vulnerability": {
            "@id": "https://nvd.nist.gov/vuln/detail/CVE-2020-0002",
            "name": "CVE-2020-0002",
        },
        "status": "not_affected",
        "impact_statement": "not vulnerable",
        "products": [
            {"@id": "pkg:nix/zlib@1.2.11", "identifiers": {"purl": "pkg:nix/zlib@1.2.11"}}
        ],
    }


@pytest.mark.parametrize(
    ("reason", "claim"),
    [
        ("false-positive", WhitelistClaim.FALSE_POSITIVE),
        ("Not the same product (jenkins plugin)", WhitelistClaim.FALSE_POSITIVE),
        ("wrong CPE", WhitelistClaim.FALSE_POSITIVE),
        ("we are not affected: feature disabled", WhitelistClaim.NOT_AFFECTED),
        ("Doesn't apply to Linux", WhitelistClaim.NOT_AFFECTED),
        ("fix rolling out", WhitelistClaim.ACCEPTED),
        ("whitelist rule [libxslt] at /etc/nix-audit/wl.toml:4", WhitelistClaim.ACCEPTED),
        ("", WhitelistClaim.ACCEPTED),
    ],
)
def test_whitelist_claim(reason: str, claim: WhitelistClaim) -> None:
    assert whitelist_claim(reason) is claim


def test_one_purl_is_one_product_of_one_statement() -> None:
    rebuilt = dataclasses.replace(OPENSSL, derivation="/nix/store/other-openssl-1.0.1f.drv")
    details = AdvisoryDetails("CVE-2014-0160", cvss_v3=7.5)
    findings = (triaged(OPENSSL, details), triaged(rebuilt, details), triaged(ZLIB, details))
    result = ScanResult(packages=(OPENSSL, rebuilt, ZLIB), findings=findings, index=None)
    statements = by_cve(result)["CVE-2014-0160"]
    # Two derivations with one purl are one product (the schema wants unique items); zlib has
    # its own statement because its action statement names zlib.
    assert [[p["@id"] for p in s["products"]] for s in statements] == [
        ["pkg:nix/openssl@1.0.1f"],
        ["pkg:nix/zlib@1.2.11"],
    ]


def test_products_with_one_status_and_text_share_a_statement() -> None:
    fixed = [
        triaged(p, AdvisoryDetails("CVE-2014-0160"), TriageStatus.PATCHED) for p in (ZLIB, OPENSSL)
    ]
    result = ScanResult(packages=(OPENSSL, ZLIB), findings=tuple(fixed), index=None)
    [statement] = by_cve(result)["CVE-2014-0160"]
    assert [p["@id"] for p in statement["products"]] == [
        "pkg:nix/openssl@1.0.1f",
        "pkg:nix/zlib@1.2.11",
    ]


def test_document_id_is_stable_and_follows_content() -> None:
    result = sample_result()
    again = dataclasses.replace(result, findings=tuple(reversed(result.findings)))
    assert render(result)["@id"] == render(again)["@id"]
    assert render(result)["@id"].startswith("urn:uuid:")
    fewer = dataclasses.replace(result, findings=result.findings[1:])
    assert render(fewer)["@id"] != render(result)["@id"]


def test_purl_is_percent_encoded() -> None:
    odd = dataclasses.replace(OPENSSL, pname="a b?c", version="1.0+git")
    assert package_purl(odd) == "pkg:nix/a%20b%3Fc@1.0%2Bgit"


def test_hostile_text_is_escaped_but_kept(openvex_schema: dict[str, Any]) -> None:
    text = OpenVexReporter(VERSION).render(hostile_result(), ReportOptions())
    assert text.isascii()
    for bad in BAD_CHARACTERS:
        assert bad not in text  # only as \\u escapes
    document = json.loads(text)
    validate(document, openvex_schema)
    statements = {s["vulnerability"]["name"]: s for s in document["statements"]}
    assert SCRIPT in statements["CVE-2024-0002"]["action_statement"]  # kept, as data
    assert statements["CVE-2024-0001"]["products"][0]["@id"].startswith("pkg:nix/ev%1B%5D0%3Bpwned")


def test_golden_vex(golden: Golden, openvex_schema: dict[str, Any]) -> None:
    text = OpenVexReporter(VERSION).render(vex_result(), ReportOptions())
    validate(json.loads(text), openvex_schema)
    golden("report_vex.openvex.json", text)


def test_vex_decisions_become_statements() -> None:
    statements = by_cve(vex_result())
    [translated] = statements["CVE-2018-25032"]  # a CycloneDX justification, translated
    assert translated["status"] == "not_affected"
    assert translated["justification"] == "vulnerable_code_not_in_execute_path"
    assert translated["impact_statement"].startswith("VEX: not_affected (code_not_reachable)")
    [bare] = statements["CVE-2022-37434"]  # no justification: the impact statement says why
    assert "justification" not in bare
    assert bare["impact_statement"].startswith("VEX: not_affected: inflateGetHeader")
    [fixed] = statements["CVE-2023-28319"]
    assert fixed["status"] == "fixed"
    assert fixed["status_notes"].startswith("VEX: fixed: backported in the overlay")
    [affected] = statements["CVE-2014-0160"]
    assert affected["status"] == "affected"
    assert affected["status_notes"].startswith("VEX: affected: Upgrade")
