"""The accuracy harness on drawn cases (issue #13): precision and recall on pairs drawn at
random from a scan of every nixpkgs attribute, judged against their records.

``drawn_cases.toml`` was drawn by ``tests/accuracy/draw.py`` from three populations (default
findings, uncertain findings, vulnix's findings that nix-audit lacked) and judged by reading
the records alone. The bars hold on the cases as drawn and scaled to their populations.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nix_audit.advisories.index import AdvisoryIndex
from nix_audit.matching.vendor_matcher import VendorAwareMatcher
from tests.accuracy.cases import AccuracyCase, load_cases, load_population
from tests.accuracy.harness import Score, score, weighted

DRAWN_CASES = Path(__file__).with_name("drawn_cases.toml")
PRECISION_BAR = 0.97
RECALL_BAR = 0.95


@pytest.fixture(scope="module")
def cases() -> list[AccuracyCase]:
    return load_cases(DRAWN_CASES)


@pytest.fixture(scope="module")
def result(cve_list_index: AdvisoryIndex, cases: list[AccuracyCase]) -> Score:
    return score(VendorAwareMatcher(), cases, cve_list_index)


def test_the_drawn_set_is_large_enough_and_covers_every_population(
    cases: list[AccuracyCase],
) -> None:
    strata = {case.stratum for case in cases}
    assert len(cases) >= 250
    assert strata == set(load_population(DRAWN_CASES)) == {"default", "uncertain", "vulnix"}
    assert len({(case.attribute, case.cve) for case in cases}) == len(cases)


def test_vendor_aware_matcher_meets_the_bars_on_drawn_cases(result: Score) -> None:
    report = "\n".join([result.summary(), *result.wrong])
    print(report)
    assert result.precision >= PRECISION_BAR, report
    assert result.recall >= RECALL_BAR, report


def test_the_bars_hold_scaled_to_the_populations(result: Score, cases: list[AccuracyCase]) -> None:
    scaled = weighted(result, cases, load_population(DRAWN_CASES))
    assert scaled.precision >= PRECISION_BAR, scaled.summary()
    assert scaled.recall >= RECALL_BAR, scaled.summary()
