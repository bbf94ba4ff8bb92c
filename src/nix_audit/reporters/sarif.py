"""SARIF 2.1.0 report, for code-scanning services (GitHub code scanning reads it).

One run; the driver ``nix-audit`` carries one rule per CVE and each finding is one result
(OASIS SARIF 2.1.0, sections 3.13 ``run``, 3.19 ``toolComponent``, 3.49
``reportingDescriptor``, 3.27 ``result``). Whitelisted, patched and not affected (by a VEX
statement) findings are results too, with an external suppression (3.35) whose justification
carries the reason, so that a service shows them as dismissed instead of forgetting them.
Every finding carries a fingerprint built from what identifies it to a human, never from a
store hash or a time, so it keeps its identity across runs (3.27.17).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from nix_audit import __version__
from nix_audit.models import (
    AdvisoryDetails,
    IdentifiedFrom,
    Package,
    RestartNeeded,
    RunningProcess,
    RunningSummary,
    ScanResult,
    TriagedFinding,
    TriageStatus,
)
from nix_audit.reporters import (
    clean_text,
    cve_sort_key,
    group_findings,
    restart_for,
    restart_message,
    score_text,
)
from nix_audit.reporters._sanitize import shorten
from nix_audit.reporters.interface import Reporter, ReportOptions

__all__ = ["FINGERPRINT_KEY", "SARIF_SCHEMA", "SarifReporter", "finding_fingerprint", "level"]

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
# partialFingerprints keys name the method and its version (3.27.17): bump the version if the
# recipe ever changes, so a service does not compare fingerprints made two different ways.
FINGERPRINT_KEY = "nixAuditFinding/v1"
_NVD_DETAIL_URL = "https://nvd.nist.gov/vuln/detail/"
_SHORT_DESCRIPTION = 120  # 3.49.9: "a concise description", shown in lists
_DEFAULT_REASON = {
    TriageStatus.WHITELISTED: "a whitelist rule matched",
    TriageStatus.PATCHED: "a patch named after the CVE is applied to the derivation",
    TriageStatus.NOT_AFFECTED: "a VEX statement says the product is not affected",
}

JsonObject = dict[str, Any]


def level(score: float | None) -> str:
    """The SARIF level for a CVSS score: >= 7.0 (HIGH, CRITICAL) error, >= 4.0 warning, note.

    An unscored CVE is a warning: no score means the NVD has not analysed it yet, not that it
    is harmless, so it should not sink to the level of a remark.
    """
    if score is None:
        return "warning"
    if score >= 7.0:
        return "error"
    return "warning" if score >= 4.0 else "note"


def finding_fingerprint(cve_id: str, package: Package) -> str:
    """sha256 of ``cve|pname|version``: the same for the same finding in every run, whatever
    the store hash (a rebuild with another dependency) or the scan time."""
    text = f"{cve_id}|{package.pname}|{package.version}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SarifReporter(Reporter):
    """The ``--format sarif`` report. Options do not filter: suppressed results are kept."""

    def __init__(self, tool_version: str = __version__) -> None:
        self.tool_version = tool_version

    def render(self, result: ScanResult, options: ReportOptions) -> str:
        groups = sorted(
            group_findings(result.findings), key=lambda g: (g.package.name, g.package.key)
        )
        findings = [f for g in groups for f in sorted(g.findings, key=_by_cve)]
        rules = _rules(findings)
        index = {rule["id"]: position for position, rule in enumerate(rules)}
        restarts = restart_for(result)
        run: JsonObject = {
            "tool": {
                "driver": {
                    "name": "nix-audit",
                    "version": self.tool_version,
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": [_result(f, index[f.finding.cve_id], restarts) for f in findings],
        }
        if result.running is not None:
            run["properties"] = _running(result.running)
        document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
        # ensure_ascii: feed text stays whole but no control character reaches a reader raw.
        return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def _by_cve(triaged: TriagedFinding) -> tuple[int, int, str]:
    return cve_sort_key(triaged.finding.cve_id)


def _rules(findings: list[TriagedFinding]) -> list[JsonObject]:
    """One rule per CVE, in CVE order, from the first finding's advisory details."""
    details: dict[str, AdvisoryDetails] = {}
    for triaged in findings:
        details.setdefault(triaged.finding.cve_id, triaged.details)
    return [_rule(cve, details[cve]) for cve in sorted(details, key=cve_sort_key)]


