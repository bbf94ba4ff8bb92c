"""The vulnix-parity matcher: a package is its product names and its version.

For every package the CPE product candidates of its name are looked up in the index in one
batch; each record found is evaluated against the package's version (configuration logic in
``configurations``); vendors are ignored, as vulnix ignores them. What makes it fast: a
system of 3,000 derivations has far fewer distinct (name, version) pairs, and many records
come back for the same product, so every (product, version) pair is evaluated once and the
result is shared by all packages that have it; CPE names and version keys are cached.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from nix_audit.advisories.interface import AdvisoryLookup
from nix_audit.matching.candidates import product_candidates
from nix_audit.matching.configurations import MatchHit, records_matching
from nix_audit.matching.interface import Matcher
from nix_audit.models import AdvisoryRecord, Confidence, Finding, Package

__all__ = ["NameMatcher"]

_CVE_ID = re.compile(r"CVE-(\d+)-(\d+)", re.IGNORECASE)

Hits = tuple[tuple[str, MatchHit], ...]


def _cve_order(cve_id: str) -> tuple[int, int, str]:
    """Sort CVE ids by year and number (CVE-2014-9999 before CVE-2014-10000)."""
    found = _CVE_ID.fullmatch(cve_id)
    if found is None:
        return (0, 0, cve_id)
    return (int(found.group(1)), int(found.group(2)), cve_id)


class _Evaluator:
    """Evaluates the records of each (product, version) pair once."""

    def __init__(self, records: Mapping[str, Sequence[AdvisoryRecord]]) -> None:
        self._records = records
        self._cache: dict[tuple[str, str], Hits] = {}

    def hits(self, product: str, version: str) -> Hits:
        """(CVE id, hit) of every record of ``product`` that affects ``version``."""
        key = (product, version)
        cached = self._cache.get(key)
        if cached is None:
            records = self._records.get(product, ())
            found = records_matching(records, frozenset((product,)), version)
            cached = self._cache[key] = tuple(found)
        return cached

    def package_hits(self, candidates: Sequence[str], version: str) -> list[tuple[str, MatchHit]]:
        """The hits over all candidates, one per CVE (the most specific candidate's), sorted."""
        by_cve: dict[str, MatchHit] = {}
        for product in candidates:
            for cve_id, hit in self.hits(product, version):
                by_cve.setdefault(cve_id, hit)
        return sorted(by_cve.items(), key=lambda item: _cve_order(item[0]))


def _group(packages: Sequence[Package]) -> dict[tuple[str, str], list[Package]]:
    """Distinct packages grouped by (pname, version), in input order."""
    groups: dict[tuple[str, str], dict[Package, None]] = {}
    for package in packages:
        groups.setdefault((package.pname, package.version), {})[package] = None
    return {key: list(members) for key, members in groups.items()}


class NameMatcher(Matcher):
    """Matches by product name and version only, like vulnix (mapping ``heuristic``)."""

    def match(self, packages: Sequence[Package], lookup: AdvisoryLookup) -> list[Finding]:
        """One finding per (package, CVE) whose configurations match, before triage."""
        groups = _group(packages)
        candidates = {pname: product_candidates(pname) for pname, _ in groups}
        products = sorted({product for names in candidates.values() for product in names})
        evaluator = _Evaluator(lookup.records_for_products(products) if products else {})
        findings: list[Finding] = []
        for (pname, version), members in groups.items():
            for cve_id, hit in evaluator.package_hits(candidates[pname], version):
                findings.extend(
                    Finding(
                        package=package,
                        cve_id=cve_id,
                        criteria=hit.criteria,
                        version_range=hit.version_range,
                        mapping="heuristic",
                        confidence=Confidence.HIGH,
                        source=hit.source,
                    )
                    for package in members
                )
        return findings
