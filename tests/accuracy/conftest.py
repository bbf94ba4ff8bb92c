"""The index the accuracy tests on the CVE List share: the NVD corpus and ``shared/cve5``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nix_audit.advisories.index import AdvisoryIndex
from tests.corpus import build_cve_list_corpus_db


@pytest.fixture(scope="module")
def cve_list_index(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AdvisoryIndex]:
    db = build_cve_list_corpus_db(shared_data, tmp_path_factory.getbasetemp())
    with AdvisoryIndex(db / "index.sqlite") as opened:
        yield opened
