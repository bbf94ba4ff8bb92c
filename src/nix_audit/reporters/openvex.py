"""OpenVEX 0.2.0 report: what nix-audit knows about each finding, as VEX statements.

One statement per CVE and status (products with the same status share it), following the
OpenVEX specification 0.2.0 ("Statement", "Status Labels", "Status Justifications"):

- affected -> ``affected`` with an ``action_statement`` (required for that status);
  a low-confidence product mapping -> ``under_investigation``: nobody has confirmed that
  the NVD product is this package;
- patched (a patch named after the CVE is applied, or a VEX statement said ``fixed``) ->
  ``fixed``, with the VEX statement as the status notes;
- not affected (a VEX statement said so) -> ``not_affected`` with its justification (a
  CycloneDX label translated by ``openvex_justification``) and the statement as the
  impact statement;
- whitelisted -> depends on what the rule's comment claims (``whitelist_claim``). A vulnix
  whitelist entry is written for two different reasons: the match is wrong (another product
  of the same name) or the risk is accepted / a fix is on its way. Only the first is a claim
  that the product is not affected, so only a comment that says so becomes ``not_affected``
  (``component_not_present`` for a wrong match, the spec's justification for "the product
  does not include the vulnerable component"; else an ``impact_statement`` with the
  comment). Anything else stays ``affected``, with the acceptance as the action statement:
  a VEX document is read by others, and an accepted risk is still a risk.

An affected finding that a VEX statement called affected or under investigation keeps that
statement in ``status_notes``.

Products are identified by purl (``pkg:nix/<pname>@<version>``, see ``package_purl``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from packageurl import PackageURL  # installed with cyclonedx-python-lib, which builds on it

from nix_audit import __version__
from nix_audit.models import (
    Confidence,
    Package,
    RestartNeeded,
    ScanResult,
    TriagedFinding,
    TriageStatus,
)
from nix_audit.reporters import (
    cve_sort_key,
    group_findings,
    processes_text,
    restart_for,
    restart_message,
)
from nix_audit.reporters._sanitize import rfc3339
from nix_audit.reporters.interface import Reporter, ReportOptions
from nix_audit.triage.apply import PATCHED_REASON

__all__ = [
    "OPENVEX_CONTEXT",
    "OpenVexReporter",
    "WhitelistClaim",
    "fixed_notes",
    "nix_purl",
    "openvex_justification",
    "package_purl",
    "whitelist_claim",
]

OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"
_NVD_DETAIL_URL = "https://nvd.nist.gov/vuln/detail/"
# A fixed namespace for the document ids (uuid5 of a content hash): the same scan result
# always gets the same @id, a different one a different @id.
_ID_NAMESPACE = uuid.UUID("5b0ac3a4-6c7e-4f0e-9d3b-2f1d6f0a9e11")

JsonObject = dict[str, Any]

# CycloneDX 1.6 analysis.justification -> the OpenVEX 0.2.0 justification closest to it. The
# requires_* labels say the vulnerable code is present but not reached in this setting; the
# protected_* labels name a mitigation in place.
_FROM_CYCLONEDX = {
    "code_not_present": "vulnerable_code_not_present",
    "code_not_reachable": "vulnerable_code_not_in_execute_path",
    "requires_configuration": "vulnerable_code_not_in_execute_path",
    "requires_dependency": "vulnerable_code_not_in_execute_path",
    "requires_environment": "vulnerable_code_not_in_execute_path",
    "protected_by_compiler": "inline_mitigations_already_exist",
    "protected_at_runtime": "inline_mitigations_already_exist",
    "protected_at_perimeter": "inline_mitigations_already_exist",
    "protected_by_mitigating_control": "inline_mitigations_already_exist",
}
_OPENVEX_JUSTIFICATIONS = frozenset({
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
})  # fmt: skip


class WhitelistClaim(enum.Enum):
    """What a whitelist rule's comment says about the finding it hides."""

    FALSE_POSITIVE = "false_positive"  # the match is wrong: another product of this name
    NOT_AFFECTED = "not_affected"  # the product, but this build is not affected
    ACCEPTED = "accepted"  # affected; the risk is accepted or a fix is under way


