"""The accuracy harness (issue #4): precision and recall on the labelled set, in the suite.

Runs the default matcher of scans (``VendorAwareMatcher``) and patch triage over every
labelled case against an index of the whole shared NVD corpus, and fails below the bars.
The name-only ``NameMatcher`` is measured too, as the baseline the bars must beat.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nix_audit.advisories.index import AdvisoryIndex
from nix_audit.matching.name_matcher import NameMatcher
from nix_audit.matching.vendor_matcher import VendorAwareMatcher
from tests.accuracy.cases import load_cases
from tests.accuracy.harness import score
from tests.corpus import build_corpus_db

PRECISION_BAR = 0.97
RECALL_BAR = 0.97


@pytest.fixture(scope="module")
def index(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdvisoryIndex]:
    db = build_corpus_db(shared_data, tmp_path_factory.getbasetemp())
    with AdvisoryIndex(db / "index.sqlite") as opened:
        yield opened


def test_vendor_aware_matcher_meets_the_bars(index: AdvisoryIndex) -> None:
    result = score(VendorAwareMatcher(), load_cases(), index)
    report = "\n".join([result.summary(), *result.wrong])
    assert result.precision >= PRECISION_BAR, report
    assert result.recall >= RECALL_BAR, report


def test_name_matcher_baseline_is_below_the_vendor_aware_one(index: AdvisoryIndex) -> None:
    cases = load_cases()
    baseline = score(NameMatcher(), cases, index)
    vendor = score(VendorAwareMatcher(), cases, index)
    assert baseline.precision < vendor.precision, baseline.summary()
    # No true positive of the name-only matcher is lost by the vendor-aware one.
    affected = {case.index for case in cases if case.affected}
    lost = (baseline.predicted & affected) - vendor.predicted
    assert not lost, sorted(lost)
