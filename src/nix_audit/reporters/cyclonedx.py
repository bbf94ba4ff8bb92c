"""CycloneDX 1.6 JSON report: the scanned packages as an SBOM, the findings as a VEX.

Built with cyclonedx-python-lib, which knows the schema's shape and validates its own
output. Every package is a component (``bom-ref`` its ``Package.key``, a ``pkg:nix`` purl,
its CPE, and the store path, derivation and closure as ``nix:`` properties, the namespace the
CycloneDX property taxonomy proposal for Nix uses). Every (CVE, package) finding is a
vulnerability that ``affects`` that component, with NVD ratings and a VEX ``analysis``
(CycloneDX 1.6, ``vulnerabilities[].analysis``):

- affected -> ``exploitable``; with a low-confidence product mapping ``in_triage``, since
  nobody has confirmed that the NVD product is this package;
- patched -> ``resolved``: a patch named after the CVE is applied, or a VEX statement said
  ``fixed`` (then its text is the detail);
- not affected (a VEX statement said so) -> ``not_affected`` with the justification as a
  CycloneDX label (an OpenVEX one translated by ``cyclonedx_justification``), or
  ``false_positive`` for OpenVEX's ``component_not_present``, the same pairing the
  whitelist claims use; the statement is the detail;
- whitelisted -> from the rule's comment (``openvex.whitelist_claim``): a wrong match is a
  ``false_positive``, a comment saying the build is not affected ``not_affected``, anything
  else (accepted risk, fix under way) stays ``exploitable``, with the comment as the detail.

An affected finding that a VEX statement called affected keeps the statement as the detail.

Dependencies: one flat entry per component for now; closure edges come with the pipeline.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote

from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisJustification, ImpactAnalysisState
from cyclonedx.model.tool import ToolRepository
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6

from nix_audit import __version__
from nix_audit.models import (
    AdvisoryDetails,
    Confidence,
    IdentifiedFrom,
    Package,
    RestartNeeded,
    RunningSummary,
    ScanResult,
    TriagedFinding,
    TriageStatus,
)
from nix_audit.reporters import group_findings, process_text, restart_for, restart_message
from nix_audit.reporters.interface import Reporter, ReportOptions
from nix_audit.reporters.openvex import WhitelistClaim, nix_purl, whitelist_claim
from nix_audit.triage.apply import PATCHED_REASON

__all__ = ["CycloneDxReporter", "cvss_severity", "cyclonedx_justification"]

_NVD_DETAIL_URL = "https://nvd.nist.gov/vuln/detail/"
_SERIAL_NAMESPACE = uuid.UUID("0f5d1c52-7a43-4b8e-a1c9-6e2b7d9a3f40")
_WHITELIST_STATE = {
    WhitelistClaim.FALSE_POSITIVE: ImpactAnalysisState.FALSE_POSITIVE,
    WhitelistClaim.NOT_AFFECTED: ImpactAnalysisState.NOT_AFFECTED,
    WhitelistClaim.ACCEPTED: ImpactAnalysisState.EXPLOITABLE,
}
# OpenVEX 0.2.0 justification -> CycloneDX 1.6 analysis.justification. OpenVEX's
# vulnerable_code_cannot_be_controlled_by_adversary has no CycloneDX counterpart; its text
# stays in the detail. component_not_present is written as the false_positive state instead.
_FROM_OPENVEX = {
    "vulnerable_code_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_in_execute_path": ImpactAnalysisJustification.CODE_NOT_REACHABLE,
    "inline_mitigations_already_exist": (
        ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL
    ),
}


def cyclonedx_justification(label: str | None) -> ImpactAnalysisJustification | None:
    """A VEX justification as a CycloneDX label: kept, translated from OpenVEX, or None."""
    for justification in ImpactAnalysisJustification:
        if justification.value == label:
            return justification
    return _FROM_OPENVEX.get(label or "")


def cvss_severity(score: float, version: int) -> VulnerabilitySeverity:
    """The qualitative rating of a CVSS score in its own version's scale.

    CVSS v3.1 and v4.0 specifications, "Qualitative Severity Rating Scale": 0 none, <4 low,
    <7 medium, <9 high, else critical. CVSS v2 has no such scale in its specification; the
    NVD's (low < 4, medium < 7, high) is the one every feed uses.
    """
    if version == 2:
        if score < 4.0:
            return VulnerabilitySeverity.LOW
        return VulnerabilitySeverity.MEDIUM if score < 7.0 else VulnerabilitySeverity.HIGH
    if score == 0.0:
        return VulnerabilitySeverity.NONE
    if score < 4.0:
        return VulnerabilitySeverity.LOW
    if score < 7.0:
        return VulnerabilitySeverity.MEDIUM
    return VulnerabilitySeverity.HIGH if score < 9.0 else VulnerabilitySeverity.CRITICAL


class CycloneDxReporter(Reporter):
    """The ``--format cyclonedx`` report. Options do not filter: VEX states carry triage."""

    def __init__(self, tool_version: str = __version__) -> None:
        self.tool_version = tool_version

    def render(self, result: ScanResult, options: ReportOptions) -> str:
        packages = _packages(result)
        restarts = restart_for(result)
        groups = group_findings(result.findings)
        vulnerabilities = [_vulnerability(f) for g in groups for f in g.findings]
        tool = Component(
            type=ComponentType.APPLICATION, name="nix-audit", version=self.tool_version
        )
        components = {p.key: _component(p, restarts) for p in packages}
        bom = Bom(
            serial_number=_serial_number(packages, result.findings),
            # Stamped with the scan time so that one scan renders one document; a result
            # without a scan time (built by hand) is stamped now.
            metadata=BomMetaData(
                tools=ToolRepository(components=[tool]),
                timestamp=result.scanned_at or datetime.now(UTC),
                properties=_running(result.running),
            ),
            components=list(components.values()),
            vulnerabilities=vulnerabilities,
        )
        # The runtime closure as a graph: each package's direct references (issue #5).
        for package in packages:
            targets = [components[key] for key in package.depends_on if key in components]
            if targets:
                bom.register_dependency(components[package.key], targets)
        # The library writes with json.dumps' default ensure_ascii: feed text stays whole,
        # control characters become \\u escapes.
        return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def _packages(result: ScanResult) -> list[Package]:
    """Scanned packages and any package only a finding names, one per key (a bom-ref)."""
    unique: dict[str, Package] = {}
    for package in (*result.packages, *(f.finding.package for f in result.findings)):
        unique.setdefault(package.key, package)
    return [unique[key] for key in sorted(unique)]


def _serial_number(packages: Iterable[Package], findings: Iterable[TriagedFinding]) -> uuid.UUID:
    """A name-based UUID (RFC 9562, 5.5) over what the document says: same scan, same serial."""
    digest = hashlib.sha256()
    for package in packages:
        digest.update(f"p\0{package.key}\0{package.name}\0".encode())
    for triaged in sorted(findings, key=lambda f: (f.finding.package.key, f.finding.cve_id)):
        parts = (triaged.finding.package.key, triaged.finding.cve_id, triaged.status.value)
        digest.update(("f\0" + "\0".join(parts) + "\0" + triaged.reason + "\0").encode())
    return uuid.uuid5(_SERIAL_NAMESPACE, digest.hexdigest())


def _component(package: Package, restarts: dict[str, RestartNeeded]) -> Component:
    properties = [Property(name="nix:closure", value=package.closure.value)]
    if package.store_path:
        properties.append(Property(name="nix:store_path", value=package.store_path))
    if package.derivation:
        properties.append(Property(name="nix:derivation", value=package.derivation))
    properties += _running_properties(package, restarts)
    # A component has one ``cpe``; further CPE names of the package go in properties.
    properties += [Property(name="nix:cpe", value=cpe) for cpe in package.cpes[1:]]
    return Component(
        type=ComponentType.LIBRARY,
        name=package.pname or package.name,
        version=package.version or None,
        bom_ref=package.key,
        purl=nix_purl(package),
        cpe=package.cpes[0] if package.cpes else None,
        properties=properties,
    )


def _running_properties(package: Package, restarts: dict[str, RestartNeeded]) -> list[Property]:
    """Issue #8, only where they apply: derivation-less, running processes, needs restart."""
    properties = []
    if package.identified_from is IdentifiedFrom.STORE_PATH_NAME:
        properties.append(Property(name="nix:identified_from", value="store-path-name"))
    properties += [
        Property(name="nix-audit:process", value=process_text(p)) for p in package.processes
    ]
    restart = restarts.get(package.store_path or "")
    if restart is not None:
        properties.append(Property(name="nix-audit:needs_restart", value=restart_message(restart)))
    return properties