_FALSE_POSITIVE = re.compile(
    r"\bfalse[\s_-]*positive\b"
    r"|\bnot\s+(?:the\s+same|this|our|that)\s+(?:product|package|software|project)\b"
    r"|\b(?:wrong|different|unrelated|another)\s+(?:product|package|software|project|cpe)\b",
    re.IGNORECASE,
)
_NOT_AFFECTED = re.compile(
    r"\bnot\s+(?:affected|vulnerable|applicable|exploitable)\b"
    r"|\bdoes\s*(?:not|n't)\s+(?:apply|affect)\b",
    re.IGNORECASE,
)


def whitelist_claim(reason: str) -> WhitelistClaim:
    """Classify a whitelist comment; anything that does not say "not affected" is acceptance."""
    if _FALSE_POSITIVE.search(reason):
        return WhitelistClaim.FALSE_POSITIVE
    if _NOT_AFFECTED.search(reason):
        return WhitelistClaim.NOT_AFFECTED
    return WhitelistClaim.ACCEPTED


def openvex_justification(label: str | None) -> str | None:
    """A VEX justification as an OpenVEX 0.2.0 label: kept, translated from CycloneDX, or
    None when there is none (or it has no OpenVEX counterpart)."""
    if label in _OPENVEX_JUSTIFICATIONS:
        return label
    return _FROM_CYCLONEDX.get(label or "")


def package_purl(package: Package) -> str:
    """``pkg:nix/<pname>@<version>``, percent-encoded by packageurl-python (the purl
    implementation cyclonedx-python-lib uses, so that the CycloneDX and OpenVEX reports name a
    package the same way).

    ``nix`` is not (yet) a registered purl type (package-url/purl-spec issue #149); it is the
    form sbomnix and bombon write and the one ``scan --sbom`` reads, so tools that link Nix
    SBOMs and VEX documents meet on it.
    """
    return str(nix_purl(package).to_string())


def nix_purl(package: Package) -> PackageURL:
    """The ``PackageURL`` behind ``package_purl``.

    packageurl-python leaves ``/`` unencoded in a name; a Nix name cannot hold one (store
    path names are ``[A-Za-z0-9+-._?=]``, Nix manual, "Store Path"), so only a forged
    derivation attribute could, and it would then read as a namespace, not break out.
    """
    return PackageURL(
        type="nix", name=package.pname or package.name, version=package.version or None
    )


class OpenVexReporter(Reporter):
    """The ``--format openvex`` report. Options do not filter: every status is a statement."""

    def __init__(self, tool_version: str = __version__) -> None:
        self.tool_version = tool_version

    def render(self, result: ScanResult, options: ReportOptions) -> str:
        statements = _statements(result.findings, restart_for(result))
        # Issued at scan time so that the same scan renders the same document; a result
        # without a scan time (built by hand) is stamped now.
        issued = result.scanned_at or datetime.now(UTC)
        document: JsonObject = {
            "@context": OPENVEX_CONTEXT,
            "@id": _document_id(statements),
            "author": "nix-audit",
            "timestamp": rfc3339(issued),
            "version": 1,
            "tooling": f"nix-audit {self.tool_version}",
            "statements": statements,
        }
        return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def _document_id(statements: list[JsonObject]) -> str:
    """``urn:uuid:`` of a name-based UUID (RFC 9562, 5.5) over the statements' content."""
    canonical = json.dumps(statements, sort_keys=True, ensure_ascii=True)
    digest = hashlib.sha256(canonical.encode("ascii")).hexdigest()
    return uuid.uuid5(_ID_NAMESPACE, digest).urn


def _statements(
    findings: tuple[TriagedFinding, ...], restarts: dict[str, RestartNeeded]
) -> list[JsonObject]:
    """Statements by CVE, then status: one per (CVE, what is said), products merged."""
    merged: dict[tuple[tuple[int, int, str], str, str], tuple[JsonObject, dict[str, JsonObject]]]
    merged = {}
    for group in group_findings(findings):
        for triaged in group.findings:
            body = _with_running(_status_fields(triaged), group.package, restarts)
            cve = triaged.finding.cve_id
            key = (cve_sort_key(cve), body["status"], json.dumps(body, sort_keys=True))
            _, products = merged.setdefault(
                key, ({"vulnerability": _vulnerability(cve), **body}, {})
            )
            product = _product(group.package)
            products.setdefault(product["@id"], product)
    return [
        {**statement, "products": [products[p] for p in sorted(products)]}
        for _, (statement, products) in sorted(merged.items())
    ]


