"""Issue #13: the mapping table knows every vendor the NVD files a table product under.

A program often has several vendors over the years (``fuse:fuse``, ``fuse_project:fuse``,
``libfuse_project:libfuse``), and an entry that lists only some of them silently misses the
CVEs filed under the others. Every vendor the NVD corpus uses for a product name of an entry
is listed in the entry or excluded with a reason (another program of the same name).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nix_audit.errors import AdvisoryError
from nix_audit.matching.mapping_table import MappingEntry, default_table, parse_mapping_table
from tests.corpus import build_corpus_db


@pytest.fixture(scope="module")
def nvd_vendors(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Product -> the vendors of its vulnerable entries in the NVD corpus."""
    db = build_corpus_db(shared_data, tmp_path_factory.getbasetemp()) / "index.sqlite"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT DISTINCT product, vendor FROM product").fetchall()
    vendors: dict[str, set[str]] = {}
    for product, vendor in rows:
        vendors.setdefault(product, set()).add(vendor)
    return vendors


def _gaps(entry: MappingEntry, vendors: dict[str, set[str]]) -> list[str]:
    known = {(p.vendor, p.product) for p in entry.products}
    known |= {(p.vendor, p.product) for p, _ in entry.excluded}
    return [
        f"{(entry.names or (entry.pattern,))[0]}: {vendor}:{product}"
        for product in sorted({p.product for p in entry.products})
        for vendor in sorted(vendors.get(product, ()))
        if (vendor, product) not in known
    ]


def test_every_vendor_of_a_table_product_is_listed_or_excluded(
    nvd_vendors: dict[str, set[str]],
) -> None:
    gaps = [gap for entry in default_table().entries for gap in _gaps(entry, nvd_vendors)]
    assert not gaps, f"{len(gaps)} vendors neither listed nor excluded: {gaps[:30]}"


def test_the_named_gaps_of_the_issue_are_closed() -> None:
    table = default_table()
    fuse = table.lookup("fuse")
    assert fuse is not None and "fuse" in {p.vendor for p in fuse.products}
    patch = table.lookup("patch")  # GNU patch's store path; gnupatch is the attribute
    assert patch is not None and {str(p) for p in patch.products} == {"a:gnu:patch"}


def test_exclusions_need_a_product_and_a_reason() -> None:
    good = parse_mapping_table(
        "[[entry]]\nnix = ['fuse']\ncpe = ['a:fuse:fuse']\n"
        "exclude = [['redhat:fuse', 'Red Hat Fuse, an integration platform']]\n"
    )
    assert [(str(p), why) for p, why in good.entries[0].excluded] == [
        ("a:redhat:fuse", "Red Hat Fuse, an integration platform")
    ]
    for bad in ("[['redhat:fuse']]", "[['nonsense', 'x']]", "'redhat:fuse'"):
        with pytest.raises(AdvisoryError, match="exclude"):
            parse_mapping_table(f"[[entry]]\nnix = ['f']\ncpe = ['a:f:f']\nexclude = {bad}\n")