def _running(running: RunningSummary | None) -> list[Property]:
    """``scan --running`` counts as metadata properties; none when it was not used."""
    if running is None:
        return []
    return [
        Property(name="nix-audit:running:processes", value=str(running.processes)),
        Property(name="nix-audit:running:uninspectable", value=str(running.uninspectable)),
        Property(name="nix-audit:running:needs_restart", value=str(len(running.needs_restart))),
    ]


def _vulnerability(triaged: TriagedFinding) -> Vulnerability:
    finding, details = triaged.finding, triaged.details
    nvd = VulnerabilitySource(
        name="NVD", url=XsUri(_NVD_DETAIL_URL + quote(finding.cve_id, safe=""))
    )
    return Vulnerability(
        # Unique per (CVE, package): one CVE in two packages is two vulnerabilities, since
        # each has its own analysis.
        bom_ref=f"{finding.cve_id}:{finding.package.key}",
        id=finding.cve_id,
        source=nvd,
        ratings=_ratings(details, nvd),
        description=details.description or None,
        published=_nvd_time(details.published),
        updated=_nvd_time(details.last_modified),
        analysis=_analysis(triaged),
        affects=[BomTarget(ref=finding.package.key)],
        properties=_finding_properties(triaged),
    )


def _finding_properties(triaged: TriagedFinding) -> list[Property]:
    """The matching evidence, so that a reader can judge the finding (issue #4)."""
    finding = triaged.finding
    properties = [
        Property(name="nix-audit:criteria", value=finding.criteria),
        Property(name="nix-audit:mapping", value=finding.mapping),
        Property(name="nix-audit:confidence", value=finding.confidence.value),
        Property(name="nix-audit:source", value=finding.source),
    ]
    if finding.version_range:
        properties.append(Property(name="nix-audit:version_range", value=finding.version_range))
    return properties


