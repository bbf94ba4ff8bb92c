"""The vendor-aware matcher (issue #4): right vendor, right version, every finding explained.

Each distinct package is mapped to its identity (``identity``: exact CPEs, the curated
table, source URLs, name heuristics); the products of all identities are looked up in one
batch; each record is evaluated with the product's ``ProductScope`` (vendor, part,
``target_sw``, ESR edition) and platforms read as NixOS sees them
(``configurations.records_matching_scoped``). A finding carries the criteria and range
that matched, the mapping source and a confidence; low-confidence findings are meant to be
hidden unless the user asks for uncertain ones (``--show-uncertain``).

Versions that cannot be ordered (``unstable-2024-01-01``) match exact-version entries only;
with ``unknown_versions=True`` a range entry of the package's own products also yields a
low-confidence finding whose range reads ``unknown version (...)``.

Speed: as in ``NameMatcher``, results are shared by every package with the same identity
and version, and each (product, scope, version) is evaluated once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from nix_audit.advisories.interface import AdvisoryLookup
from nix_audit.matching.configurations import MatchHit, records_matching_scoped
from nix_audit.matching.ecosystem import package_set
from nix_audit.matching.identity import Identity, identify
from nix_audit.matching.interface import Matcher
from nix_audit.matching.mapping_table import MappingTable
from nix_audit.matching.name_matcher import _cve_order
from nix_audit.matching.scope import ProductScope
from nix_audit.models import Confidence, Finding, Package
from nix_audit.versions import is_orderable

__all__ = ["UNKNOWN_STATUS_TEXT", "UNKNOWN_VERSION", "VendorAwareMatcher"]

UNKNOWN_VERSION = "unknown version"
UNKNOWN_STATUS = "unknown"
UNKNOWN_STATUS_TEXT = "status unknown in the CVE record"

_GroupKey = tuple[str, str, tuple[str, ...], tuple[str, ...], str | None]
_Hit = tuple[str, MatchHit, str, Confidence]


_Request = tuple[ProductScope, str, bool]  # scope, version, any_range


class _Evaluator:
    """Evaluates the records of each (product, scope, version) once, a batch of products at
    a time: a batch's records are let go as soon as its hits are known, so memory holds one
    batch of records, not every record of a whole nixpkgs (issue #6: 126,001 names in
    bounded memory)."""

    BATCH = 400

    def __init__(self) -> None:
        self._cache: dict[tuple[str, _Request], tuple[tuple[str, MatchHit], ...]] = {}

    def evaluate(self, lookup: AdvisoryLookup, requests: Mapping[str, list[_Request]]) -> None:
        """Look up and evaluate every request, batch by batch."""
        products = sorted(requests)
        for start in range(0, len(products), self.BATCH):
            batch = products[start : start + self.BATCH]
            records = lookup.records_for_versions({p: _versions(requests[p]) for p in batch})
            for product in batch:
                found = records.get(product, ())
                for request in requests[product]:
                    scope, version, any_range = request
                    hits = records_matching_scoped(
                        found, {product: scope}, version, any_range=any_range
                    )
                    self._cache[(product, request)] = tuple(hits)

    def hits(self, product: str, request: _Request) -> Sequence[tuple[str, MatchHit]]:
        """(CVE id, hit) of every record of ``product`` in scope that affects the version."""
        return self._cache.get((product, request), ())


def _versions(requests: list[_Request]) -> set[str] | None:
    """The versions to narrow a lookup to; None (every record) when a request wants every
    range reported for a version that cannot be ordered."""
    if any(any_range for _, _, any_range in requests):
        return None
    return {version for _, version, _ in requests}


def _group(packages: Sequence[Package]) -> dict[_GroupKey, list[Package]]:
    """Distinct packages grouped by what identity and version depend on, in input order."""
    groups: dict[_GroupKey, dict[Package, None]] = {}
    for p in packages:
        key = (p.pname, p.version, p.cpes, p.source_urls, package_set(p.attribute, p.name))
        groups.setdefault(key, {})[p] = None
    return {key: list(members) for key, members in groups.items()}


def _uncertain(hit: MatchHit, why: str) -> tuple[MatchHit, Confidence]:
    """The hit as a low-confidence one whose range says why: ``<why> (<range>)``."""
    return replace(hit, version_range=f"{why} ({hit.version_range})"), Confidence.LOW


def _better(new: _Hit, old: _Hit | None) -> bool:
    """A high-confidence hit beats a low one; otherwise the first (most specific) stays."""
    return old is None or (old[3] is Confidence.LOW and new[3] is Confidence.HIGH)


class VendorAwareMatcher(Matcher):
    """Matches by CPE identity (vendor and product), version and NVD configuration logic."""

    def __init__(self, table: MappingTable | None = None, *, unknown_versions: bool = False):
        self.table = table
        self.unknown_versions = unknown_versions

    #: Distinct packages identified and evaluated per pass: memory holds one pass's
    #: identities and records, whatever the size of the input (issue #6).
    PASS = 5000

    def match(self, packages: Sequence[Package], lookup: AdvisoryLookup) -> list[Finding]:
        """One finding per (package, CVE), before triage; see the module docstring."""
        groups = list(_group(packages).items())
        findings: list[Finding] = []
        for start in range(0, len(groups), self.PASS):
            findings += self._match_pass(groups[start : start + self.PASS], lookup)
        return findings

    def _match_pass(
        self, groups: Sequence[tuple[_GroupKey, list[Package]]], lookup: AdvisoryLookup
    ) -> list[Finding]:
        identities = {key: identify(members[0], self.table) for key, members in groups}
        evaluator = _Evaluator()
        evaluator.evaluate(lookup, self._requests(identities))
        findings: list[Finding] = []
        for key, members in groups:
            ident = identities[key]
            hits = self._package_hits(evaluator, ident, ident.upstream_version(key[1]))
            for cve_id, hit, mapping, confidence in hits:
                findings.extend(
                    Finding(
                        package,
                        cve_id,
                        hit.criteria,
                        hit.version_range,
                        mapping,
                        confidence,
                        hit.source,
                    )
                    for package in members
                )
        return findings

    def _requests(self, identities: Mapping[_GroupKey, Identity]) -> dict[str, list[_Request]]:
        """Each product to look up, with the distinct (scope, version, any_range) asked about
        it (lists, not sets: a whole nixpkgs asks about 140,000 products, issue #6)."""
        requests: dict[str, dict[_Request, None]] = {}
        for (_, nix_version, _, _, _), ident in identities.items():
            version = ident.upstream_version(nix_version)
            unknown = self.unknown_versions and not is_orderable(version)
            for product, scope in ident.scopes.items():
                requests.setdefault(product, {})[(scope, version, unknown)] = None
        return {product: list(asked) for product, asked in requests.items()}

    def _package_hits(self, evaluator: _Evaluator, ident: Identity, version: str) -> list[_Hit]:
        """The judged hits of one identity at one version, one per CVE, sorted by CVE.

        For an unorderable version with ``unknown_versions``, a range entry yields a
        low-confidence hit whose range says the version is unknown: the snapshot may or may
        not be in it.
        """
        unknown = self.unknown_versions and not is_orderable(version)
        by_cve: dict[str, _Hit] = {}
        for product, scope in ident.scopes.items():
            for cve_id, hit in evaluator.hits(product, (scope, version, unknown)):
                mapping, confidence = ident.judge(hit.criteria)
                if unknown and not hit.version_range.startswith("= "):
                    hit, confidence = _uncertain(hit, f"{UNKNOWN_VERSION} {version}")
                if hit.status == UNKNOWN_STATUS:
                    # Issue #12: the CVE record says it does not know; never a finding by
                    # default, shown marked with --show-uncertain.
                    hit, confidence = _uncertain(hit, UNKNOWN_STATUS_TEXT)
                if hit.platform is not None:
                    # Issue #13: the description limits the flaw to another system.
                    hit, confidence = _uncertain(hit, f"{hit.platform} only, by its description")
                found = (cve_id, hit, mapping, confidence)
                if _better(found, by_cve.get(cve_id)):
                    by_cve[cve_id] = found
        return sorted(by_cve.values(), key=lambda item: _cve_order(item[0]))
