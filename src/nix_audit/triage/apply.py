"""Triage: decide for each finding whether it is patched, whitelisted or affected.

Order of evidence: a patch named after the CVE applied to the derivation beats a whitelist
rule (vulnix-whitelist(5), "Automated patch whitelisting": vulnix behaves as if such a
patch were a whitelist entry), and a finding neither patched nor whitelisted is affected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from nix_audit.models import AdvisoryDetails, Finding, TriagedFinding, TriageStatus
from nix_audit.triage.whitelist import Whitelist, WhitelistRule

__all__ = ["PATCHED_REASON", "triage", "unused_rules"]

PATCHED_REASON = "patch named after CVE applied"


def triage(
    findings: Sequence[Finding],
    details: Mapping[str, AdvisoryDetails],
    whitelist: Whitelist,
    *,
    today: date,
) -> list[TriagedFinding]:
    """The findings, in their order, each with its status, reason and advisory details.

    A CVE missing from ``details`` (a record withdrawn between match and lookup) gets empty
    details, shown without a score, rather than dropping the finding.
    """
    return [
        _triage_one(f, details.get(f.cve_id) or AdvisoryDetails(cve_id=f.cve_id), whitelist, today)
        for f in findings
    ]


def _triage_one(
    finding: Finding, details: AdvisoryDetails, whitelist: Whitelist, today: date
) -> TriagedFinding:
    if _is_patched(finding):
        return TriagedFinding(finding, TriageStatus.PATCHED, details, reason=PATCHED_REASON)
    rule = whitelist.match(finding.package, finding.cve_id, today=today)
    if rule is None:
        return TriagedFinding(finding, TriageStatus.AFFECTED, details)
    return TriagedFinding(
        finding,
        TriageStatus.WHITELISTED,
        details,
        reason=_reason(rule),
        issue_url=rule.issue_url,
    )


def _is_patched(finding: Finding) -> bool:
    # Patch names are free text; compare CVE ids case-insensitively (cve-2018-9055.patch).
    wanted = finding.cve_id.upper()
    return any(cve.upper() == wanted for cve in finding.package.patched_cves)


def _reason(rule: WhitelistRule) -> str:
    """The rule's comment, or where the rule is when it has none."""
    return rule.comment or f"whitelist rule [{rule.key}] at {rule.origin}"


def unused_rules(
    whitelist: Whitelist, findings: Sequence[Finding], *, today: date
) -> list[WhitelistRule]:
    """Rules that decided no finding, in file order: stale entries worth removing.

    A rule counts as used when it is the one that whitelisted a finding; rules that are
    expired, shadowed by a more specific rule, or only cover patched CVEs are unused.
    """
    used: set[int] = set()
    for finding in findings:
        if not _is_patched(finding):
            rule = whitelist.match(finding.package, finding.cve_id, today=today)
            if rule is not None:
                used.add(id(rule))
    return [rule for rule in whitelist.rules if id(rule) not in used]