def _vulnerability(cve_id: str) -> JsonObject:
    return {"@id": _NVD_DETAIL_URL + quote(cve_id, safe=""), "name": cve_id}


def _product(package: Package) -> JsonObject:
    purl = package_purl(package)
    identifiers: JsonObject = {"purl": purl}
    if package.cpes:
        identifiers["cpe23"] = package.cpes[0]
    return {"@id": purl, "identifiers": identifiers}


def _status_fields(triaged: TriagedFinding) -> JsonObject:
    """``status`` and the fields that status asks for (OpenVEX 0.2.0, "Statement")."""
    finding = triaged.finding
    if triaged.status is TriageStatus.PATCHED:
        return {"status": "fixed", "status_notes": fixed_notes(triaged)}
    if triaged.status is TriageStatus.NOT_AFFECTED:
        return _not_affected_fields(triaged)
    if triaged.status is TriageStatus.WHITELISTED:
        return _whitelisted_fields(triaged)
    if finding.confidence is Confidence.LOW:
        notes = f"matched through a low-confidence {finding.mapping} product mapping"
        return {"status": "under_investigation", "status_notes": _with_vex(notes, triaged)}
    action = f"Update {finding.package.pname or finding.package.name}"
    if finding.version_range:
        action += f" to a version outside {finding.version_range}"
    action += f" or apply a patch for {finding.cve_id}, then rebuild."
    fields: JsonObject = {"status": "affected", "action_statement": action}
    if triaged.reason:  # a VEX statement said affected or under investigation
        fields["status_notes"] = triaged.reason
    return fields


def _with_running(
    fields: JsonObject, package: Package, restarts: dict[str, RestartNeeded]
) -> JsonObject:
    """An ``affected`` statement's action names the processes that have the package loaded,
    and which to restart when it is superseded (issue #8, ``scan --running``)."""
    if fields["status"] != "affected" or not package.processes:
        return fields
    restart = restarts.get(package.store_path or "")
    if restart is not None:
        extra = restart_message(restart)
        extra = extra[0].upper() + extra[1:]
    else:
        extra = f"Loaded now by: {processes_text(package.processes)}"
    return {**fields, "action_statement": f"{fields['action_statement']} {extra}."}


def fixed_notes(triaged: TriagedFinding) -> str:
    """Why a patched finding is fixed: the VEX statement that said so, else the patch."""
    if triaged.reason and triaged.reason != PATCHED_REASON:
        return triaged.reason
    return "a patch named after the CVE is applied"


def _with_vex(notes: str, triaged: TriagedFinding) -> str:
    return f"{notes}; {triaged.reason}" if triaged.reason else notes


def _not_affected_fields(triaged: TriagedFinding) -> JsonObject:
    """``not_affected`` needs a justification or an impact statement: always the latter."""
    fields: JsonObject = {"status": "not_affected"}
    if justification := openvex_justification(triaged.justification):
        fields["justification"] = justification
    fields["impact_statement"] = triaged.reason or "a VEX statement says not affected"
    return fields


def _whitelisted_fields(triaged: TriagedFinding) -> JsonObject:
    reason = triaged.reason or "whitelisted"
    if triaged.issue_url:
        reason += f" ({triaged.issue_url})"
    claim = whitelist_claim(triaged.reason)
    if claim is WhitelistClaim.FALSE_POSITIVE:
        return {
            "status": "not_affected",
            "justification": "component_not_present",
            "impact_statement": reason,
        }
    if claim is WhitelistClaim.NOT_AFFECTED:
        return {"status": "not_affected", "impact_statement": reason}
    return {"status": "affected", "action_statement": f"Accepted in a whitelist: {reason}"}
