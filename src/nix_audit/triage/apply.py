"""Triage: decide for each finding whether it is patched, not affected, whitelisted or affected.

Order of evidence, strongest first:

1. a patch named after the CVE applied to the derivation: the build itself shows the fix
   (vulnix-whitelist(5), "Automated patch whitelisting": vulnix treats such a patch as a
   whitelist entry, so it beats every rule);
2. a VEX statement saying ``not_affected`` or ``fixed``: an assessment of this very product,
   with a justification, published by someone who looked (``triage.vex``);
3. a whitelist rule: the operator's decision to stop hearing about it.

VEX ``affected`` and ``under_investigation`` suppress nothing: the finding goes on to the
whitelist and stays affected when no rule covers it, with the statement added to the reason.

Hygiene (issue #5, "Triage hygiene"): ``triage_hygiene`` lists the whitelist rules worth a
second look after a scan: unused, expired, and bare ``["name"]`` rules without a CVE list;
and (issue #13) rules whose vulnix meaning likely differs from their author's, such as
``["discourse-*"]`` or ``cve = "*"``, which vulnix loads and never applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from nix_audit.models import (
    AdvisoryDetails,
    Finding,
    HygieneRule,
    TriagedFinding,
    TriageHygiene,
    TriageStatus,
)
from nix_audit.triage.vex import VexDocument, VexStatus, find_statement
from nix_audit.triage.whitelist import Whitelist, WhitelistRule

__all__ = [
    "PATCHED_REASON",
    "broad_rules",
    "expired_rules",
    "triage",
    "triage_hygiene",
    "unused_rules",
]

PATCHED_REASON = "patch named after CVE applied"

_SUPPRESSING = {
    VexStatus.NOT_AFFECTED: TriageStatus.NOT_AFFECTED,
    VexStatus.FIXED: TriageStatus.PATCHED,
}


def triage(
    findings: Sequence[Finding],
    details: Mapping[str, AdvisoryDetails],
    whitelist: Whitelist,
    *,
    today: date,
    vex: Sequence[VexDocument] = (),
) -> list[TriagedFinding]:
    """The findings, in their order, each with its status, reason and advisory details.

    A CVE missing from ``details`` (a record withdrawn between match and lookup) gets empty
    details, shown without a score, rather than dropping the finding.
    """
    return [
        _triage_one(
            f, details.get(f.cve_id) or AdvisoryDetails(cve_id=f.cve_id), whitelist, today, vex
        )
        for f in findings
    ]


def _triage_one(
    finding: Finding,
    details: AdvisoryDetails,
    whitelist: Whitelist,
    today: date,
    vex: Sequence[VexDocument],
) -> TriagedFinding:
    if _is_patched(finding):
        return TriagedFinding(finding, TriageStatus.PATCHED, details, reason=PATCHED_REASON)
    statement = find_statement(vex, finding.package, finding.cve_id) if vex else None
    if statement is not None and statement.status in _SUPPRESSING:
        status = _SUPPRESSING[statement.status]
        justification = statement.justification if status is TriageStatus.NOT_AFFECTED else None
        return TriagedFinding(
            finding, status, details, reason=statement.reason, justification=justification
        )
    rule = whitelist.match(finding.package, finding.cve_id, today=today)
    if rule is None:
        reason = statement.reason if statement is not None else ""
        return TriagedFinding(finding, TriageStatus.AFFECTED, details, reason=reason)
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


def _suppressed_before_whitelist(finding: Finding, vex: Sequence[VexDocument]) -> bool:
    """Decided by a patch or a VEX statement, so that no whitelist rule is consulted."""
    if _is_patched(finding):
        return True
    statement = find_statement(vex, finding.package, finding.cve_id) if vex else None
    return statement is not None and statement.status in _SUPPRESSING


def _reason(rule: WhitelistRule) -> str:
    """The rule's comment, or where the rule is when it has none."""
    return rule.comment or f"whitelist rule [{rule.key}] at {rule.origin}"


# --- hygiene -------------------------------------------------------------------------------


def unused_rules(
    whitelist: Whitelist,
    findings: Sequence[Finding],
    *,
    today: date,
    vex: Sequence[VexDocument] = (),
) -> list[WhitelistRule]:
    """Rules that decided no finding, in file order: stale entries worth removing.

    A rule counts as used when it is the one that whitelisted a finding; rules that are
    expired, shadowed by a more specific rule, or only cover patched CVEs (or CVEs a VEX
    statement already suppresses) are unused.
    """
    used: set[int] = set()
    for finding in findings:
        if not _suppressed_before_whitelist(finding, vex):
            rule = whitelist.match(finding.package, finding.cve_id, today=today)
            if rule is not None:
                used.add(id(rule))
    return [rule for rule in whitelist.rules if id(rule) not in used]


def expired_rules(whitelist: Whitelist, *, today: date) -> list[WhitelistRule]:
    """Rules whose ``until`` date has passed, in file order: they no longer hide anything,
    and the findings they hid are reported again (vulnix-whitelist(5), ``until``)."""
    return [rule for rule in whitelist.rules if not rule.active(today)]


def broad_rules(whitelist: Whitelist, *, today: date) -> list[WhitelistRule]:
    """Active bare ``["name"]`` rules without a ``cve`` list, in file order.

    Such a rule hides every version of the package and every CVE published in the future
    (vulnix-whitelist(5): without ``cve`` "all CVEs" are whitelisted); a rule naming a
    version at least stops covering the package at the next update. A name holding ``*``
    (``["discourse-*"]``) covers nothing at all in vulnix, so it is not broad (issue #13).
    """
    return [
        rule
        for rule in whitelist.rules
        if rule.active(today)
        and rule.version is None
        and rule.cves is None
        and "*" not in rule.pattern_name
    ]


def triage_hygiene(
    whitelist: Whitelist,
    findings: Sequence[Finding],
    *,
    today: date,
    vex: Sequence[VexDocument] = (),
) -> TriageHygiene:
    """The hygiene checks as one value for ``ScanResult.hygiene``.

    An expired rule is listed as expired only, not also as unused: the expiry is the reason
    it matched nothing, and the one thing to act on. Likewise a rule with a vulnix quirk that
    matched nothing is listed with its note only.
    """
    expired = expired_rules(whitelist, today=today)
    quirky = [rule for rule in whitelist.rules if rule.notes]
    explained = {id(rule) for rule in expired} | {id(rule) for rule in quirky}
    unused = [
        r for r in unused_rules(whitelist, findings, today=today, vex=vex) if id(r) not in explained
    ]
    return TriageHygiene(
        unused=_hygiene_rules(unused),
        expired=_hygiene_rules(expired),
        broad=_hygiene_rules(broad_rules(whitelist, today=today)),
        vulnix_quirks=tuple(
            (hygiene_rule, note)
            for rule, hygiene_rule in zip(quirky, _hygiene_rules(quirky), strict=True)
            for note in rule.notes
        ),
    )


def _hygiene_rules(rules: Iterable[WhitelistRule]) -> tuple[HygieneRule, ...]:
    return tuple(
        HygieneRule(
            key=rule.key,
            origin=rule.origin,
            cves=None if rule.cves is None else tuple(sorted(rule.cves)),
            until=rule.until,
            comment=rule.comment,
        )
        for rule in rules
    )
