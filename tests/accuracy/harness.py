"""Precision and recall of a matcher on the labelled set, with patch triage as a scan does it.

A case counts as predicted ``affected`` when the matcher reports the (package, CVE) pair
with high confidence (low-confidence findings are hidden by default, issue #4) and triage
does not mark it patched. ``affected`` is the positive class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from nix_audit.advisories.interface import AdvisoryLookup
from nix_audit.derivation.patches import cves_in_name
from nix_audit.matching.interface import Matcher
from nix_audit.models import Confidence, Finding, Package, TriageStatus
from nix_audit.triage.apply import triage
from nix_audit.triage.whitelist import Whitelist
from tests.accuracy.cases import AccuracyCase

__all__ = ["Score", "case_package", "score", "weighted"]


@dataclass(frozen=True)
class Score:
    """The confusion counts and the misclassified cases."""

    tp: int
    fp: int
    fn: int
    tn: int
    wrong: tuple[str, ...] = field(default=())
    predicted: frozenset[int] = frozenset()

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def summary(self) -> str:
        return (
            f"tp {self.tp} fp {self.fp} fn {self.fn} tn {self.tn} "
            f"precision {self.precision:.4f} recall {self.recall:.4f}"
        )


def case_package(case: AccuracyCase) -> Package:
    """The package of a case, its patched CVEs read by the code a scan uses."""
    patched: frozenset[str] = frozenset().union(*(cves_in_name(p) for p in case.patches))
    return case.to_package(patched)


def _reported(findings: Sequence[Finding]) -> set[tuple[Package, str]]:
    """(package, CVE) pairs a default report shows: high confidence, not patched."""
    high = [f for f in findings if f.confidence is Confidence.HIGH]
    triaged = triage(high, {}, Whitelist(), today=date(2026, 3, 15))
    return {
        (t.finding.package, t.finding.cve_id) for t in triaged if t.status is TriageStatus.AFFECTED
    }


def _kind(case: AccuracyCase, predicted: bool) -> str:
    """``tp``, ``fp``, ``fn`` or ``tn``: ``affected`` is the positive class."""
    if case.affected:
        return "tp" if predicted else "fn"
    return "fp" if predicted else "tn"


def score(matcher: Matcher, cases: Sequence[AccuracyCase], lookup: AdvisoryLookup) -> Score:
    """Run ``matcher`` over every case's package and compare with the labels."""
    packages = [case_package(case) for case in cases]
    reported = _reported(matcher.match(packages, lookup))
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    wrong: list[str] = []
    predicted: set[int] = set()
    for case, package in zip(cases, packages, strict=True):
        hit = (package, case.cve) in reported
        if hit:
            predicted.add(case.index)
        kind = _kind(case, hit)
        counts[kind] += 1
        if kind in ("fp", "fn"):
            label = case.attribute or case.name
            wrong.append(f"{kind.upper()} case {case.index} {label} {case.cve}: {case.reason}")
    return Score(**counts, wrong=tuple(wrong), predicted=frozenset(predicted))


def weighted(result: Score, cases: Sequence[AccuracyCase], population: dict[str, int]) -> Score:
    """The confusion counts of a drawn set scaled to the populations it was drawn from
    (issue #13): each case of a stratum stands for ``population / drawn`` pairs, so strata
    drawn at different rates add up as the scan's findings do. Counts are rounded."""
    drawn: dict[str, int] = {}
    for case in cases:
        drawn[case.stratum or ""] = drawn.get(case.stratum or "", 0) + 1
    counts = {"tp": 0.0, "fp": 0.0, "fn": 0.0, "tn": 0.0}
    for case in cases:
        stratum = case.stratum or ""
        weight = population[stratum] / drawn[stratum]
        hit = case.index in result.predicted
        kind = _kind(case, hit)
        counts[kind] += weight
    tp, fp, fn, tn = (round(counts[kind]) for kind in ("tp", "fp", "fn", "tn"))
    return Score(tp=tp, fp=fp, fn=fn, tn=tn)
