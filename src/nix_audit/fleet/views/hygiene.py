"""Fleet view: central whitelist hygiene."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from nix_audit.fleet.central_triage import DocumentKind, TriageSet, load_documents
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.findings import (
    stored_findings,
)
from nix_audit.fleet.views._shared import EXPIRING_WITHIN, current_groups
from nix_audit.models import Finding
from nix_audit.reporters import cve_sort_key
from nix_audit.triage.apply import broad_rules, expired_rules, unused_rules
from nix_audit.triage.whitelist import Whitelist, WhitelistRule

__all__ = [
    "HygieneView",
    "RuleView",
    "hygiene_view",
]


@dataclass(frozen=True, slots=True)
class RuleView:
    """A central whitelist rule; ``hosts`` None: its document applies to every host."""

    document: str
    hosts: tuple[str, ...] | None
    key: str
    origin: str
    cves: tuple[str, ...] | None
    until: date | None
    comment: str


@dataclass(frozen=True, slots=True)
class HygieneView:
    """Rules worth a second look, as ``scan`` lists them, over the whole fleet.

    ``unused``: active rules that decided no finding on any host they apply to; ``expired``:
    past their ``until``; ``expiring``: active, but expiring within ``EXPIRING_WITHIN``;
    ``broad``: bare ``["name"]`` rules without a CVE list.
    """

    today: date
    rules: int
    unused: tuple[RuleView, ...]
    expired: tuple[RuleView, ...]
    expiring: tuple[RuleView, ...]
    broad: tuple[RuleView, ...]


def hygiene_view(database: FleetDatabase, today: date) -> HygieneView:
    """The central whitelists checked with the scanner's own rule functions, fleet-wide."""
    triage_set = TriageSet(load_documents(database))
    # The rule objects of each document; for_scope keeps them (by identity) in every scope.
    owner: dict[int, tuple[str, tuple[str, ...] | None]] = {}
    everything: list[WhitelistRule] = []
    for i, document in enumerate(triage_set.documents):
        if document.kind is DocumentKind.WHITELIST:
            for rule in triage_set.for_scope((i,))[0].rules:
                owner[id(rule)] = (document.name, document.hosts)
                everything.append(rule)
    used = _used_rules(database, triage_set, today)
    expired = {id(r) for r in expired_rules(_whitelist(everything), today=today)}
    soon = expired_rules(_whitelist(everything), today=today + EXPIRING_WITHIN)

    def views(rules: Iterable[WhitelistRule]) -> tuple[RuleView, ...]:
        return tuple(_rule_view(r, *owner[id(r)]) for r in rules)

    return HygieneView(
        today=today,
        rules=len(everything),
        unused=views(r for r in everything if id(r) not in used and id(r) not in expired),
        expired=views(r for r in everything if id(r) in expired),
        expiring=views(r for r in soon if id(r) not in expired),
        broad=views(broad_rules(_whitelist(everything), today=today)),
    )


def _whitelist(rules: Sequence[WhitelistRule]) -> Whitelist:
    return Whitelist(tuple(rules))


def _used_rules(database: FleetDatabase, triage_set: TriageSet, today: date) -> set[int]:
    """Ids of the rules that decided a finding on some host (``unused_rules``' complement)."""
    used: set[int] = set()
    with database.reading() as c:
        for closure_id, scope in current_groups(c, triage_set):
            whitelist, vex = triage_set.for_scope(scope)
            if not whitelist.rules:
                continue
            findings: list[Finding] = stored_findings(c, closure_id)
            unused = {id(r) for r in unused_rules(whitelist, findings, today=today, vex=vex)}
            used.update(id(r) for r in whitelist.rules if id(r) not in unused)
    return used


def _rule_view(rule: WhitelistRule, document: str, scope: tuple[str, ...] | None) -> RuleView:
    return RuleView(
        document=document,
        hosts=scope,
        key=rule.key,
        origin=rule.origin,
        cves=None if rule.cves is None else tuple(sorted(rule.cves, key=cve_sort_key)),
        until=rule.until,
        comment=rule.comment,
    )
