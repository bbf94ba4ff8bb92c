"""The SARIF report: golden file, the official schema, levels, suppressions, fingerprints."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed: types-jsonschema
import pytest

from nix_audit.models import ScanResult
from nix_audit.reporters.interface import ReportOptions
from nix_audit.reporters.sarif import FINGERPRINT_KEY, SarifReporter, level
from tests.reporters.conftest import Golden
from tests.reporters.hostile import BAD_CHARACTERS, HUGE, SCRIPT, hostile_result
from tests.reporters.sample import SCANNED_AT, package, sample_result, vex_result

VERSION = "0.0.0-test"  # the tool version is volatile; the golden file holds this one


def render(result: ScanResult) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SarifReporter(VERSION).render(result, ReportOptions()))
    return document


def results(result: ScanResult) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = render(result)["runs"][0]["results"]
    return found


@pytest.fixture(scope="module")
def sarif_schema(shared_data: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (shared_data / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8")
    )
    return schema


def validate(document: dict[str, Any], schema: dict[str, Any]) -> None:
    # The schema declares draft-04; pick the validator it names, and check formats too.
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    validator.validate(document)


def test_golden(golden: Golden) -> None:
    golden("report.sarif", SarifReporter(VERSION).render(sample_result(), ReportOptions()))


def test_valid_against_official_schema(sarif_schema: dict[str, Any]) -> None:
    validate(render(sample_result()), sarif_schema)


def test_schema_check_can_fail(sarif_schema: dict[str, Any]) -> None:
    document = render(sample_result())
    document["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate(document, sarif_schema)


def test_one_rule_per_cve_and_one_result_per_finding() -> None:
    document = render(sample_result())
    run = document["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rule_ids == sorted(set(rule_ids), key=lambda c: [int(p) for p in c[4:].split("-")])
    assert len(rule_ids) == 9 and len(run["results"]) == 9
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
    heartbleed = run["tool"]["driver"]["rules"][rule_ids.index("CVE-2014-0160")]
    assert heartbleed["helpUri"] == "https://nvd.nist.gov/vuln/detail/CVE-2014-0160"
    assert heartbleed["properties"]["security-severity"] == "7.5"
    assert heartbleed["defaultConfiguration"]["level"] == "error"


@pytest.mark.parametrize(
    ("score", "expected"),
    [(9.8, "error"), (7.0, "error"), (6.9, "warning"), (4.0, "warning"), (3.9, "note"),
     (0.0, "note"), (None, "warning")],
)  # fmt: skip
def test_level_thresholds(score: float | None, expected: str) -> None:
    assert level(score) == expected


def test_whitelisted_and_patched_results_are_suppressed_externally() -> None:
    by_cve = {r["ruleId"]: r for r in results(sample_result())}
    assert "suppressions" not in by_cve["CVE-2014-0160"]
    whitelisted = by_cve["CVE-2014-0224"]["suppressions"]
    assert whitelisted == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "whitelisted: fix rolling out (https://tracker.example.org/issues/7)",
        }
    ]
    patched = by_cve["CVE-2016-2105"]["suppressions"][0]
    assert patched["kind"] == "external"
    assert patched["justification"] == "patched: patch named after CVE applied"


def test_location_is_the_derivation() -> None:
    by_cve = {r["ruleId"]: r for r in results(sample_result())}
    location = by_cve["CVE-2014-0160"]["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == (
        "/nix/store/0aq7ldpzd3f4aq2ycvf1klbs2vzrp00h-openssl-1.0.1f.drv"
    )
    assert (
        "openssl 1.0.1f is affected by CVE-2014-0160" in by_cve["CVE-2014-0160"]["message"]["text"]
    )


def test_fingerprints_are_stable_across_rebuilds_and_scan_times() -> None:
    first = sample_result()
    # The same packages rebuilt (new store hashes), scanned a day later, findings reordered.
    rebuilt = {
        p.key: package(p.name, "x" + p.key.split("/")[-1][1:32], p.closure) for p in first.packages
    }
    findings = tuple(
        dataclasses.replace(
            f, finding=dataclasses.replace(f.finding, package=rebuilt[f.finding.package.key])
        )
        for f in reversed(first.findings)
    )
    second = dataclasses.replace(
        first,
        packages=tuple(rebuilt.values()),
        findings=findings,
        scanned_at=SCANNED_AT + timedelta(days=1),
    )

    def prints(result: ScanResult) -> dict[str, str]:
        return {
            f"{r['ruleId']} {r['message']['text']}": r["partialFingerprints"][FINGERPRINT_KEY]
            for r in results(result)
        }

    before, after = prints(first), prints(second)
    assert before == after
    assert len(set(before.values())) == len(before)  # and different findings differ
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results(second)
    }
    assert all("/x" in uri for uri in uris)  # the rebuild did change the paths


def test_hostile_text_is_neutralised_but_kept(sarif_schema: dict[str, Any]) -> None:
    text = SarifReporter(VERSION).render(hostile_result(), ReportOptions())
    assert text.isascii()  # every non-ASCII character is a JSON escape
    document = json.loads(text)
    validate(document, sarif_schema)
    decoded = json.dumps(document, ensure_ascii=False)
    for bad in BAD_CHARACTERS:
        assert bad not in decoded
    rules = {r["id"]: r for r in document["runs"][0]["tool"]["driver"]["rules"]}
    full = rules["CVE-2024-0001"]["fullDescription"]["text"]
    assert full.startswith(SCRIPT + "AAAA") and full.count("A") >= HUGE  # whole, not cut
    assert len(rules["CVE-2024-0001"]["shortDescription"]["text"]) <= 120
    for result in document["runs"][0]["results"]:
        assert "\n" not in result["message"]["text"]


def test_not_affected_results_are_suppressed_with_the_vex_reason(
    sarif_schema: dict[str, Any],
) -> None:
    document = render(vex_result())
    validate(document, sarif_schema)
    found = {r["ruleId"]: r for r in document["runs"][0]["results"]}
    not_affected = found["CVE-2018-25032"]
    assert not_affected["properties"]["status"] == "not_affected"
    [suppression] = not_affected["suppressions"]
    assert suppression["kind"] == "external"
    assert suppression["justification"].startswith(
        "not_affected: VEX: not_affected (code_not_reachable): deflate is never called"
    )
    assert "suppressions" not in found["CVE-2014-0160"]  # VEX said affected: kept