def _rule(cve_id: str, details: AdvisoryDetails) -> JsonObject:
    description = clean_text(details.description) or f"{clean_text(cve_id)} (no description)"
    score = details.score
    properties: JsonObject = {"tags": ["security", "vulnerability", "nix"]}
    if score is not None:
        # GitHub code scanning reads this string to rank alerts (its SARIF support notes).
        properties["security-severity"] = f"{score:.1f}"
    if details.severity:
        properties["severity"] = clean_text(details.severity)
    url = _NVD_DETAIL_URL + quote(cve_id, safe="")
    return {
        "id": cve_id,
        "shortDescription": {"text": shorten(description, _SHORT_DESCRIPTION)},
        "fullDescription": {"text": description},
        "helpUri": url,
        "help": {"text": f"{clean_text(cve_id)} in the NVD: {url}"},
        "defaultConfiguration": {"level": level(score)},
        "properties": properties,
    }


def _result(
    triaged: TriagedFinding, rule_index: int, restarts: dict[str, RestartNeeded]
) -> JsonObject:
    finding, package = triaged.finding, triaged.finding.package
    result: JsonObject = {
        "ruleId": finding.cve_id,
        "ruleIndex": rule_index,
        "level": level(triaged.details.score),
        "message": {"text": _message(triaged)},
        "locations": [_location(package)],
        "partialFingerprints": {FINGERPRINT_KEY: finding_fingerprint(finding.cve_id, package)},
        "properties": {
            "status": triaged.status.value,
            "score": score_text(triaged),
            "closure": package.closure.value,
            "criteria": finding.criteria,
            "versionRange": finding.version_range,
            "mapping": finding.mapping,
            "confidence": finding.confidence.value,
            "source": finding.source,
        },
    }
    result["properties"].update(_package_properties(package, restarts))
    if triaged.status is not TriageStatus.AFFECTED:
        result["suppressions"] = [_suppression(triaged)]
    return result


def _package_properties(package: Package, restarts: dict[str, RestartNeeded]) -> JsonObject:
    """Issue #8, only where they apply: derivation-less, running processes, needs restart."""
    properties: JsonObject = {}
    if package.identified_from is IdentifiedFrom.STORE_PATH_NAME:
        properties["identifiedFrom"] = package.identified_from.value
    if package.processes:
        properties["processes"] = [_process(p) for p in package.processes]
    restart = restarts.get(package.store_path or "")
    if restart is not None:
        properties["needsRestart"] = restart_message(restart)
    return properties


def _process(process: RunningProcess) -> JsonObject:
    return {"pid": process.pid, "command": process.command, "unit": process.unit}


def _running(running: RunningSummary) -> JsonObject:
    """``scan --running`` counts and restarts, as the run's property bag (SARIF 3.8)."""
    return {
        "runningProcesses": running.processes,
        "uninspectableProcesses": running.uninspectable,
        "storePathsInUse": running.store_paths,
        "currentRoots": list(running.current_roots),
        "needsRestart": [
            {
                "name": r.name,
                "version": r.version,
                "storePath": r.store_path,
                "currentVersion": r.current_version,
                "processes": [_process(p) for p in r.processes],
                "message": restart_message(r),
            }
            for r in running.needs_restart
        ],
    }


def _message(triaged: TriagedFinding) -> str:
    finding, package = triaged.finding, triaged.finding.package
    verb = "is affected by" if triaged.status is TriageStatus.AFFECTED else "matches"
    name = clean_text(package.pname) or clean_text(package.name)
    text = f"{name} {clean_text(package.version)} {verb} {clean_text(finding.cve_id)}"
    if finding.version_range:
        text += f" (vulnerable versions {clean_text(finding.version_range)})"
    scored = triaged.details.score is not None
    text += f", CVSS {score_text(triaged)}" if scored else ", not scored by the NVD"
    if triaged.status is not TriageStatus.AFFECTED:
        text += f" ({triaged.status.value})"
    return text + "."


def _location(package: Package) -> JsonObject:
    """The derivation (else the output path) as the artifact; the package as logical location."""
    location: JsonObject = {
        "logicalLocations": [
            {"name": package.name, "fullyQualifiedName": package.key, "kind": "module"}
        ]
    }
    path = package.derivation or package.store_path
    if path:
        # An absolute path is a valid URI reference (RFC 3986, 4.2); quote() makes any other
        # character in it (Nix allows ``?`` and ``=`` in store names) unambiguous.
        location["physicalLocation"] = {"artifactLocation": {"uri": quote(path, safe="/")}}
    return location


def _suppression(triaged: TriagedFinding) -> JsonObject:
    """Suppressed outside the analysed artifact (3.35.2 ``external``): by a whitelist or by
    the patch evidence nix-audit found in the derivation."""
    reason = clean_text(triaged.reason) or _DEFAULT_REASON[triaged.status]
    justification = f"{triaged.status.value}: {reason}"
    if triaged.issue_url:
        justification += f" ({clean_text(triaged.issue_url)})"
    return {"kind": "external", "status": "accepted", "justification": justification}
