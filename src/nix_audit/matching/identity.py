"""Which CPE products a Nix package is, where that knowledge comes from, and how sure it is.

Evidence, strongest first (issue #4):

* ``exact``: CPE names the input carries (``meta.identifiers.cpe`` of packages.json, an SBOM);
  only their part:vendor:product are matched.
* ``table``: a reviewed entry of the curated mapping table (``mapping_table``); only its
  products are matched. A package from a language registry (a Hackage URL, a ``python3.13-``
  prefix) is looked up among that language's entries only: ``zlib`` from Hackage is not
  the C library.
* ``url`` and ``heuristic``: the name variants of ``candidates`` (plus the repository the
  source URL names), any vendor. Each hit is then judged by its vendor: one the source URL
  names (a GitHub owner, ``gnu`` for ``ftp.gnu.org``) makes a ``url`` finding; one the name
  itself names (``zlib:zlib``, ``foo_project:foo``) a ``heuristic`` finding; both with high
  confidence. Any other vendor, or any hit for a registry library that is not marked for its
  language, is low confidence: a bare product name with an unknown vendor is no finding
  (nixpkgs' Go tools, TeX and Haskell names collide with unrelated products).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from nix_audit.errors import AdvisoryError
from nix_audit.matching.candidates import language_prefix, product_candidates, strip_suffixes
from nix_audit.matching.cpe import parse_cpe
from nix_audit.matching.ecosystem import package_set
from nix_audit.matching.mapping_table import (
    CpeProduct,
    MappingEntry,
    MappingTable,
    default_table,
)
from nix_audit.matching.scope import APPLICATION, ProductScope, criteria_vendor
from nix_audit.matching.url_evidence import ECOSYSTEM_LANGUAGES, url_evidence
from nix_audit.models import Confidence, Package

__all__ = ["EXACT", "HEURISTIC", "TABLE", "URL", "Identity", "identify"]

EXACT = "exact"
TABLE = "table"
URL = "url"
HEURISTIC = "heuristic"

# The table's ecosystem key for each registry (entries are written per language).
_TABLE_ECOSYSTEM = {
    "pypi": "python",
    "cpan": "perl",
    "rubygems": "ruby",
    "hackage": "haskell",
    "npm": "node.js",
    "crates": "rust",
    "luarocks": "lua",
    "texlive": "texlive",
}


@dataclass(frozen=True, slots=True)
class Identity:
    """A package as CPE products: per product its ``ProductScope``, and how to judge hits."""

    source: str
    scopes: Mapping[str, ProductScope]
    name_vendors: frozenset[str] = frozenset()
    url_vendors: frozenset[str] = frozenset()
    ecosystem: str | None = None
    # The table entry's rewrite of Nix versions into the NVD's (``MappingEntry.version_rewrite``)
    version_rewrite: tuple[str, str] | None = None

    def upstream_version(self, version: str) -> str:
        """The version to evaluate ranges with (see ``MappingEntry.upstream_version``)."""
        if self.version_rewrite is None:
            return version
        return re.sub(*self.version_rewrite, version)

    def judge(self, criteria: str) -> tuple[str, Confidence]:
        """The mapping source and confidence of a hit by ``criteria`` (see module docstring)."""
        if self.source in (EXACT, TABLE):
            return self.source, Confidence.HIGH
        facts = criteria_vendor(criteria)
        vendor, target = facts if facts is not None else ("", "")
        if vendor in self.url_vendors:
            return URL, Confidence.HIGH
        if self.ecosystem is not None:
            languages = ECOSYSTEM_LANGUAGES.get(self.ecosystem, frozenset())
            known = vendor in languages or target in languages
            return HEURISTIC, Confidence.HIGH if known else Confidence.LOW
        if vendor in self.name_vendors:
            return HEURISTIC, Confidence.HIGH
        return HEURISTIC, Confidence.LOW


def _scopes(products: Iterable[CpeProduct]) -> dict[str, ProductScope]:
    """Products grouped by product name: the vendors and parts allowed for each."""
    grouped: dict[str, list[CpeProduct]] = {}
    for product in products:
        grouped.setdefault(product.product, []).append(product)
    scopes: dict[str, ProductScope] = {}
    for name, items in grouped.items():
        targets = [p.target_sw for p in items if p.target_sw is not None]
        scopes[name] = ProductScope(
            vendors=frozenset(p.vendor for p in items),
            parts=frozenset(p.part for p in items),
            target_sw=frozenset().union(*targets) if targets else None,
        )
    return scopes


def _exact(cpes: tuple[str, ...]) -> Identity | None:
    """The identity the input's CPE names give, or None when none of them parses."""
    products: list[CpeProduct] = []
    for text in cpes:
        try:
            cpe = parse_cpe(text)
        except AdvisoryError:
            continue  # a malformed CPE in an SBOM is no evidence; fall back to the name
        products.append(CpeProduct(cpe.part, cpe.vendor, cpe.product))
    return Identity(EXACT, _scopes(products)) if products else None


def _table_entry(
    table: MappingTable, pname: str, language: str | None, base: str, ecosystem: str | None
) -> MappingEntry | None:
    """The table entry for this package, or None."""
    if ecosystem is None:
        names = (pname, strip_suffixes(pname))
        key: str | None = None
    else:
        names = (base, strip_suffixes(base))
        key = language if language is not None else _TABLE_ECOSYSTEM.get(ecosystem, ecosystem)
    for name in names:
        entry = table.lookup(name, key)
        if entry is not None:
            return entry
    return None


def _name_vendors(candidates: Iterable[str]) -> frozenset[str]:
    """Vendors the name itself names: the product, ``<product>_project`` (NVD habits)."""
    vendors: set[str] = set()
    for name in candidates:
        vendors.update((name, f"{name}_project"))
    return frozenset(vendors)


@lru_cache(maxsize=1 << 14)
def _identify(
    pname: str,
    version: str,
    cpes: tuple[str, ...],
    urls: tuple[str, ...],
    package_set: str | None,
    table: MappingTable,
) -> Identity:
    if cpes:
        exact = _exact(cpes)
        if exact is not None:
            return exact
    language, base = language_prefix(pname)
    language = language or package_set
    evidence = url_evidence(urls, version)
    ecosystem = evidence.ecosystem or language
    entry = _table_entry(table, pname.lower(), language, base, ecosystem)
    if entry is not None:
        return Identity(
            TABLE,
            _scopes(entry.products),
            ecosystem=ecosystem,
            version_rewrite=entry.version_rewrite,
        )
    names = (*product_candidates(pname), *sorted(evidence.products))
    scope = ProductScope(vendors=None, parts=APPLICATION)
    return Identity(
        URL if evidence.vendors else HEURISTIC,
        dict.fromkeys(names, scope),
        name_vendors=_name_vendors(product_candidates(base)),
        url_vendors=evidence.vendors,
        ecosystem=ecosystem,
    )


def identify(package: Package, table: MappingTable | None = None) -> Identity:
    """The identity of ``package``: exact CPEs, else a table entry, else URL and name
    heuristics (``table`` defaults to the one shipped with nix-audit). Cached."""
    chosen = table if table is not None else default_table()
    return _identify(
        package.pname,
        package.version,
        package.cpes,
        package.source_urls,
        package_set(package.attribute, package.name),
        chosen,
    )