def _ratings(details: AdvisoryDetails, source: VulnerabilitySource) -> list[VulnerabilityRating]:
    """One rating per CVSS version the NVD gave, each with its method and severity."""
    ratings = []
    if details.cvss_v3 is not None:
        vector = details.cvss_v3_vector
        method = (
            VulnerabilityScoreSource.CVSS_V3_1
            if vector is None or vector.startswith("CVSS:3.1")  # the NVD scores in 3.1 now
            else VulnerabilityScoreSource.CVSS_V3
        )
        ratings.append(_rating(details.cvss_v3, 3, method, source, vector))
    if details.cvss_v4 is not None:
        ratings.append(_rating(details.cvss_v4, 4, VulnerabilityScoreSource.CVSS_V4, source))
    if details.cvss_v2 is not None:
        ratings.append(_rating(details.cvss_v2, 2, VulnerabilityScoreSource.CVSS_V2, source))
    return ratings


def _rating(
    score: float,
    version: int,
    method: VulnerabilityScoreSource,
    source: VulnerabilitySource,
    vector: str | None = None,
) -> VulnerabilityRating:
    return VulnerabilityRating(
        source=source,
        score=Decimal(f"{score:.1f}"),  # one decimal, as CVSS scores are defined
        severity=cvss_severity(score, version),
        method=method,
        vector=vector,
    )


def _analysis(triaged: TriagedFinding) -> VulnerabilityAnalysis:
    if triaged.status is TriageStatus.PATCHED:
        vex = triaged.reason and triaged.reason != PATCHED_REASON
        detail = triaged.reason if vex else "patch named after the CVE applied"
        return VulnerabilityAnalysis(state=ImpactAnalysisState.RESOLVED, detail=detail)
    if triaged.status is TriageStatus.NOT_AFFECTED:
        return _not_affected(triaged)
    if triaged.status is TriageStatus.WHITELISTED:
        detail = triaged.reason or "whitelisted"
        if triaged.issue_url:
            detail += f" ({triaged.issue_url})"
        state = _WHITELIST_STATE[whitelist_claim(triaged.reason)]
        return VulnerabilityAnalysis(state=state, detail=f"whitelisted: {detail}")
    if triaged.finding.confidence is Confidence.LOW:
        detail = f"matched through a low-confidence {triaged.finding.mapping} product mapping"
        if triaged.reason:
            detail += f"; {triaged.reason}"
        return VulnerabilityAnalysis(state=ImpactAnalysisState.IN_TRIAGE, detail=detail)
    # A reason on an affected finding is the VEX statement that said affected.
    return VulnerabilityAnalysis(
        state=ImpactAnalysisState.EXPLOITABLE, detail=triaged.reason or None
    )


def _not_affected(triaged: TriagedFinding) -> VulnerabilityAnalysis:
    detail = triaged.reason or "a VEX statement says not affected"
    if triaged.justification == "component_not_present":
        return VulnerabilityAnalysis(state=ImpactAnalysisState.FALSE_POSITIVE, detail=detail)
    return VulnerabilityAnalysis(
        state=ImpactAnalysisState.NOT_AFFECTED,
        justification=cyclonedx_justification(triaged.justification),
        detail=detail,
    )


def _nvd_time(text: str) -> datetime | None:
    """An NVD timestamp (``2014-04-07T22:55:03.893``, UTC without a zone) or None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None  # a malformed date is left out rather than failing the whole report
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
